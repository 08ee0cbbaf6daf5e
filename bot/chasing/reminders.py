"""Sending a chase plan: each (invoice, step) claimed in the ledger, emailed, and recorded, once.

Exactly once, decided here:
1. Claim: the email's (invoice, step) rows are inserted as `sending`, with the Message-ID the
   email will carry, and committed before the mail server hears of it. A second run or process
   finds the rows taken and sends nothing.
2. Send over the run's one connection.
3. Record: `sent` (and the audit entry) in one transaction.
A refusal (4xx/5xx, every recipient refused, server unreachable before the message went)
marks the rows `failed`; the next run claims them again, so nothing is lost. A run that dies
between 2 and 3, or a connection lost while the message was being handed over, leaves rows
that may have been delivered: they become `unconfirmed` and are never resent on their own —
a finance team would rather look (the Message-ID is in the ledger, to search the sent mail
or the server's log) than email a customer twice. `chaser chase --resolve` records what
they found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import make_msgid
from typing import NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from bot import messages
from bot.chasing.emails import (
    InvoiceLine,
    Rendered,
    build_message,
    date_text,
    email_locale,
    money_text,
    render,
)
from bot.chasing.plan import SENDING_LEASE, ChasePlan, PlannedEmail
from bot.chasing.policy import MAX_SEND_ATTEMPTS, SKIP_REASON_LABELS
from bot.chasing.ports import (
    MailConnection,
    Mailer,
    MailRefused,
    MailUnavailable,
    MailUncertain,
    OnlineInvoiceLinks,
)
from bot.errors import UserFacingError
from bot.messages import TERMINAL
from storage import reminders as ledger
from storage.audit import record_audit
from storage.db import session_scope
from storage.models import ReminderState

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "scheduler"
# Skipped invoices listed in one run's audit entry (the rest are counted).
AUDIT_SKIPS_LISTED = 500


class NoSenderAddress(UserFacingError):
    """Reminders need an address to come from: the sender's email or SMTP_FROM."""


def from_address(configured: str | None, email: PlannedEmail) -> str | None:
    """The address `email` goes from: SMTP_FROM when set, else its sender's; None: neither,
    and it cannot be sent (NoSenderAddress)."""
    return configured or email.sender.email


@dataclass
class ChaseResult:
    """What one chase run did for one organisation."""

    connection_id: int
    organisation: str
    destination: str
    window_open: bool = True
    emails_sent: int = 0
    invoices_sent: int = 0
    failed: int = 0
    unconfirmed: int = 0
    held_for_approval: int = 0
    already_claimed: int = 0
    skipped: int = 0
    stopped: str | None = None  # why the run stopped early (mail server down, no sender…)
    message_ids: list[str] = field(default_factory=list)


class _Outcome(NamedTuple):
    """How one email's send ended, waiting to be written with the next claim."""

    email: PlannedEmail
    message_id: str
    state: ReminderState
    error: str | None


@dataclass(frozen=True)
class _Prepared:
    email: PlannedEmail
    message_id: str
    links: dict[int, str | None]


