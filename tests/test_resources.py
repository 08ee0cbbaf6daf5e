"""A long-running process does not leak: sockets and files opened for Xero work are closed.

`chaser serve` runs syncs, write-backs and connects for weeks in one process. Each opens an
HTTP client; if one is dropped instead of closed, its socket lingers until the garbage
collector finds it (Python then warns "unclosed <socket…>"), and with many jobs the process
runs out of file descriptors.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest

from bot.chasing.receivables_service import open_receivables
from bot.chasing.xero_edits import expected_date_refusal, lock_date
from bot.cli.demo import connect_unattended
from bot.deps import build_context
from storage import repositories
from storage.db import session_scope
from tests.fixtures.sync_world import VirtualTimePacers

SYNCS = 300
WRITE_BACKS = 20
CONNECTS = 5


def open_descriptors() -> Counter[str]:
    """This process's open file descriptors by kind: socket, pipe, anon_inode, or file."""
    kinds: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, closed since
            continue
        kinds[target.split(":")[0] if target.endswith("]") else "file"] += 1
    return kinds


def settled(before: Counter[str]) -> Counter[str]:
    """Descriptors now, once the sandbox's own side of closed connections has closed too.

    The sandbox serves in a thread of this process and closes its end of a connection
    shortly after our end closes: wait for that (bounded), not for anything of ours.
    """
    for _ in range(50):
        now = open_descriptors()
        if now["socket"] <= before["socket"]:
            return now
        time.sleep(0.05)
    return open_descriptors()


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """Leave to reference counting alone what gets closed: a client dropped in a reference
    cycle then stays open and is counted, instead of being tidied by a lucky collection."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def clean_invoice_id(ctx, connection_id: int) -> int:
    """An open invoice Xero accepts an expected date for, by the app's own rule."""
    with session_scope(ctx.session_factory, read_only=True) as session:
        connection = repositories.get_connection(session, connection_id)
        lock = lock_date(connection.period_lock_date, connection.end_of_year_lock_date)
        return next(
            invoice.id
            for invoice in open_receivables(session, connection_id)
            if expected_date_refusal(invoice, lock) is None
        )


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only: what is counted here is the HTTP clients, and one database shows them."""
    return f"sqlite:///{tmp_path / 'chaser.sqlite3'}"


@pytest.mark.timeout(600)
def test_three_hundred_syncs_with_write_backs_and_connects_leave_no_socket_or_file_open(
    make_world,
):
    world = make_world(contacts=4, invoices=30)
    # Xero's 55 calls a minute are counted on a clock that waiting moves, not waited for.
    ctx = dataclasses.replace(world.ctx, pacers=VirtualTimePacers())
    sync, expected_dates = ctx.sync_service(), ctx.expected_dates()
    connection_id = world.connection_id
    # Warm up: the database pool, the sandbox's listener and the OAuth client open theirs.
    for _ in range(3):
        assert sync.sync(connection_id).outcome == "ok"
    connect_unattended(ctx)
    invoice_id = clean_invoice_id(ctx, connection_id)
    before = open_descriptors()

    with warnings.catch_warnings(record=True) as caught, no_garbage_collection():
        warnings.simplefilter("always", ResourceWarning)
        for number in range(SYNCS):
            report = sync.sync(connection_id, full=number % 100 == 0)
            assert report.outcome == "ok", report.reason
            if number % (SYNCS // WRITE_BACKS) == 0:
                when = date.today() + timedelta(days=1 + number % 30)
                outcome = expected_dates.set(connection_id, invoice_id, when, "U1")
                assert outcome.held_in == "xero"
            if number % (SYNCS // CONNECTS) == 0:
                assert connect_unattended(ctx).connected
        during = open_descriptors()
        gc.collect()  # anything still unclosed is finalised now, and warns
    after = settled(before)

    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
    assert during["socket"] <= before["socket"] + 2  # at most the last exchange's two ends
    assert after["socket"] <= before["socket"]
    assert sum(after.values()) <= sum(before.values())


def test_closing_the_context_closes_its_oauth_client_and_its_database_files(
    make_world, migrated_db
):
    world = make_world(contacts=4, invoices=10)
    # SQLite holds a closed connection's file open while another connection of this process
    # has the same file open (closing it would drop that one's POSIX locks): close them all.
    world.ctx.close()
    before = open_descriptors()
    ctx = build_context(world.ctx.settings, database_url=migrated_db)
    assert connect_unattended(ctx).connected  # the OAuth client's connection to Xero
    assert ctx.sync_service().sync(world.connection_id).outcome == "ok"  # the pool's files
    assert open_descriptors() != before

    ctx.close()
    after = settled(before)
    assert after["socket"] <= before["socket"]
    assert after["file"] <= before["file"]
