"""The chase plan: which emails go at the next send time, to whom, and why each other invoice won't.

`plan_chase` reads the local store only (never Xero) and changes nothing but what reading
creates on first use (the default schedule, the settings row). Everyone who shows or runs a
chase uses it: `chaser chase --dry-run`, the chase run, the forewarn and approval cards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from bot.chasing.policy import (
    ChaseFacts,
    SkipReason,
    ledger_skip_reason,
    skip_reason,
    thank_you_skip_reason,
)
from bot.chasing.receivables import OPEN_RECEIVABLE_STATUSES, RECEIVABLE_TYPE, days_overdue
from bot.chasing.schedule_store import StoredSchedule, default_schedule, schedules
from bot.chasing.schedules import DueStep, Part, current_chase, next_chase, thank_you_due
from bot.chasing.timezones import org_zone
from bot.chasing.window import ChaseWindow, parse_chase_days, parse_chase_time
from storage import reminders as ledger
from storage import schedules as schedule_rows
from storage.db import session_scope
from storage.models import (
    ConnectionStatus,
    Contact,
    EmailRole,
    Invoice,
    OrganisationSettings,
    ReminderState,
    XeroConnection,
)
from storage.settings import organisation_settings

# A thank-you goes only for payments this recent: a schedule switched on later must not thank
# customers for last year's payments.
THANK_YOU_WITHIN = timedelta(days=14)
# A claim still `sending` after this long belongs to a run that died mid-send.
SENDING_LEASE = timedelta(minutes=15)
# Ledger states that mean the step is done or under way (not a skip, nothing to send).
_DONE = frozenset({ReminderState.SENT, ReminderState.SENDING})


@dataclass(frozen=True)
class Sender:
    """Who a reminder comes from: the From name and the Reply-To address."""

    name: str
    email: str | None


@dataclass(frozen=True)
class PlannedInvoice:
    """One invoice in a planned email, at one step."""

    invoice_id: int
    xero_invoice_id: str
    number: str
    amount_due: Decimal
    total: Decimal
    currency: str
    due_date: date | None
    days_overdue: int
    step_key: str
    step_on: date
    previous_message_id: str | None = None  # the last reminder of this invoice, for threading


@dataclass(frozen=True)
class PlannedEmail:
    """One email to one customer: a step's template, sender and recipients, its invoices."""

    connection_id: int
    contact_id: int
    contact_name: str
    greeting_name: str
    part: Part
    template: str
    grouped: bool
    escalated_sender: bool
    escalated_recipients: bool
    needs_approval: bool
    schedule_id: int
    schedule_name: str
    sender: Sender
    recipients: tuple[str, ...]
    invoices: tuple[PlannedInvoice, ...]
    approved: bool = False  # a manager approved this step: it goes like any other

    @property
    def escalated(self) -> bool:
        return self.escalated_sender or self.escalated_recipients

    @property
    def step_keys(self) -> list[str]:
        """The steps this email stands for, earliest first ("before_due:7", "overdue:1")."""
        keys = {invoice.step_key for invoice in self.invoices}
        return sorted(keys, key=lambda key: (key.split(":")[0], int(key.split(":")[1])))

    @property
    def thread_parent(self) -> str | None:
        """The earlier reminder this one replies to: the one all its invoices last had."""
        parents = {invoice.previous_message_id for invoice in self.invoices}
        return parents.pop() if len(parents) == 1 else None

    def totals(self) -> dict[str, Decimal]:
        """Amount due by currency."""
        found: dict[str, Decimal] = {}
        for invoice in self.invoices:
            found[invoice.currency] = found.get(invoice.currency, Decimal(0)) + invoice.amount_due
        return found


@dataclass(frozen=True)
class SkippedInvoice:
    """An open invoice that will not be chased, and why."""

    invoice_id: int
    number: str
    contact_name: str
    amount_due: Decimal
    currency: str
    reason: SkipReason
    step_key: str | None = None


@dataclass(frozen=True)
class UpcomingInvoice:
    """An invoice whose next chase is later than this plan's send date."""

    invoice_id: int
    number: str
    contact_name: str
    step_key: str
    on: date


