"""Live from Xero, end to end over real HTTP: sandbox ledger change → signed webhook → our
/xero/webhooks → targeted fetch → the fake Slack Web API sees the alert posted once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.deps import AppDeps
from bot.slack_alerts import SlackAlertPoster
from bot.slack_clients import SlackClients
from storage.db import session_scope
from storage.models import Invoice, SlackAlert
from storage.settings import update_organisation_settings
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.webhook_world import WebhookWorld, wait_for, webhook_world

CHANNEL = "C0RECEIVABLES"


@pytest.fixture
def world(migrated_db: str, tmp_path: Path, fake_slack: FakeSlack) -> Iterator[WebhookWorld]:
    fake_slack.add_channel(CHANNEL, "receivables")
    clients = SlackClients(base_url=fake_slack.api_url, bot_token=BOT_TOKEN)

    def configure(ctx: AppDeps, connection_ids: list[int]) -> None:
        with session_scope(ctx.session_factory) as session:
            update_organisation_settings(session, connection_ids[0], by="test",
                                         digest_channel_id=CHANNEL, alert_overdue_over=None)

    with webhook_world(migrated_db, tmp_path, poster=SlackAlertPoster(clients.for_team),
                       configure=configure) as running:
        yield running


def overdue_invoices(world: WebhookWorld) -> list[Invoice]:
    today = datetime.now(UTC).date()
    with session_scope(world.ctx.session_factory) as session:
        rows = list(session.scalars(select(Invoice).where(
            Invoice.connection_id == world.connection_id, Invoice.status == "AUTHORISED",
            Invoice.amount_due > 0, Invoice.amount_paid == 0,
            Invoice.due_date < today - timedelta(days=2)).order_by(Invoice.id)))
        for row in rows:
            session.expunge(row)
        return rows


def posts(fake: FakeSlack) -> list:
    return fake.calls_to("chat.postMessage", ok=True)


def parent_ts(fake: FakeSlack) -> str:
    """The ts of the one top-level message the fake holds (the customer's parent)."""
    [ts] = [ts for (channel, ts), m in fake.messages.items()
            if channel == CHANNEL and m["thread_ts"] is None]
    return ts


def pay_in_full(world: WebhookWorld, invoice: Invoice) -> None:
    world.control("POST", f"/ledger/{world.tenant_id()}/invoices/{invoice.xero_invoice_id}"
                  "/payments", amount=str(invoice.amount_due))


def test_payment_in_xero_posts_one_alert_in_the_customers_thread(
        world: WebhookWorld, fake_slack: FakeSlack) -> None:
    invoice = overdue_invoices(world)[0]

    pay_in_full(world, invoice)
    parent, reply = fake_slack.wait_for_calls("chat.postMessage", 2)

    assert parent.args["channel"] == CHANNEL and "thread_ts" not in parent.args
    assert reply.args["thread_ts"] == parent_ts(fake_slack)
    assert invoice.invoice_number in reply.args["text"]
    assert "Payment received" in reply.args["text"]
    assert "paid in full" in reply.args["text"]

    # Xero changes the same invoice again (its due date): the payment is seen again, not re-sent.
    world.control("POST", f"/ledger/{world.tenant_id()}/invoices/{invoice.xero_invoice_id}"
                  "/due-date", due=(invoice.due_date - timedelta(days=1)).isoformat())
    wait_for(lambda: world.processed_events() >= 2, what="the second webhook")
    assert len(posts(fake_slack)) == 2
    with session_scope(world.ctx.session_factory) as session:
        [row] = session.scalars(select(SlackAlert)).all()
        assert row.posted_at is not None and row.thread_ts == parent_ts(fake_slack)


def test_a_second_invoice_of_the_same_customer_replies_in_the_same_thread(
        world: WebhookWorld, fake_slack: FakeSlack) -> None:
    by_customer: dict[str | None, list[Invoice]] = {}
    for invoice in overdue_invoices(world):
        by_customer.setdefault(invoice.xero_contact_id, []).append(invoice)
    first, second = next(group for group in by_customer.values() if len(group) >= 2)[:2]

    pay_in_full(world, first)
    fake_slack.wait_for_calls("chat.postMessage", 2)
    pay_in_full(world, second)
    fake_slack.wait_for_calls("chat.postMessage", 3)

    parents = [c for c in posts(fake_slack) if "thread_ts" not in c.args]
    replies = [c for c in posts(fake_slack) if "thread_ts" in c.args]
    assert len(parents) == 1 and len(replies) == 2
    assert {r.args["thread_ts"] for r in replies} == {parent_ts(fake_slack)}


def test_slack_rate_limit_is_waited_out_and_the_alert_still_goes_once(
        world: WebhookWorld, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=1)

    pay_in_full(world, overdue_invoices(world)[0])
    fake_slack.wait_for_calls("chat.postMessage", 2)

    assert len(fake_slack.calls_to("chat.postMessage", ok=False)) == 1
    wait_for(lambda: world.processed_events() >= 1, what="the webhook's processing")
    assert len(posts(fake_slack)) == 2


def test_slack_refusing_the_alert_leaves_it_unposted_for_a_later_pass(
        world: WebhookWorld, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", "channel_not_found")

    pay_in_full(world, overdue_invoices(world)[0])
    wait_for(lambda: world.processed_events() >= 1, what="the webhook's processing")

    assert posts(fake_slack) == []
    with session_scope(world.ctx.session_factory) as session:
        assert session.scalars(select(SlackAlert)).all() == []


def test_amounts_in_the_alert_match_xero(world: WebhookWorld, fake_slack: FakeSlack) -> None:
    invoice = overdue_invoices(world)[0]
    world.control("POST", f"/ledger/{world.tenant_id()}/invoices/{invoice.xero_invoice_id}"
                  "/payments", amount="10.00")
    _, reply = fake_slack.wait_for_calls("chat.postMessage", 2)
    rest = (invoice.amount_due - Decimal("10.00")).quantize(Decimal("0.01"))
    assert f"paid {invoice.currency_code} 10.00" in reply.args["text"]
    assert f"{invoice.currency_code} {rest:,.2f} is still due" in reply.args["text"]


# The posted digest follows Xero -------------------------------------------------------------


@pytest.fixture
def digest_world(migrated_db: str, tmp_path: Path,
                 fake_slack: FakeSlack) -> Iterator[tuple[WebhookWorld, str]]:
    """A posted digest in CHANNEL (its ts is returned), and live updates wired as serve does."""
    from bot.deps import build_digest_poster

    fake_slack.add_channel(CHANNEL, "receivables")
    clients = SlackClients(base_url=fake_slack.api_url, bot_token=BOT_TOKEN)
    posted: dict[str, object] = {}

    def configure(ctx: AppDeps, connection_ids: list[int]) -> None:
        with session_scope(ctx.session_factory) as session:
            update_organisation_settings(session, connection_ids[0], by="test",
                                         digest_channel_id=CHANNEL)
        digests = build_digest_poster(ctx, clients.for_team, sync_first=False)
        result = digests.post_digest(connection_ids[0])
        assert result.outcome == "posted", result
        posted.update(digests=digests, ts=result.message.ts)

    def refresh(connection_id: int) -> object:
        return posted["digests"].refresh_latest(connection_id)  # type: ignore[attr-defined]

    with webhook_world(migrated_db, tmp_path, poster=SlackAlertPoster(clients.for_team),
                       refresh_digest=refresh, configure=configure) as running:
        yield running, str(posted["ts"])


def shown(fake: FakeSlack, ts: str) -> str:
    """Everything the digest message shows, as one string."""
    return json.dumps(fake.messages[(CHANNEL, ts)]["blocks"])


def test_invoice_paid_in_xero_leaves_the_posted_digest_at_once_and_alerts_once(
        digest_world: tuple[WebhookWorld, str], fake_slack: FakeSlack) -> None:
    world, ts = digest_world
    on_show = [i for i in overdue_invoices(world)
               if i.invoice_number and i.invoice_number in shown(fake_slack, ts)]
    assert on_show, "the digest shows overdue invoices"
    invoice = on_show[0]

    pay_in_full(world, invoice)
    [update] = fake_slack.wait_for_calls("chat.update")

    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, ts)
    assert invoice.invoice_number not in shown(fake_slack, ts)
    alerts = [c for c in posts(fake_slack) if "thread_ts" in c.args]
    assert len(alerts) == 1 and invoice.invoice_number in alerts[0].args["text"]
    wait_for(lambda: world.processed_events() >= 1, what="the webhook's processing")
    assert len(fake_slack.calls_to("chat.update", ok=True)) == 1
