"""Payment and overdue alerts: who gets one, once, threaded per customer (sandbox + database)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.chasing.alerts import (
    AlertService,
    overdue_alert_due,
    payment_is_news,
    payment_kind,
    was_chased,
)
from bot.chasing.ports import InvoiceOverdue, PaymentReceived, RecordingAlertPoster
from bot.chasing.receivables import org_today
from bot.deps import AppDeps
from bot.xero.models import Payment
from storage.db import session_scope
from storage.models import Invoice, SlackAlert, SlackNotice, XeroConnection
from storage.settings import update_organisation_settings
from tests.webhook_world import WebhookWorld, wait_for, webhook_world

CHANNEL = "C0ALERTS01"
TODAY = date(2026, 6, 15)


# The rules (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize(("paid_on", "due", "reminded", "chased"), [
    (TODAY, TODAY - timedelta(days=3), False, True),   # paid late
    (TODAY, TODAY, False, False),                      # on the due date, never chased
    (TODAY, TODAY + timedelta(days=5), True, True),    # early, but reminders went out
    (TODAY, None, False, False),
])
def test_a_payment_is_on_a_chased_invoice_when_late_or_reminded(paid_on, due, reminded, chased):
    assert was_chased(paid_on, due, reminded) is chased


@pytest.mark.parametrize(("paid_on", "amount", "news"), [
    (TODAY, "10", True),
    (TODAY - timedelta(days=7), "10", True),
    (TODAY - timedelta(days=8), "10", False),   # a back-dated correction
    (TODAY, "0", False),
    (TODAY, "-5", False),                       # a refund
])
def test_only_recent_real_payments_are_news(paid_on, amount, news):
    payment = Payment(payment_id="p1", amount=Decimal(amount),
                      date_raw=f"{paid_on.isoformat()}T00:00:00")
    assert payment_is_news(payment, TODAY, TODAY - timedelta(days=30)) is news


def test_payments_dated_before_the_organisation_was_connected_are_not_news():
    payment = Payment(payment_id="p1", amount=Decimal(5),
                      date_raw=f"{(TODAY - timedelta(days=2)).isoformat()}T00:00:00")
    assert not payment_is_news(payment, TODAY, TODAY - timedelta(days=1))


@pytest.mark.parametrize(("due", "amount", "rate", "status", "due_now"), [
    (TODAY - timedelta(days=1), "5000", None, "AUTHORISED", True),
    (TODAY - timedelta(days=7), "5000", None, "AUTHORISED", True),
    (TODAY - timedelta(days=8), "5000", None, "AUTHORISED", False),  # old news
    (TODAY, "5000", None, "AUTHORISED", False),                      # due today: not overdue
    (TODAY - timedelta(days=1), "4999.99", None, "AUTHORISED", False),
    (TODAY - timedelta(days=1), "8000", "2", "AUTHORISED", False),   # 4,000 in base currency
    (TODAY - timedelta(days=1), "5000", None, "PAID", False),
])
def test_overdue_alert_is_for_large_invoices_that_just_fell_overdue(due, amount, rate, status,
                                                                    due_now):
    assert overdue_alert_due(status=status, amount_due=Decimal(amount),
                             currency_rate=Decimal(rate) if rate else None, due_date=due,
                             today=TODAY, threshold=Decimal(5000)) is due_now


def test_overdue_alert_is_off_without_a_threshold():
    assert not overdue_alert_due(status="AUTHORISED", amount_due=Decimal(10**6),
                                 currency_rate=None, due_date=TODAY - timedelta(days=1),
                                 today=TODAY, threshold=None)


def test_each_payment_has_its_own_alert_kind_within_the_column():
    first, second = payment_kind("A-1"), payment_kind("A-2")
    assert first != second and first == payment_kind("a-1")
    assert len(first) <= 32


# Through the sandbox's webhooks, with a recording poster -------------------------------------


def alert_settings(**values: object):
    def configure(ctx: AppDeps, connection_ids: list[int]) -> None:
        with session_scope(ctx.session_factory) as session:
            for connection_id in connection_ids:
                update_organisation_settings(session, connection_id, by="test",
                                             digest_channel_id=CHANNEL, **values)
    return configure


@pytest.fixture
def poster() -> RecordingAlertPoster:
    return RecordingAlertPoster()


@pytest.fixture
def alert_values() -> dict[str, object]:
    """Organisation settings for the world; a test overrides it with parametrize."""
    return {"alert_overdue_over": Decimal("100000")}


@pytest.fixture
def world(migrated_db: str, tmp_path: Path, poster: RecordingAlertPoster,
          alert_values: dict[str, object]) -> Iterator[WebhookWorld]:
    with webhook_world(migrated_db, tmp_path, poster=poster,
                       configure=alert_settings(**alert_values)) as running:
        yield running


def open_invoices(world: WebhookWorld, *, overdue: bool) -> list[Invoice]:
    today = datetime.now(UTC).date()
    with session_scope(world.ctx.session_factory) as session:
        rows = session.scalars(
            select(Invoice).where(
                Invoice.connection_id == world.connection_id, Invoice.status == "AUTHORISED",
                Invoice.amount_due > 0, Invoice.amount_paid == 0,
                Invoice.due_date < today - timedelta(days=2) if overdue
                else Invoice.due_date > today + timedelta(days=2),
            ).order_by(Invoice.contact_id, Invoice.id)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def pay(world: WebhookWorld, invoice: Invoice, amount: Decimal) -> None:
    world.control("POST", f"/ledger/{world.tenant_id()}/invoices/{invoice.xero_invoice_id}"
                  "/payments", amount=str(amount))


def payments(poster: RecordingAlertPoster) -> list[PaymentReceived]:
    return [a for _, _, a in poster.alerts if isinstance(a, PaymentReceived)]


def overdue(poster: RecordingAlertPoster) -> list[InvoiceOverdue]:
    return [a for _, _, a in poster.alerts if isinstance(a, InvoiceOverdue)]


def test_payment_on_an_overdue_invoice_is_announced_once_in_the_customers_thread(
        world: WebhookWorld, poster: RecordingAlertPoster) -> None:
    invoice = open_invoices(world, overdue=True)[0]
    part = (invoice.amount_due / 2).quantize(Decimal("0.01"))

    pay(world, invoice, part)
    wait_for(lambda: payments(poster), what="the payment alert")

    [alert] = payments(poster)
    assert alert.xero_invoice_id == invoice.xero_invoice_id
    assert alert.invoice_number == invoice.invoice_number
    assert alert.amount == part
    assert alert.still_due == invoice.amount_due - part
    assert alert.days_after_due == (alert.paid_on - invoice.due_date).days > 0
    assert alert.customer.xero_contact_id == invoice.xero_contact_id
    assert alert.customer.name
    [(channel, customer)] = poster.threads
    assert channel == CHANNEL and customer.xero_contact_id == invoice.xero_contact_id
    assert poster.alerts[0][:2] == (CHANNEL, "1.000100")  # a reply in that thread

    # The rest of the money: a second payment, a second alert, the same thread.
    pay(world, invoice, invoice.amount_due - part)
    wait_for(lambda: len(payments(poster)) == 2, what="the second payment alert")
    assert payments(poster)[1].still_due == 0
    assert len(poster.threads) == 1


def test_payment_on_an_invoice_not_yet_due_and_never_chased_is_not_announced(
        world: WebhookWorld, poster: RecordingAlertPoster) -> None:
    invoice = open_invoices(world, overdue=False)[0]
    pay(world, invoice, invoice.amount_due)
    wait_for(lambda: world.processed_events() >= 1, what="the webhook's processing")
    assert payments(poster) == []


@pytest.mark.parametrize("alert_values", [{"alert_payments": False}])
def test_payment_alerts_switched_off_in_settings_are_not_posted(
        world: WebhookWorld, poster: RecordingAlertPoster) -> None:
    pay(world, open_invoices(world, overdue=True)[0], Decimal("1.00"))
    wait_for(lambda: world.processed_events() >= 1, what="the webhook's processing")
    assert poster.alerts == []


@pytest.mark.parametrize("alert_values", [{"alert_overdue_over": Decimal("20000")}])
def test_large_invoice_falling_overdue_is_announced_once_and_small_ones_are_not(
        world: WebhookWorld, poster: RecordingAlertPoster) -> None:
    tenant = world.tenant_id()
    # Invoices entered in Xero already past due: each arrives by webhook, already overdue.
    big = world.control("POST", f"/ledger/{tenant}/invoices", total=25000, due_in_days=-2)
    wait_for(lambda: any(a.xero_invoice_id == big["InvoiceID"] for a in overdue(poster)),
             what="the overdue alert")
    small = world.control("POST", f"/ledger/{tenant}/invoices", total=19999, due_in_days=-2)
    wait_for(lambda: world.processed_events() >= 2, what="the second webhook")

    alerted = [a.xero_invoice_id for a in overdue(poster)]
    assert alerted.count(big["InvoiceID"]) == 1
    assert small["InvoiceID"] not in alerted
    [alert] = [a for a in overdue(poster) if a.xero_invoice_id == big["InvoiceID"]]
    with session_scope(world.ctx.session_factory) as session:
        connection = session.get(XeroConnection, world.connection_id)
        today = org_today(datetime.now(UTC), connection.timezone if connection else None)
    assert (alert.amount_due, alert.threshold) == (Decimal("25000.00"), Decimal("20000"))
    assert alert.days_overdue == (today - alert.due_date).days >= 1

    # The scheduled sync's pass over the store finds nothing new to say.
    service = AlertService(session_factory=world.ctx.session_factory, clock=world.ctx.clock,
                           poster=poster)
    before = len(poster.alerts)
    assert service.announce_overdue(world.connection_id) == 0
    assert len(poster.alerts) == before


class SlowPoster(RecordingAlertPoster):
    """Takes a while to post, so two instances overlap while starting one customer's thread."""

    def start_customer_thread(self, channel_id, customer):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return super().start_customer_thread(channel_id, customer)