@dataclass
class ChasePlan:
    """What a chase run at `send_at` would do for one organisation."""

    connection_id: int
    workspace_id: int | None
    organisation: str
    now: datetime
    send_at: datetime | None  # None: the window never opens (no chase days)
    window_open: bool  # True when the window is open now, or ignored ("Chase now")
    today: date  # the organisation's date at send_at
    locale: str | None
    country_code: str | None
    emails: list[PlannedEmail] = field(default_factory=list)
    skipped: list[SkippedInvoice] = field(default_factory=list)
    upcoming: list[UpcomingInvoice] = field(default_factory=list)
    connected: bool = True
    window_ignored: bool = False  # "Chase now": sent now whatever the window says
    day_began: datetime | None = None  # the start of `today` where the organisation is

    @property
    def sendable(self) -> list[PlannedEmail]:
        """Emails that may go now: no approval needed, or approved."""
        return [email for email in self.emails if email.approved or not email.needs_approval]

    @property
    def needing_approval(self) -> list[PlannedEmail]:
        """Emails that wait for a manager (bot/chasing/reminders.py holds them)."""
        return [email for email in self.emails if email.needs_approval and not email.approved]

    def skipped_by_reason(self) -> dict[SkipReason, list[SkippedInvoice]]:
        found: dict[SkipReason, list[SkippedInvoice]] = {}
        for item in self.skipped:
            found.setdefault(item.reason, []).append(item)
        return found


def chase_window(settings: OrganisationSettings, connection: XeroConnection) -> ChaseWindow:
    """The organisation's sending window from its settings, timezone and country."""
    return ChaseWindow(
        zone=org_zone(connection.timezone),
        days=parse_chase_days(settings.chase_days),
        at=parse_chase_time(settings.chase_time),
        country_code=connection.country_code,
        skip_public_holidays=settings.skip_public_holidays,
    )


def senders(settings: OrganisationSettings, organisation: str) -> tuple[Sender, Sender]:
    """The normal and escalated senders (the escalated one falls back to the normal one)."""
    normal = Sender(settings.sender_name or f"{organisation} accounts", settings.sender_email)
    escalated = Sender(
        settings.escalated_sender_name or normal.name,
        settings.escalated_sender_email or normal.email,
    )
    return normal, escalated


def recipients(contact: Contact | None, escalated: bool) -> tuple[str, ...]:
    """Xero's addresses for sending (escalated ones when asked and set, else the normal ones).

    Normal recipients are every address Xero marks for sending, whatever its role: choosing
    the customer's own address as an escalated recipient keeps it on the normal reminders.
    """
    if contact is None:
        return ()
    normal = tuple(e.email for e in contact.emails if e.include_in_emails)
    if escalated:
        chosen = tuple(e.email for e in contact.emails if e.role == EmailRole.ESCALATED)
        if chosen:
            return chosen
    return normal


def _facts(invoice: Invoice, settings: OrganisationSettings, connected: bool) -> ChaseFacts:
    contact = invoice.contact
    return ChaseFacts(
        status=invoice.status,
        amount_due=invoice.amount_due,
        currency_rate=invoice.currency_rate,
        expected_payment_date=invoice.expected_payment_date,
        invoice_paused=invoice.chasing_paused,
        invoice_paused_until=invoice.chasing_paused_until,
        disputed=invoice.disputed,
        customer_paused=bool(contact and contact.chasing_paused),
        customer_paused_until=contact.chasing_paused_until if contact else None,
        has_email=bool(recipients(contact, escalated=False)),
        connected=connected,
        account_paused=settings.chasing_paused,
        account_paused_until=settings.chasing_paused_until,
        minimum_amount=settings.minimum_chase_amount,
        wait_for_expected_date=settings.wait_for_expected_date,
        has_due_date=invoice.due_date is not None,
    )


