"""Xero's answers as they really come (issue 7, part A), through the sandbox over real HTTP.

Short pages, HTML or text or empty error bodies from Xero's front end, 200s whose JSON is cut
short, and whose fault a refusal is: each ends in the right state and one plain line.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import httpx
import pytest
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.chasing.ports import ConnectionLost
from bot.chasing.receivables_service import open_receivables
from bot.chasing.sync import CONTACTS, INVOICES
from bot.chasing.timezones import org_zone
from bot.cli.app import app
from bot.cli.sync import run_sync
from bot.errors import RetryLater
from bot.messages import TERMINAL
from storage import repositories
from storage.db import session_scope
from storage.models import AuditEntry, ConnectionStatus, Contact, Invoice, XeroConnection
from tests.connect_helpers import age_tokens
from tests.test_sync_cli import env_for

HTML_MARKERS = ("<html", "<!doctype", "<h1", "<script")


def receivables(world, tenant_id: str) -> int:
    """What GET /Invoices?where=Type=="ACCREC" lists: Xero hides ARCHIVED by default."""
    return sum(1 for inv in world.ledger.iter_invoices(tenant_id)
               if inv.type == "ACCREC" and inv.status != "ARCHIVED")


def stored(world, model) -> int:
    with session_scope(world.ctx.session_factory) as session:
        return session.scalar(select(func.count()).select_from(model))


def state(world, entity):
    with session_scope(world.ctx.session_factory) as session:
        row = repositories.get_sync_state(session, world.connection_id, entity)
        session.expunge(row)
        return row


def status(world, connection_id=None):
    with session_scope(world.ctx.session_factory) as session:
        return session.get(XeroConnection, connection_id or world.connection_id).status


def fault(world, **body) -> None:
    """Queue a sandbox fault (World.control's own `path` argument is the endpoint's)."""
    httpx.post(f"{world.server.url}/_sandbox/faults", json=body).raise_for_status()


def no_html(text: str | None) -> bool:
    lowered = (text or "").lower()
    return not any(marker in lowered for marker in HTML_MARKERS)


# A.1 Paging follows Xero's pagination block ------------------------------------------------


def test_sync_reads_every_row_when_xero_serves_100_a_page(make_world):
    # Xero's default page is 100 rows, whatever pageSize we ask for: the pagination block
    # (pageCount, itemCount) says how many pages there are, not the page's fullness.
    world = make_world(contacts=250, invoices=700, max_page_size=100)
    tenant = world.tenant_id()
    expected_invoices = receivables(world, tenant)

    report = world.ctx.sync_service().sync(world.connection_id)

    assert report.outcome == "ok", report.reason
    assert report.contacts == 250 == stored(world, Contact)
    assert report.invoices == expected_invoices == stored(world, Invoice)
    invoice_pages = -(-expected_invoices // 100)
    assert report.api_calls == 1 + 3 + invoice_pages  # organisation, contacts, invoices
    for entity in (CONTACTS, INVOICES):
        assert state(world, entity).high_water_mark is not None

    again = world.ctx.sync_service().sync(world.connection_id, full=True)
    assert (again.contacts, again.invoices) == (250, expected_invoices)


# A.2 Error bodies that are not Xero's JSON --------------------------------------------------


@pytest.mark.parametrize(("kind", "code"), [("html", 502), ("text", 503), ("empty", 500),
                                            ("html", 400), ("empty", 400)])
def test_an_edge_answer_during_sync_is_retried_then_says_retry_later_in_one_plain_line(
    make_world, caplog, kind, code
):
    world = make_world(contacts=5, invoices=20)
    # Five answers: every attempt the client makes at the first call.
    fault(world, kind=kind, status=code, count=5)
    caplog.set_level(logging.DEBUG)

    report = world.ctx.sync_service().sync(world.connection_id)

    assert report.outcome == "failed" and report.retry_later and report.code == "retry_later"
    said = report.text(TERMINAL)
    assert "retry later" in said and "\n" not in said and no_html(said)
    assert status(world) == ConnectionStatus.CONNECTED
    assert world.notifier.of_type(ConnectionLost) == []
    for entity in (CONTACTS, INVOICES):
        row = state(world, entity)
        assert no_html(row.last_error) and row.in_progress_since is None
    assert all(no_html(record.getMessage()) for record in caplog.records)
    assert world.control("GET", "/stats")["faults_injected"] == {kind: 5}


def test_one_edge_answer_is_retried_and_the_sync_succeeds(make_world):
    world = make_world(contacts=5, invoices=20)
    fault(world, kind="html", status=502, count=1)

    report = world.ctx.sync_service().sync(world.connection_id)

    assert report.outcome == "ok" and report.invoices == receivables(world, world.tenant_id())


def first_open_invoice(world) -> Invoice:
    with session_scope(world.ctx.session_factory) as session:
        invoice = next(
            i for i in open_receivables(session, world.connection_id)
            if i.amount_paid == 0 and i.amount_credited == 0
        )
        session.expunge(invoice)
        return invoice


@pytest.mark.parametrize(("kind", "code"), [("html", 400), ("text", 400), ("empty", 400),
                                            ("html", 503)])
def test_an_edge_answer_to_an_expected_date_is_never_read_as_xero_refusing_it(
    make_world, caplog, kind, code
):
    world = make_world(contacts=5, invoices=40)
    world.ctx.sync_service().sync(world.connection_id)
    invoice = first_open_invoice(world)
    when = invoice.due_date + timedelta(days=20)
    fault(world, kind=kind, status=code, count=5, path="/Invoices")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(RetryLater) as caught:
        world.ctx.expected_dates().set(world.connection_id, invoice.id, when, "U1")

    assert "retry later" in caught.value.text(TERMINAL) and no_html(caught.value.text(TERMINAL))
    with session_scope(world.ctx.session_factory) as session:
        row = session.get(Invoice, invoice.id)
        # Not "held locally because Xero refused": nothing changed at all.
        assert row.expected_payment_date == invoice.expected_payment_date
        assert row.expected_payment_date_reason is None
        audit = [e.detail for e in session.scalars(select(AuditEntry))]
    assert all(no_html(str(detail)) for detail in audit)
    assert all(no_html(record.getMessage()) for record in caplog.records)

    # Once Xero answers properly again, the same write goes to Xero.
    outcome = world.ctx.expected_dates().set(world.connection_id, invoice.id, when, "U1")
    assert outcome.held_in == "xero"


# A.3 A 200 whose JSON is cut short ----------------------------------------------------------


def test_a_200_with_json_cut_short_is_retried_like_a_5xx(make_world):
    world = make_world(contacts=5, invoices=20)
    fault(world, kind="truncated", count=2, path="/Invoices")

    report = world.ctx.sync_service().sync(world.connection_id)

    assert report.outcome == "ok" and report.invoices == receivables(world, world.tenant_id())
    assert world.control("GET", "/stats")["faults_injected"] == {"truncated": 2}


def test_chaser_sync_with_invoices_json_cut_short_fails_cleanly_for_that_entity(make_world):
    world = make_world(orgs=2, contacts=6, invoices=30)
    name = world.ledger.organisations[0].name
    first = world.connection_id
    fault(world, kind="truncated", count=5, path="/Invoices", tenant_id=world.tenant_id(first))
    out, err = io.StringIO(), io.StringIO()

    # The `chaser sync` command itself, on services whose retries do not really wait.
    code = run_sync(world.ctx.settings, Console(file=out, width=120),
                    err_console=Console(file=err, width=200), deps=world.ctx)

    assert code == 1
    assert "Traceback" not in out.getvalue() + err.getvalue()
    assert err.getvalue().strip().splitlines() == [
        f"{name} failed: Xero sent an answer chaser-bot could not read; retry later."]
    # The summary names the organisation and counts what was stored: its contacts.
    row = next(line for line in out.getvalue().splitlines() if name in line and "│" in line)
    assert [cell.strip() for cell in row.split("│")][1:5] == [name, "failed", "6", "0"]
    with session_scope(world.ctx.session_factory) as session:
        contacts = repositories.get_sync_state(session, first, CONTACTS)
        invoices = repositories.get_sync_state(session, first, INVOICES)
        assert contacts.last_error is None and contacts.high_water_mark is not None
        assert invoices.last_error and "could not read" in invoices.last_error
        assert invoices.in_progress_since is None and invoices.high_water_mark is None


# A.5 Whose fault it is ------------------------------------------------------------------------


def test_invalid_client_is_a_configuration_error_and_no_connection_changes_state(
    make_world, migrated_db, tmp_path
):
    world = make_world(orgs=2, contacts=4, invoices=10)
    age_tokens(world.ctx, world.ctx.clock() + timedelta(minutes=1))  # every one due a refresh
    env = {**env_for(world, migrated_db, tmp_path), "XERO_CLIENT_SECRET": "a-typo"}

    result = CliRunner().invoke(app, ["sync"], env=env)

    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()  # our app's fault: one line, not one per org
    assert "XERO_CLIENT_ID / XERO_CLIENT_SECRET" in line and "`chaser doctor`" in line
    assert "needs reconnecting" not in line
    assert {status(world, c) for c in world.connection_ids} == {ConnectionStatus.CONNECTED}
    assert world.notifier.of_type(ConnectionLost) == []
    # With the right secret the very same connections sync again.
    fixed = CliRunner().invoke(app, ["sync"], env=env_for(world, migrated_db, tmp_path))
    assert fixed.exit_code == 0, fixed.output


def test_an_organisation_disconnected_on_purpose_is_left_out_quietly(
    make_world, migrated_db, tmp_path
):
    world = make_world(orgs=2, contacts=4, invoices=10)
    first = world.connection_ids[0]
    gone = world.ledger.organisations[0].name
    world.ctx.connect_service().disconnect(first, actor="cli")

    result = CliRunner().invoke(app, ["sync"], env=env_for(world, migrated_db, tmp_path))

    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == ""
    assert gone not in result.stdout
    assert world.ledger.organisations[1].name in result.stdout


def test_a_revoked_organisation_gives_one_line_naming_it_why_and_the_fix(
    make_world, migrated_db, tmp_path
):
    world = make_world(orgs=2, contacts=4, invoices=10)
    name = world.ledger.organisations[0].name
    world.control("POST", f"/tenants/{world.tenant_id()}/revoke")
    env = env_for(world, migrated_db, tmp_path)

    for _ in range(2):  # found out, then skipped: the same one line each time
        result = CliRunner().invoke(app, ["sync"], env=env)
        assert result.exit_code == 1 and "Traceback" not in result.output
        (line,) = result.stderr.strip().splitlines()
        assert name in line
        assert "the organisation was disconnected from chaser-bot in Xero" in line
        assert "`chaser connect`" in line and "/chaser" not in line
    assert status(world) == ConnectionStatus.NEEDS_RECONNECT


def test_an_unknown_xero_timezone_is_logged_once_naming_it(make_world, caplog):
    world = make_world(contacts=3, invoices=5)
    world.ledger.organisation(world.tenant_id()).timezone = "OLYMPUSMONSSTANDARDTIME"
    caplog.set_level(logging.WARNING, logger="bot.chasing.timezones")
    org_zone.cache_clear()  # "once" per process: an earlier parametrization may have said it

    world.ctx.sync_service().sync(world.connection_id, full=True)
    world.ctx.sync_service().sync(world.connection_id, full=True)
    org_zone("OLYMPUSMONSSTANDARDTIME")

    said = [r.getMessage() for r in caplog.records if "OLYMPUSMONSSTANDARDTIME" in r.getMessage()]
    assert len(said) == 1 and "UTC" in said[0]
