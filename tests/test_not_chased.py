"""Open invoices not chased, counted per reason for `chaser status` and `/chaser status`, from
the same plan the chase run and `chaser chase --dry-run` use (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from bot.chasing.not_chased import not_chased
from bot.chasing.plan import plan_chase
from bot.chasing.policy import SkipReason
from bot.messages import not_chased_summary
from storage.db import session_scope
from storage.models import Contact, Invoice
from tests.chasing_world import IN_WINDOW, TODAY, make_books
from tests.fixtures.slack import SlackWorld
from tests.test_chase_cli import cli, env_for
from tests.test_slack_commands import ask, blocks_text, world  # noqa: F401


def test_counts_per_reason_are_the_plans_skips_in_the_policys_order(session_factory) -> None:
    books = make_books(session_factory)
    books.settings(minimum_chase_amount="50")
    ok = books.customer("Acme", "ap@acme.example")
    paused = books.customer("Paused Co", "ap@paused.example", chasing_paused=True)
    overdue = TODAY - timedelta(days=3)
    books.invoice(ok, "DISPUTED", overdue, disputed=True)
    books.invoice(ok, "SMALL-1", overdue, "20.00")
    books.invoice(ok, "SMALL-2", overdue, "30.00")
    books.invoice(paused, "CUSTOMER-PAUSED-1", overdue)
    books.invoice(paused, "CUSTOMER-PAUSED-2", overdue)
    books.invoice(paused, "CUSTOMER-PAUSED-3", overdue)
    books.invoice(books.customer("Silent Ltd"), "NO-EMAIL", overdue)
    books.invoice(ok, "CHASED", overdue)

    counted = not_chased(session_factory, books.connection_id, IN_WINDOW)

    plan = plan_chase(session_factory, books.connection_id, IN_WINDOW)
    assert dict(counted.by_reason) == dict(Counter(s.reason for s in plan.skipped))
    assert counted.by_reason == ((SkipReason.CUSTOMER_PAUSED, 3), (SkipReason.DISPUTED, 1),
                                 (SkipReason.BELOW_MINIMUM, 2), (SkipReason.NO_EMAIL, 1))
    assert counted.total == 7
    assert not_chased_summary(counted.labelled()) == (
        "7 open invoices (3 customer paused, 1 disputed, 2 below minimum, 1 no email)")


def test_an_organisation_chasing_everything_says_so(session_factory) -> None:
    books = make_books(session_factory)
    books.invoice(books.customer("Acme", "ap@acme.example"), "INV-1", TODAY - timedelta(days=1))
    counted = not_chased(session_factory, books.connection_id, IN_WINDOW)
    assert counted.total == 0
    assert not_chased_summary(counted.labelled()) == "every open invoice is chased"


def _pause_one_customer(session_factory) -> tuple[str, int]:
    """Pause the customer with the most open receivables; its name and that count."""
    with session_scope(session_factory) as session:
        rows = session.execute(select(Invoice.contact_id).where(
            Invoice.type == "ACCREC", Invoice.status == "AUTHORISED",
            Invoice.amount_due > 0)).scalars().all()
        contact_id, count = Counter(rows).most_common(1)[0]
        contact = session.get(Contact, contact_id)
        contact.chasing_paused = True
        return contact.name, count


def test_chaser_status_counts_what_chase_dry_run_lists(make_world, migrated_db,
                                                       tmp_path) -> None:
    books = make_world(contacts=8, invoices=60)
    env = env_for(books, migrated_db, tmp_path)
    assert cli(env, "sync").exit_code == 0
    _, paused = _pause_one_customer(books.ctx.session_factory)

    status = cli(env, "status", "--json")
    assert status.exit_code == 0, status.output
    (figures,) = json.loads(status.stdout)
    dry_run = json.loads(cli(env, "chase", "--dry-run", "--json").stdout)[0]
    listed = Counter(skipped["reason"] for skipped in dry_run["skipped"])
    assert figures["not_chased_by_reason"] == dict(listed)
    assert figures["not_chased_by_reason"]["customer_paused"] == paused
    assert figures["not_chased"] == len(dry_run["skipped"])

    shown = cli(env, "status")
    assert shown.exit_code == 0
    assert f"{paused} customer paused" in shown.stdout and "Not chased:" in shown.stdout


def test_slack_status_says_how_many_open_invoices_wont_be_chased_and_why(
    world: SlackWorld,  # noqa: F811
) -> None:
    _, paused = _pause_one_customer(world.deps.session_factory)
    (post,) = ask(world, "status")
    text = blocks_text(post)
    assert "*Not chased:*" in text and f"{paused} customer paused" in text