@dataclass
class _Builder:
    """Collects one plan's emails, grouped as the steps ask."""

    plan: ChasePlan
    normal: Sender
    escalated: Sender
    groups: dict[tuple[object, ...], list[PlannedInvoice]] = field(default_factory=dict)
    heads: dict[tuple[object, ...], tuple[Invoice, DueStep, StoredSchedule, bool]] = field(
        default_factory=dict
    )

    def add(self, invoice: Invoice, due: DueStep, schedule: StoredSchedule,
            history: Sequence[ledger.LedgerRow], amount: Decimal, approved: bool = False) -> None:
        step = due.step
        previous = next((row.message_id for row in reversed(history)
                         if row.state is ReminderState.SENT and row.message_id), None)
        line = PlannedInvoice(
            invoice_id=invoice.id, xero_invoice_id=invoice.xero_invoice_id,
            number=invoice.invoice_number or "", amount_due=amount,
            total=invoice.total or amount, currency=invoice.currency_code or "",
            due_date=invoice.due_date, days_overdue=days_overdue(invoice.due_date,
                                                                  self.plan.today),
            step_key=due.key, step_on=due.on,
            previous_message_id=previous,
        )
        key: tuple[object, ...] = (
            invoice.contact_id, schedule.id, step.part is Part.PAID, step.template,
            step.escalated_sender, step.escalated_recipients, step.needs_approval, approved,
        )
        if not step.grouped:
            key = (*key, invoice.id)
        self.groups.setdefault(key, []).append(line)
        self.heads.setdefault(key, (invoice, due, schedule, approved))

    def emails(self) -> list[PlannedEmail]:
        found = []
        for key, lines in self.groups.items():
            invoice, due, schedule, approved = self.heads[key]
            contact = invoice.contact
            step = due.step
            name = (contact.name if contact else None) or "Customer"
            found.append(PlannedEmail(
                connection_id=self.plan.connection_id,
                contact_id=invoice.contact_id or 0,
                contact_name=name,
                greeting_name=(contact.first_name if contact else None) or name,
                part=step.part, template=step.template, grouped=step.grouped,
                escalated_sender=step.escalated_sender,
                escalated_recipients=step.escalated_recipients,
                needs_approval=step.needs_approval,
                schedule_id=schedule.id, schedule_name=schedule.spec.name,
                sender=self.escalated if step.escalated_sender else self.normal,
                recipients=recipients(contact, step.escalated_recipients),
                invoices=tuple(sorted(lines, key=lambda line: (line.due_date or date.min,
                                                                line.number))),
                approved=approved,
            ))
        found.sort(key=lambda email: (email.contact_name.casefold(), email.part,
                                      email.invoices[0].number))
        return found


def _schedule_of(invoice: Invoice, assigned: dict[int, int],
                 by_id: dict[int, StoredSchedule], default: StoredSchedule) -> StoredSchedule:
    schedule_id = assigned.get(invoice.contact_id or 0)
    return by_id.get(schedule_id, default) if schedule_id else default


def _chased_since(history: list[ledger.LedgerRow], since: datetime | None) -> bool:
    """Whether an email for the invoice went (or is going) at or after `since`."""
    return since is not None and any(
        row.state in _DONE and (row.sent_at or row.claimed_at) >= since for row in history)


def _plan_open_invoice(
    builder: _Builder, invoice: Invoice, schedule: StoredSchedule,
    history: list[ledger.LedgerRow], settings: OrganisationSettings, connected: bool,
) -> None:
    plan = builder.plan
    contact_name = (invoice.contact.name if invoice.contact else None) or "?"
    amount = invoice.amount_due or Decimal(0)

    def skip(reason: SkipReason, key: str | None = None) -> None:
        plan.skipped.append(SkippedInvoice(
            invoice.id, invoice.invoice_number or "", contact_name, amount,
            invoice.currency_code or "", reason, key,
        ))

    reason = skip_reason(_facts(invoice, settings, connected), plan.today)
    if reason is not None:
        skip(reason)
        return
    assert invoice.due_date is not None  # skip_reason refuses invoices without one
    due = current_chase(schedule.spec, invoice.due_date, plan.today)
    rows = {row.step_key: row for row in history}
    row = rows.get(due.key) if due else None
    if due is not None and row is not None and row.state is ReminderState.SENDING and (
        row.claimed_at < plan.now - SENDING_LEASE
    ):
        skip(SkipReason.UNCONFIRMED, due.key)  # its run died mid-send; the next run says so
        return
    if due is not None and row is None and _chased_since(history, plan.day_began):
        # A step never tried, yet the invoice was chased today: its schedule was edited or
        # it moved to another one (step keys follow the schedule). Tomorrow's run sends it.
        skip(SkipReason.CHASED_TODAY, due.key)
        return
    if due is not None and (row is None or row.state not in _DONE):
        held = ledger_skip_reason(row.state if row else None, row.attempts if row else 0)
        if held is not None:
            skip(held, due.key)
        else:
            approved = row is not None and row.state is ReminderState.APPROVED
            builder.add(invoice, due, schedule, history, amount, approved)
        return
    following = next_chase(schedule.spec, invoice.due_date, due)
    if following is None:
        skip(SkipReason.END_OF_SCHEDULE, due.key if due else None)
    else:
        plan.upcoming.append(UpcomingInvoice(
            invoice.id, invoice.invoice_number or "", contact_name, following.key, following.on,
        ))