@pytest.mark.parametrize("alert_values", [{"alert_overdue_over": Decimal("1000")}])
def test_two_instances_post_each_alert_once_in_one_thread_per_customer(
        world: WebhookWorld) -> None:
    tenant = world.tenant_id()
    contact = next(c.contact_id for c in world.ledger.contacts(tenant) if c.status == "ACTIVE")
    # Stored directly (no webhook poster here): two large invoices of one new-to-alerts customer.
    created = [world.control("POST", f"/ledger/{tenant}/invoices", contact_id=contact,
                             total=5000 + n, due_in_days=-1) for n in range(2)]
    wait_for(lambda: world.processed_events() >= 2, what="the webhooks")
    with session_scope(world.ctx.session_factory) as session:
        session.query(SlackAlert).delete()
        session.query(SlackNotice).delete()

    shared = SlowPoster()
    services = [AlertService(session_factory=world.ctx.session_factory, clock=world.ctx.clock,
                             poster=shared) for _ in range(2)]
    results: list[int] = []
    threads = [threading.Thread(target=lambda s=s: results.append(
        s.announce_overdue(world.connection_id))) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    mine = {c["InvoiceID"] for c in created}
    ours = [a for _, _, a in shared.alerts if a.xero_invoice_id in mine]
    assert len(ours) == 2  # each invoice once
    assert sum(results) == len(shared.alerts)
    threads_for_contact = [c for _, c in shared.threads if c.xero_contact_id == contact]
    assert len(threads_for_contact) == 1
    with session_scope(world.ctx.session_factory) as session:
        posted = session.scalar(select(func.count()).select_from(SlackAlert)
                                .where(SlackAlert.posted_at.is_not(None)))
        assert posted == len(shared.alerts)
