"""Many syncs writing one database at once: 3 processes and 8 threads of full syncs.

SQLite in WAL mode lets only one writer in at a time; a transaction that read first and then
writes cannot wait for the lock (its snapshot may be stale), so without BEGIN IMMEDIATE it
fails at once with "database is locked" whatever the busy timeout. PostgreSQL lets the
writers overlap, so check-then-insert steps must not insert the same row twice.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.chasing.sync import SyncReport
from storage.db import session_scope
from storage.models import Contact, ContactEmail, Invoice, SyncState, XeroConnection
from tests.fixtures.sync_world import VirtualTimePacers, World, no_sleep

PROCESSES = 3
THREADS = 8
ROUNDS = 2  # full syncs of every organisation per process and per thread


def summary(report: SyncReport) -> tuple[int, str, str | None, int, int]:
    return (report.connection_id, report.outcome, report.reason, report.invoices,
            report.contacts)


def sync_in_child(settings: Any, database_url: str, start: Any, answers: Any) -> None:
    """Child process: its own context (engine, pool, pacers), then ROUNDS full syncs."""
    from bot.deps import build_context

    ctx = build_context(settings, database_url=database_url, retry_sleep=no_sleep)
    service = dataclasses.replace(ctx, pacers=VirtualTimePacers()).sync_service()
    try:
        start.wait(timeout=60)
        for _ in range(ROUNDS):
            for report in service.sync_all(full=True):
                answers.put(summary(report))
    except Exception as exc:  # reported to the parent, which fails the test with it
        answers.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        answers.put("done")


def xero_emails(contact: Any) -> set[str]:
    """The addresses Xero would send a contact's invoices to (see test_sync)."""
    persons = {p["EmailAddress"] for p in contact.persons
               if p.get("IncludeInEmails") and p.get("EmailAddress")}
    return {e.lower() for e in persons | ({contact.email} if contact.email else set())}


def expected_rows(world: World) -> dict[int, tuple[dict, dict]]:
    """Per connection: {xero invoice id: amount due} and {xero contact id: emails} in Xero."""
    wanted = {}
    for connection_id in world.connection_ids:
        tenant = world.tenant_id(connection_id)
        invoices = {
            inv.invoice_id: inv.amount_due
            for inv in world.ledger.iter_invoices(tenant)
            if inv.type == "ACCREC" and inv.status != "ARCHIVED"
        }
        contacts = {c.contact_id: xero_emails(c) for c in world.ledger.contacts(tenant)}
        wanted[connection_id] = (invoices, contacts)
    return wanted


def stored_rows(world: World) -> dict[int, tuple[dict, dict]]:
    with session_scope(world.ctx.session_factory) as session:
        stored = {}
        for connection_id in world.connection_ids:
            invoices = dict(
                session.execute(
                    select(Invoice.xero_invoice_id, Invoice.amount_due).where(
                        Invoice.connection_id == connection_id
                    )
                ).all()
            )
            contacts: dict[str, set[str]] = {
                xero_id: set()
                for xero_id in session.scalars(
                    select(Contact.xero_contact_id).where(Contact.connection_id == connection_id)
                )
            }
            emails = session.execute(
                select(Contact.xero_contact_id, ContactEmail.email)
                .join(ContactEmail, ContactEmail.contact_id == Contact.id)
                .where(Contact.connection_id == connection_id)
            )
            for xero_id, email in emails:
                contacts[xero_id].add(email.lower())
            stored[connection_id] = (invoices, contacts)
        return stored


def row_counts(world: World) -> dict[str, int]:
    with session_scope(world.ctx.session_factory) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Contact, ContactEmail, Invoice, SyncState, XeroConnection)
        }


@pytest.mark.timeout(300)
def test_three_processes_and_eight_threads_syncing_at_once_all_succeed_without_duplicates(
    make_world, migrated_db: str, tmp_path: Path
) -> None:
    world = make_world(orgs=2, contacts=40, invoices=200)
    # Each process has its own pacers, as separate `chaser sync` runs would; the threads share
    # this one's. Xero's 55 calls a minute are counted, not waited for.
    service = dataclasses.replace(world.ctx, pacers=VirtualTimePacers()).sync_service()
    spawn = multiprocessing.get_context("spawn")
    # One barrier for processes and threads alike: every writer starts at the same moment.
    start, answers = spawn.Barrier(PROCESSES + THREADS), spawn.Queue()
    processes = [
        spawn.Process(target=sync_in_child, args=(world.ctx.settings, migrated_db, start, answers))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=60)
            for _ in range(ROUNDS):
                results.extend(summary(report) for report in service.sync_all(full=True))
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    done = 0
    while done < PROCESSES:
        answer = answers.get(timeout=240)
        if answer == "done":
            done += 1
        else:
            results.append(answer)
    for thread in threads:
        thread.join(timeout=240)
    for process in processes:
        process.join(timeout=30)

    assert errors == []
    assert [r for r in results if r[0] == "error" or r[1] != "ok"] == []
    syncs = (PROCESSES + THREADS) * ROUNDS * len(world.connection_ids)
    assert len(results) == syncs
    wanted = expected_rows(world)
    assert stored_rows(world) == wanted
    counts = row_counts(world)
    assert counts[XeroConnection.__tablename__] == len(world.connection_ids)
    assert counts[SyncState.__tablename__] == 2 * len(world.connection_ids)
    assert counts[Invoice.__tablename__] == sum(len(inv) for inv, _ in wanted.values())
    assert counts[Contact.__tablename__] == sum(len(c) for _, c in wanted.values())
    assert counts[ContactEmail.__tablename__] == sum(
        len(emails) for _, c in wanted.values() for emails in c.values()
    )
    # Each full sync reports every row it stored, so every sync's figures are the whole book.
    for connection_id, _, _, invoice_count, contact_count in results:
        invoices, contacts = wanted[connection_id]
        assert (invoice_count, contact_count) == (len(invoices), len(contacts))
    with session_scope(world.ctx.session_factory) as session:
        states = session.scalars(select(SyncState)).all()
        assert all(s.last_error is None and s.in_progress_since is None for s in states)
        assert all(s.high_water_mark is not None for s in states)