def _plan_thank_you(
    builder: _Builder, invoice: Invoice, schedule: StoredSchedule,
    history: list[ledger.LedgerRow], settings: OrganisationSettings, connected: bool,
) -> None:
    plan = builder.plan
    due = thank_you_due(schedule.spec, invoice.fully_paid_on_date, plan.today)
    if due is None:
        return
    row = next((r for r in history if r.step_key == due.key), None)
    if row is not None and (row.state in _DONE or ledger_skip_reason(row.state, row.attempts)):
        return
    if thank_you_skip_reason(_facts(invoice, settings, connected), plan.today) is not None:
        return  # nobody is waiting on a thank-you: not listed among the skipped
    builder.add(invoice, due, schedule, history, invoice.total or Decimal(0))


def build_plan(session: Session, connection_id: int, now: datetime, *,
               ignore_window: bool = False) -> ChasePlan:
    """The plan for one organisation, read inside an open session."""
    connection = session.get(XeroConnection, connection_id)
    if connection is None:
        raise LookupError(f"no Xero connection {connection_id}")
    settings = organisation_settings(session, connection_id)
    organisation = connection.tenant_name or connection.tenant_id
    window = chase_window(settings, connection)
    window_open = window.is_open(now)
    send_at = now if ignore_window else window.next_open(now)
    today = (send_at or now).astimezone(window.zone).date()
    connected = connection.status == ConnectionStatus.CONNECTED
    plan = ChasePlan(
        connection_id=connection_id, workspace_id=connection.workspace_id,
        organisation=organisation, now=now, send_at=send_at,
        window_open=window_open or ignore_window, today=today, locale=settings.locale,
        country_code=connection.country_code, connected=connected,
        window_ignored=ignore_window and not window_open,
        day_began=datetime.combine(today, time.min, tzinfo=window.zone),
    )
    known = schedules(session, connection_id, now=now)
    by_id = {schedule.id: schedule for schedule in known}
    default = default_schedule(known)
    normal, escalated = senders(settings, organisation)
    builder = _Builder(plan, normal, escalated)

    open_invoices = ledger.chase_candidates(
        session, connection_id, invoice_type=RECEIVABLE_TYPE, statuses=OPEN_RECEIVABLE_STATUSES
    )
    paid = ledger.paid_after_reminders(session, connection_id, today - THANK_YOU_WITHIN)
    everything = open_invoices + paid
    history = ledger.ledger_rows(session, [invoice.id for invoice in everything])
    assigned = schedule_rows.assigned_schedules(
        session, {invoice.contact_id for invoice in everything if invoice.contact_id}
    )
    for invoice in open_invoices:
        schedule = _schedule_of(invoice, assigned, by_id, default)
        _plan_open_invoice(builder, invoice, schedule, history.get(invoice.id, []),
                           settings, connected)
    for invoice in paid:
        schedule = _schedule_of(invoice, assigned, by_id, default)
        _plan_thank_you(builder, invoice, schedule, history.get(invoice.id, []),
                        settings, connected)
    plan.emails = builder.emails() if send_at is not None else []
    plan.upcoming.sort(key=lambda item: (item.on, item.contact_name, item.number))
    return plan


def ensure_chase_defaults(session_factory: sessionmaker[Session], connection_id: int,
                          now: datetime) -> None:
    """Create the organisation's settings row and default schedule, once, before planning.

    Checked without a lock first; created in a transaction of its own, which (like every
    writing transaction, see storage.db) holds the write lock from its start, so two planners
    creating them at once take turns.
    """
    with session_scope(session_factory, read_only=True) as session:
        if schedule_rows.list_schedules(session, connection_id) and session.get(
            OrganisationSettings, connection_id
        ):
            return
    with session_scope(session_factory) as session:
        organisation_settings(session, connection_id)
        schedules(session, connection_id, now=now)


def plan_chase(session_factory: sessionmaker[Session], connection_id: int, now: datetime, *,
               ignore_window: bool = False) -> ChasePlan:
    """The plan for one organisation at the next send time (`now` with ignore_window)."""
    ensure_chase_defaults(session_factory, connection_id, now)
    with session_scope(session_factory) as session:
        return build_plan(session, connection_id, now, ignore_window=ignore_window)

