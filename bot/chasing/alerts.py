"""Payment-received and large-overdue alerts: who gets one, posted once, threaded per customer.

The one place that decides both alerts. Payments are seen only in what Xero returns for a
changed invoice (the local store keeps no payment list), so `announce_payments` runs after a
webhook's targeted fetch. "Became overdue" is a change of date, not of Xero data: no webhook
fires at midnight, so `announce_overdue` reads the store and runs after every targeted fetch
and every scheduled sync; whichever runs first posts, the unique key stops the other.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.chasing.ports import (
    Alert,
    AlertCustomer,
    AlertPoster,
    InvoiceOverdue,
    PaymentReceived,
)
from bot.chasing.receivables import (
    OPEN_RECEIVABLE_STATUSES,
    RECEIVABLE_TYPE,
    base_amount,
    days_overdue,
    is_open_receivable,
    org_today,
)
from storage import alerts as store
from storage.db import session_scope
from storage.models import XeroConnection
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.xero.models import Invoice as XeroInvoice
    from bot.xero.models import Payment

log = logging.getLogger(__name__)

OVERDUE = "overdue"
PAYMENT = "payment"
# Only invoices that fell overdue this recently are news; older ones were overdue before the
# alert was switched on (or chaser-bot installed), and announcing them all would flood.
OVERDUE_WINDOW_DAYS = 7
# A payment dated longer ago than this is a back-dated correction, not news.
PAYMENT_WINDOW_DAYS = 7
# A customer's parent message claimed this long ago and still unposted: its poster stopped.
THREAD_CLAIM_STALE = timedelta(seconds=60)
THREAD_WAIT_SECONDS = 5.0


def payment_kind(payment_id: str) -> str:
    """One alert per payment: the kind carries a short digest of Xero's PaymentID.

    The alerts table's unique key is (connection, kind, invoice); an invoice paid in two parts
    gets two payment alerts, and the same payment seen twice (a retry, a second instance) one.
    """
    return f"{PAYMENT}:{hashlib.sha256(payment_id.lower().encode()).hexdigest()[:24]}"


def was_chased(paid_on: date, due_date: date | None, reminded: bool) -> bool:
    """A payment is on a chased invoice when reminders went out or it came after the due date."""
    return reminded or (due_date is not None and paid_on > due_date)


def payment_is_news(payment: Payment, today: date, since: date) -> bool:
    """A real payment (not a refund) dated in the recent window, and not before we connected."""
    paid_on = payment.date
    return (
        paid_on is not None
        and payment.amount > 0
        and paid_on >= max(since, today - timedelta(days=PAYMENT_WINDOW_DAYS))
    )


def overdue_alert_due(
    *,
    status: str,
    amount_due: Decimal | None,
    currency_rate: Decimal | None,
    due_date: date | None,
    today: date,
    threshold: Decimal | None,
) -> bool:
    """An open invoice at or above the threshold (base currency) that fell overdue lately."""
    if threshold is None or due_date is None:
        return False
    if not is_open_receivable(RECEIVABLE_TYPE, status, amount_due):
        return False
    days = days_overdue(due_date, today)
    if not 1 <= days <= OVERDUE_WINDOW_DAYS:
        return False
    return base_amount(amount_due or Decimal(0), currency_rate) >= threshold


@dataclass(frozen=True)
class _Org:
    """What alerts need to know about one connection and its settings."""

    team_id: str
    tenant_name: str | None
    short_code: str | None
    base_currency: str | None
    today: date
    connected_on: date
    channel_id: str | None
    payments_on: bool
    overdue_over: Decimal | None


class AlertService:
    """Decides, claims and posts alerts for one organisation at a time."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        poster: AlertPoster,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._factory = session_factory
        self._clock = clock
        self._poster = poster
        self._sleep = sleep

    # Entry points -----------------------------------------------------------------------

    def after_fetch(self, connection_id: int, invoices: Sequence[XeroInvoice]) -> int:
        """Alerts owed after a targeted fetch of these invoices; returns how many were posted."""
        return self.announce_payments(connection_id, invoices) + self.announce_overdue(
            connection_id
        )

    def announce_payments(self, connection_id: int, invoices: Sequence[XeroInvoice]) -> int:
        """Announce each new payment on a chased invoice, once per payment."""
        org = self._org(connection_id)
        if org is None or not org.payments_on or not org.channel_id or not invoices:
            return 0
        with session_scope(self._factory) as session:
            stored = store.alert_invoices(session, connection_id, [i.invoice_id for i in invoices])
        posted = 0
        for invoice in invoices:
            facts = stored.get(invoice.invoice_id)
            if facts is None:
                continue
            for payment in invoice.payments:
                if not payment_is_news(payment, org.today, org.connected_on):
                    continue
                assert payment.date is not None
                if not was_chased(payment.date, invoice.due_date, facts.reminded):
                    continue
                alert = PaymentReceived(
                    customer=self._customer(connection_id, org, facts),
                    xero_invoice_id=invoice.invoice_id,
                    invoice_number=invoice.invoice_number,
                    amount=payment.amount,
                    currency=invoice.currency_code or org.base_currency,
                    paid_on=payment.date,
                    days_after_due=(payment.date - invoice.due_date).days
                    if invoice.due_date
                    else None,
                    still_due=invoice.amount_due,
                )
                posted += self._post(org, payment_kind(payment.payment_id), alert)
        return posted

    def announce_overdue(self, connection_id: int) -> int:
        """Announce each invoice at or above the alert amount that has just become overdue."""
        org = self._org(connection_id)
        if org is None or org.overdue_over is None or not org.channel_id:
            return 0
        with session_scope(self._factory) as session:
            candidates = store.invoices_due_between(
                session,
                connection_id,
                first=org.today - timedelta(days=OVERDUE_WINDOW_DAYS),
                last=org.today - timedelta(days=1),
                invoice_type=RECEIVABLE_TYPE,
                statuses=OPEN_RECEIVABLE_STATUSES,
                without_alert_kind=OVERDUE,
            )
        posted = 0
        for facts in candidates:
            if not overdue_alert_due(
                status=facts.status,
                amount_due=facts.amount_due,
                currency_rate=facts.currency_rate,
                due_date=facts.due_date,
                today=org.today,
                threshold=org.overdue_over,
            ):
                continue
            assert facts.due_date is not None
            alert = InvoiceOverdue(
                customer=self._customer(connection_id, org, facts),
                xero_invoice_id=facts.xero_invoice_id,
                invoice_number=facts.invoice_number,
                amount_due=facts.amount_due or Decimal(0),
                currency=facts.currency_code or org.base_currency,
                due_date=facts.due_date,
                days_overdue=days_overdue(facts.due_date, org.today),
                threshold=org.overdue_over,
                base_currency=org.base_currency,
            )
            posted += self._post(org, OVERDUE, alert)
        return posted

    # Posting once -----------------------------------------------------------------------

    def _post(self, org: _Org, kind: str, alert: Alert) -> int:
        """Claim, post in the customer's thread, record; 1 when this call posted it."""
        assert org.channel_id is not None
        customer = alert.customer
        with session_scope(self._factory) as session:
            alert_id = store.claim_alert(
                session, customer.connection_id, kind, alert.xero_invoice_id,
                xero_contact_id=customer.xero_contact_id, channel_id=org.channel_id,
                now=self._clock(),
            )
        if alert_id is None:
            return 0  # posted (or being posted) by an earlier pass or another instance
        try:
            thread_ts = self._thread(org.channel_id, customer)
            message_ts = self._poster.post_alert(org.channel_id, thread_ts, alert)
        except Exception:
            # Nothing reached Slack: release the claim so a later pass can try again.
            log.exception("could not post the %s alert for invoice %s", kind,
                          alert.xero_invoice_id)
            with session_scope(self._factory) as session:
                store.release_alert(session, alert_id)
            return 0
        with session_scope(self._factory) as session:
            store.mark_alert_posted(session, alert_id, message_ts=message_ts,
                                    thread_ts=thread_ts, now=self._clock())
        return 1

    def _thread(self, channel_id: str, customer: AlertCustomer) -> str:
        """The ts of the customer's parent message in this channel, posting it the first time.

        Two instances alerting about the same new customer at once race for one claim row;
        the loser waits (briefly) for the winner's ts instead of starting a second thread.
        """
        key = store.thread_key(customer.connection_id, channel_id, customer.xero_contact_id)
        deadline = time.monotonic() + THREAD_WAIT_SECONDS
        while True:
            now = self._clock()
            with session_scope(self._factory) as session:
                row = store.alert_thread(session, key)
                if row is not None and row.message_ts:
                    return row.message_ts
                if row is None:
                    mine = store.claim_alert_thread(
                        session, key, connection_id=customer.connection_id,
                        channel_id=channel_id, now=now,
                    )
                elif now - row.created_at > THREAD_CLAIM_STALE:
                    mine = store.take_over_alert_thread(
                        session, key, claimed_at=row.created_at, now=now
                    )
                else:
                    mine = False
            if mine:
                return self._start_thread(key, channel_id, customer)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the alert thread {key} is still being started elsewhere")
            self._sleep(0.05)

    def _start_thread(self, key: str, channel_id: str, customer: AlertCustomer) -> str:
        try:
            ts = self._poster.start_customer_thread(channel_id, customer)
        except Exception:
            with session_scope(self._factory) as session:
                store.release_alert_thread(session, key)
            raise
        with session_scope(self._factory) as session:
            store.set_alert_thread_message(session, key, message_ts=ts, now=self._clock())
        return ts

    # Reading ----------------------------------------------------------------------------

    def _org(self, connection_id: int) -> _Org | None:
        now = self._clock()
        with session_scope(self._factory) as session:
            connection = session.get(XeroConnection, connection_id)
            if connection is None:
                return None
            settings = organisation_settings(session, connection_id)
            return _Org(
                team_id=connection.workspace.slack_team_id,
                tenant_name=connection.tenant_name,
                short_code=connection.short_code,
                base_currency=connection.base_currency,
                today=org_today(now, connection.timezone),
                # A payment's Date is a plain date, written where whoever recorded it was;
                # a day's slack keeps a payment made on the day of connecting.
                connected_on=org_today(connection.connected_at, connection.timezone)
                - timedelta(days=1),
                channel_id=settings.digest_channel_id,
                payments_on=settings.alert_payments,
                overdue_over=settings.alert_overdue_over,
            )

    @staticmethod
    def _customer(connection_id: int, org: _Org, facts: store.AlertInvoice) -> AlertCustomer:
        return AlertCustomer(
            team_id=org.team_id,
            connection_id=connection_id,
            tenant_name=org.tenant_name,
            short_code=org.short_code,
            name=facts.customer,
            xero_contact_id=facts.xero_contact_id,
        )