class ReminderSender:
    """Sends the emails of chase plans through a Mailer, recording each in the ledger."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        mailer: Mailer,
        clock: Callable[[], datetime],
        links: OnlineInvoiceLinks | None = None,
        from_address: str | None = None,
        actor: str = SCHEDULER_ACTOR,
    ) -> None:
        self._sessions = session_factory
        self._mailer = mailer
        self._clock = clock
        self._links = links
        self._from_address = from_address
        self._actor = actor

    @property
    def destination(self) -> str:
        return self._mailer.description

    # The run ---------------------------------------------------------------------------

    def run(
        self,
        plan: ChasePlan,
        *,
        hold: Callable[[PlannedEmail, str], None] | None = None,
    ) -> ChaseResult:
        """Send the plan's emails (inside its window); hold approval steps via `hold`.

        `hold(email, message_id)` is called for each email needing a manager's approval once
        its rows are claimed as awaiting_approval (the Slack card's job); without it such
        emails simply wait and the plan lists them.
        """
        result = ChaseResult(plan.connection_id, plan.organisation, self.destination,
                             window_open=plan.window_open, skipped=len(plan.skipped))
        self._expire_stale_claims(plan, result)
        if not plan.window_open:
            return result
        try:
            if hold is not None:
                for email in plan.needing_approval:
                    self._hold(plan, email, hold, result)
            sendable = [email for email in plan.sendable if email.recipients]
            if sendable:
                self._send_all(plan, sendable, result)
        except MailUnavailable as exc:
            result.stopped = messages.mail_server_unavailable(str(exc)).render(TERMINAL)
        except NoSenderAddress as exc:
            result.stopped = exc.text(TERMINAL)
        self._audit_run(plan, result)
        return result

    def _expire_stale_claims(self, plan: ChasePlan, result: ChaseResult) -> None:
        now = self._clock()
        with session_scope(self._sessions) as session:
            stale = ledger.mark_stale_claims_unconfirmed(
                session, plan.connection_id, now - SENDING_LEASE, now=now
            )
            for row in stale:
                record_audit(
                    session, action="reminder_unconfirmed", actor=self._actor, at=now,
                    workspace_id=plan.workspace_id, connection_id=plan.connection_id,
                    detail={"invoice_id": row.invoice_id, "step": row.step_key,
                            "message_id": row.message_id,
                            "reason": "the run stopped before the send was recorded"},
                )
        result.unconfirmed += len(stale)

    def _claim_rows(self, plan: ChasePlan, email: PlannedEmail, message_id: str,
                    now: datetime) -> list[dict[str, object]]:
        return [
            {
                "connection_id": plan.connection_id, "invoice_id": line.invoice_id,
                "contact_id": email.contact_id or None, "step_key": line.step_key,
                "schedule_id": email.schedule_id, "step_on": line.step_on,
                "template": email.template, "grouped": email.grouped,
                "escalated": email.escalated, "message_id": message_id,
                "sender": email.sender.email, "recipients": list(email.recipients),
                "amount_due": line.amount_due, "currency_code": line.currency or None,
                "actor": self._actor, "claimed_at": now,
            }
            for line in email.invoices
        ]

    def _hold(self, plan: ChasePlan, email: PlannedEmail,
              hold: Callable[[PlannedEmail, str], None], result: ChaseResult) -> None:
        message_id = make_msgid(domain=_domain(self._address_for(email)))
        now = self._clock()
        with session_scope(self._sessions) as session:
            claimed = ledger.claim(session, self._claim_rows(plan, email, message_id, now),
                                   state=ReminderState.AWAITING_APPROVAL, reclaim_from=())
            if claimed:
                record_audit(session, action="reminder_held_for_approval", actor=self._actor,
                             at=now, workspace_id=plan.workspace_id,
                             connection_id=plan.connection_id,
                             detail=_email_detail(email, message_id, claimed))
        if claimed:
            result.held_for_approval += 1
            hold(_only(email, claimed), message_id)

    def _address_for(self, email: PlannedEmail) -> str:
        address = from_address(self._from_address, email)
        if not address:
            raise NoSenderAddress(messages.NO_SENDER_ADDRESS)
        return address

    def _prepare(self, plan: ChasePlan, email: PlannedEmail) -> _Prepared:
        # Links first: a call to Xero must never sit between a claim and its send.
        links = {
            line.invoice_id: (
                self._links.url(plan.connection_id, line.invoice_id, line.xero_invoice_id)
                if self._links and email.part != "paid" else None
            )
            for line in email.invoices
        }
        message_id = make_msgid(domain=_domain(self._address_for(email)))
        return _Prepared(email, message_id, links)

    def _send_all(self, plan: ChasePlan, emails: list[PlannedEmail],
                  result: ChaseResult) -> None:
        """Send over one connection; each outcome is committed with the next email's claim.

        Recording email k in the same transaction that claims email k+1 halves the commits
        and changes nothing about exactly-once: k's record is still committed before k+1 is
        sent, and a run that dies after sending k leaves k `sending` (then unconfirmed) as
        before.
        """
        pending: _Outcome | None = None
        try:
            with ExitStack() as stack:
                connection = _Reconnecting(self._mailer, stack)
                connection.get()  # unreachable: stop before claiming anything
                for email in emails:
                    pending = self._send_one(plan, email, connection, result, pending)
        finally:
            if pending is not None:
                with session_scope(self._sessions) as session:
                    self._write_outcome(session, plan, pending)

    def _send_one(self, plan: ChasePlan, email: PlannedEmail, connection: _Reconnecting,
                  result: ChaseResult, pending: _Outcome | None) -> _Outcome | None:
        """Record the previous outcome and claim this email, send it; returns its outcome.

        Raises MailUnavailable when the run must stop (after recording what it knows).
        """
        prepared = self._prepare(plan, email)
        message_id = prepared.message_id
        now = self._clock()
        with session_scope(self._sessions) as session:
            if pending is not None:
                self._write_outcome(session, plan, pending)
            claimed = ledger.claim(
                session, self._claim_rows(plan, email, message_id, now),
                reclaim_from=(ReminderState.FAILED, ReminderState.APPROVED),
                max_attempts=MAX_SEND_ATTEMPTS,
            )
        if not claimed:
            result.already_claimed += 1
            return None
        email = _only(email, claimed)
        message = build_message(
            self._render(plan, email, prepared.links),
            from_name=email.sender.name, from_address=self._address_for(email),
            reply_to=email.sender.email or self._address_for(email),
            to=email.recipients, message_id=message_id, date_sent=now,
            in_reply_to=email.thread_parent,
        )
        try:
            connection.get().send(message)
        except MailRefused as exc:
            result.failed += 1
            return _Outcome(email, message_id, ReminderState.FAILED, str(exc))
        except MailUncertain as exc:
            self._record(plan, email, message_id, ReminderState.UNCONFIRMED, str(exc))
            result.unconfirmed += 1
            connection.drop()
            return None
        except MailUnavailable as exc:
            # Nothing was handed over: failed (retried next run); try one new connection.
            self._record(plan, email, message_id, ReminderState.FAILED, str(exc))
            result.failed += 1
            connection.drop()
            return None
        result.emails_sent += 1
        result.invoices_sent += len(email.invoices)
        result.message_ids.append(message_id)
        return _Outcome(email, message_id, ReminderState.SENT, None)

    def preview(self, plan: ChasePlan, email: PlannedEmail) -> Rendered:
        """The email as it would be rendered now, without online links (those need Xero)."""
        return self._render(plan, email, {})

    def _render(
        self, plan: ChasePlan, email: PlannedEmail, links: dict[int, str | None]
    ) -> Rendered:
        locale = email_locale(plan.locale, plan.country_code)
        lines = [
            InvoiceLine(
                number=line.number,
                amount_due=money_text(line.amount_due, line.currency, locale),
                total=money_text(line.total, line.currency, locale),
                currency=line.currency,
                due_date=date_text(line.due_date, locale) if line.due_date else "",
                days_overdue=line.days_overdue,
                online_url=links.get(line.invoice_id),
            )
            for line in email.invoices
        ]
        totals = [money_text(amount, currency, locale)
                  for currency, amount in sorted(email.totals().items())]
        return render(email.template, invoices=lines, contact_name=email.greeting_name,
                      sender_name=email.sender.name, organisation_name=plan.organisation,
                      totals=totals)

    def _record(self, plan: ChasePlan, email: PlannedEmail, message_id: str,
                state: ReminderState, error: str | None) -> None:
        with session_scope(self._sessions) as session:
            self._write_outcome(session, plan, _Outcome(email, message_id, state, error))

    def _write_outcome(self, session: Session, plan: ChasePlan, outcome: _Outcome) -> None:
        """The ledger rows of one email moved on, and its audit entry, in `session`."""
        now = self._clock()
        email, message_id, state, error = outcome
        action = {
            ReminderState.SENT: "reminder_sent",
            ReminderState.FAILED: "reminder_failed",
            ReminderState.UNCONFIRMED: "reminder_unconfirmed",
        }[state]
        ledger.finish(session, message_id, state, now=now, error=error)
        detail = _email_detail(email, message_id, {i.invoice_id for i in email.invoices})
        if error:
            detail["error"] = error
            log.warning("Reminder %s to %s: %s", state.value, email.contact_name, error)
        record_audit(session, action=action, actor=self._actor, at=now,
                     workspace_id=plan.workspace_id, connection_id=plan.connection_id,
                     detail=detail)

    def _audit_run(self, plan: ChasePlan, result: ChaseResult) -> None:
        skipped = [
            {"invoice_id": s.invoice_id, "number": s.number, "reason": s.reason.value,
             "label": SKIP_REASON_LABELS[s.reason], "step": s.step_key}
            for s in plan.skipped[:AUDIT_SKIPS_LISTED]
        ]
        with session_scope(self._sessions) as session:
            record_audit(
                session, action="chase_run", actor=self._actor, at=self._clock(),
                workspace_id=plan.workspace_id, connection_id=plan.connection_id,
                detail={
                    "emails_sent": result.emails_sent, "invoices_sent": result.invoices_sent,
                    "failed": result.failed, "unconfirmed": result.unconfirmed,
                    "held_for_approval": result.held_for_approval,
                    "skipped_count": len(plan.skipped), "skipped": skipped,
                    "stopped": result.stopped, "destination": result.destination,
                },
            )


class _Reconnecting:
    """The run's one mail connection, reopened once after it breaks."""

    def __init__(self, mailer: Mailer, stack: ExitStack) -> None:
        self._mailer = mailer
        self._stack = stack
        self._connection: MailConnection | None = None
        self._inner: ExitStack | None = None
        self._reopened = False

    def get(self) -> MailConnection:
        if self._connection is None:
            self._inner = self._stack.enter_context(ExitStack())
            self._connection = self._inner.enter_context(self._mailer.connect())
        return self._connection

    def drop(self) -> None:
        """Forget a broken connection; the next get() reopens it, once per run."""
        if self._reopened:
            raise MailUnavailable("the mail server connection broke twice in one run")
        self._reopened = True
        if self._inner is not None:
            with _quietly():
                self._inner.close()
        self._connection = None
        self._inner = None


@contextmanager
def _quietly() -> Iterator[None]:
    try:
        yield
    except Exception:  # closing a broken connection: its error is already recorded
        log.debug("closing a broken mail connection failed", exc_info=True)


def _only(email: PlannedEmail, invoice_ids: set[int]) -> PlannedEmail:
    """The email with just the invoices this run claimed."""
    kept = tuple(line for line in email.invoices if line.invoice_id in invoice_ids)
    return email if len(kept) == len(email.invoices) else replace(email, invoices=kept)


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def _email_detail(email: PlannedEmail, message_id: str, invoice_ids: set[int]) -> dict:
    return {
        "message_id": message_id,
        "contact_id": email.contact_id,
        "customer": email.contact_name,
        "template": email.template,
        "to": list(email.recipients),
        "sender": email.sender.email,
        "escalated": email.escalated,
        "invoices": [
            {"invoice_id": line.invoice_id, "number": line.number, "step": line.step_key,
             "amount_due": str(line.amount_due), "currency": line.currency}
            for line in email.invoices if line.invoice_id in invoice_ids
        ],
    }
