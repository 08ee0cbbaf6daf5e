"""Escalations approved in Slack: a held escalated email becomes a card; a manager decides.

The chase run holds each email whose step needs approval (its ledger rows `awaiting_approval`,
bot/chasing/reminders.py) and calls `request_approval`, which records the request and posts a
card to the approvals channel or to each manager. A decision is a conditional UPDATE from the
undecided states, so one click wins however many managers or instances race:
- Approve: the ledger rows become `approved` and the email goes at once through the reminders
  engine (`ReminderSender.run` on a plan holding just that email), which claims each
  (invoice, step) before sending: exactly once, even against a chase run at the same moment.
- Decline: the rows become `declined` and the invoices stop being chased (paused).
- Snooze: asked again (a new card) after the chosen time, by `tick`.
Every card of the request is then updated in place to show who decided and when.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import messages
from bot.chasing.audit_trail import render_trail, trail_lines
from bot.chasing.emails import date_text, email_locale, money_text
from bot.chasing.escalation_view import (
    SNOOZE_CHOICES_HOURS,
    CardInvoice,
    EmailPreview,
    EscalationView,
)
from bot.chasing.permissions import Actor, Capability, NotAllowed, Permissions
from bot.chasing.plan import ChasePlan, PlannedEmail, plan_chase
from bot.chasing.policy import SKIP_REASON_LABELS
from bot.chasing.ports import CardRef, SlackCards
from bot.chasing.reminders import SCHEDULER_ACTOR, ReminderSender
from bot.chasing.timezones import org_zone
from bot.messages import SLACK, Message
from storage import approvals
from storage import reminders as ledger
from storage.audit import latest_audit, record_audit
from storage.db import session_scope
from storage.models import (
    CLI_WORKSPACE_TEAM_ID,
    ApprovalRequest,
    ApprovalStatus,
    Contact,
    Invoice,
    ReminderState,
    XeroConnection,
)
from storage.settings import organisation_settings

log = logging.getLogger(__name__)

HISTORY_LINES = 5
# Entries about this very request are the card itself: the history shows what came before.
_NOT_HISTORY = ("escalation.", "reminder_held_for_approval")
# A request gets this long to have its first card posted before `tick` retries.
POST_RETRY_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Decision:
    """What a click did; `reply` is said to the clicker alone (the card shows the rest)."""

    ok: bool
    reply: Message | None = None


def step_label(step_key: str) -> str:
    """ "overdue:14" as "14 days overdue", "before_due:7" as "due in 7 days"."""
    part, _, days = step_key.partition(":")
    template = messages.ESCALATION_STEPS.get(part, "{days}")
    return template.format(days=days)


def _when(moment: datetime | None, zone) -> str | None:
    return f"{moment.astimezone(zone):%a %-d %b at %H:%M}" if moment else None


def _invoice_detail(invoices: list[Invoice]) -> list[dict[str, object]]:
    return [{"invoice_id": invoice.id, "number": invoice.invoice_number} for invoice in invoices]


class EscalationService:
    """Asks managers to approve escalated emails and carries out what they decide."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        cards: SlackCards,
        senders: Callable[[], AbstractContextManager[ReminderSender]],
        permissions: Permissions,
    ) -> None:
        self._sessions = session_factory
        self._permissions = permissions
        self._clock = clock
        self._cards = cards
        # A sender per use: each holds a budget of Xero calls for online invoice links.
        self._senders = senders

    # Asking ----------------------------------------------------------------------------

    def hold(self, email: PlannedEmail, message_id: str) -> None:
        """The `hold` callback of `ReminderSender.run(plan, hold=...)` and the chase run."""
        self.request_approval(email, message_id)

    def _setting_plan(self, connection_id: int) -> ChasePlan:
        # What rendering an email reads of a plan: the organisation's name, locale and country.
        now = self._clock()
        with session_scope(self._sessions) as session:
            connection = session.get(XeroConnection, connection_id)
            assert connection is not None
            settings = organisation_settings(session, connection_id)
            return ChasePlan(
                connection_id=connection_id, workspace_id=connection.workspace_id,
                organisation=connection.tenant_name or connection.tenant_id, now=now,
                send_at=now, window_open=True, today=now.astimezone(
                    org_zone(connection.timezone)).date(),
                locale=settings.locale, country_code=connection.country_code,
            )

    def request_approval(self, email: PlannedEmail, message_id: str) -> int | None:
        """Record the request for a held email and post its cards; None if already asked."""
        plan = self._setting_plan(email.connection_id)
        with self._senders() as sender:
            rendered = sender.preview(plan, email)
        address = f" <{email.sender.email}>" if email.sender.email else ""
        preview = {"sender": f"{email.sender.name}{address}", "recipients": list(email.recipients),
                   "subject": rendered.subject, "body": rendered.text}
        totals = email.totals()
        currency = next(iter(totals)) if len(totals) == 1 else None
        now = self._clock()
        with session_scope(self._sessions) as session:
            request = approvals.create_request(
                session, connection_id=email.connection_id, contact_id=email.contact_id or None,
                step_key=",".join(email.step_keys)[:64], request_key=message_id,
                invoice_steps=[(line.invoice_id, line.step_key) for line in email.invoices],
                amount=sum(totals.values(), Decimal(0)), currency_code=currency or None,
                preview=preview, now=now,
            )
            if request is None:
                return None
            record_audit(
                session, action="escalation.requested", actor=SCHEDULER_ACTOR, at=now,
                workspace_id=plan.workspace_id, connection_id=email.connection_id,
                detail={"request_id": request.id, "contact_id": email.contact_id,
                        "customer": email.contact_name,
                        "invoices": [{"invoice_id": line.invoice_id, "number": line.number}
                                     for line in email.invoices]},
            )
            request_id = request.id
        self._post_cards(request_id)
        return request_id

    def _post_cards(self, request_id: int) -> int:
        """Post the request's card to the approvals channel, or to each manager by DM."""
        with session_scope(self._sessions) as session:
            request = approvals.get_request(session, request_id)
            connection = session.get(XeroConnection, request.connection_id) if request else None
            if request is None or connection is None:
                return 0
            team = connection.workspace.slack_team_id
            channel = organisation_settings(session, connection.id).approvals_channel_id
            workspace_id = connection.workspace_id
        if team == CLI_WORKSPACE_TEAM_ID:
            return 0  # no Slack: `chaser chase --dry-run` lists what waits for approval
        destinations = [channel] if channel else self._permissions.approvers(workspace_id)
        if not destinations:
            log.warning("Escalation %s waits for approval but no approvals channel or manager "
                        "is set (/chaser settings)", request_id)
            return 0
        view = self.view(request_id)
        posted = 0
        for destination in destinations:
            try:
                card = self._cards.post_escalation(team, destination, view)
            except Exception:  # Slack down or the channel gone: `tick` tries again
                log.exception("Could not post escalation %s to %s", request_id, destination)
                continue
            with session_scope(self._sessions) as session:
                approvals.add_card(session, request_id, card.channel_id, card.ts,
                                   now=self._clock())
            posted += 1
        return posted

    # What a card shows -----------------------------------------------------------------

    def view(self, request_id: int) -> EscalationView:
        """The request as its cards show it now."""
        with session_scope(self._sessions) as session:
            request = approvals.get_request(session, request_id)
            if request is None:
                raise LookupError(f"no approval request {request_id}")
            return self._view(session, request)

    def _view(self, session: Session, request: ApprovalRequest) -> EscalationView:
        connection = session.get(XeroConnection, request.connection_id)
        assert connection is not None  # requests are deleted with their connection
        settings = organisation_settings(session, connection.id)
        zone = org_zone(connection.timezone)
        locale = email_locale(settings.locale, connection.country_code)
        today = self._clock().astimezone(zone).date()
        contact = session.get(Contact, request.contact_id) if request.contact_id else None
        invoices = list(session.scalars(
            select(Invoice).where(Invoice.id.in_(request.invoice_ids)).order_by(Invoice.due_date)
        ))
        totals: dict[str, Decimal] = {}
        for invoice in invoices:
            currency = invoice.currency_code or ""
            totals[currency] = totals.get(currency, Decimal(0)) + (invoice.amount_due or 0)
        entries = [entry for entry in latest_audit(
            session, invoice_ids=request.invoice_ids, contact_id=request.contact_id,
            limit=HISTORY_LINES * 4) if not entry.action.startswith(_NOT_HISTORY)]
        preview = request.preview or None
        return EscalationView(
            request_id=request.id,
            organisation=connection.tenant_name or connection.tenant_id,
            customer=(contact.name if contact else None) or "?",
            step=step_label(request.step_key.split(",")[-1]),
            total=" + ".join(money_text(amount, currency, locale)
                             for currency, amount in sorted(totals.items())) or "—",
            invoices=tuple(
                CardInvoice(
                    number=invoice.invoice_number or "?",
                    amount_due=money_text(invoice.amount_due or Decimal(0),
                                          invoice.currency_code, locale),
                    due_date=date_text(invoice.due_date, locale) if invoice.due_date else "—",
                    days_overdue=(today - invoice.due_date).days if invoice.due_date else 0,
                )
                for invoice in invoices
            ),
            history=tuple(render_trail(trail_lines(entries[:HISTORY_LINES], zone), SLACK))
            if entries else (),
            email=EmailPreview(preview["sender"], tuple(preview["recipients"]),
                               preview["subject"], preview["body"]) if preview else None,
            status=request.status,
            decided_by=request.decided_by,
            decided_at=_when(request.decided_at, zone),
            ask_again_at=_when(request.ask_again_at, zone),
            outcome=request.outcome_detail,
        )

    def update_cards(self, request_id: int) -> None:
        """Show the request's current state on every card it has (chat.update in place)."""
        with session_scope(self._sessions) as session:
            request = approvals.get_request(session, request_id)
            if request is None:
                return
            connection = session.get(XeroConnection, request.connection_id)
            team = connection.workspace.slack_team_id if connection else None
            view = self._view(session, request)
            cards = [CardRef(card.channel_id, card.message_ts)
                     for card in approvals.cards_of(session, request_id)]
        for card in cards:
            try:
                self._cards.update_escalation(team or "", card, view)
            except Exception:  # one stale card must not hide the decision on the others
                log.exception("Could not update escalation card %s/%s", card.channel_id, card.ts)

    # Deciding --------------------------------------------------------------------------

    def _refusal(self, request_id: int, actor: Actor, decision: str) -> Decision | None:
        """None when `actor` may decide (bot/chasing/permissions.py says who may); else the
        reply saying who can, and the try is on the invoices' record too."""
        with session_scope(self._sessions) as session:
            request = approvals.get_request(session, request_id)
            if request is None:
                return Decision(False, messages.plain(messages.ESCALATION_UNKNOWN))
            connection_id, invoice_ids = request.connection_id, list(request.invoice_ids)
        try:
            self._permissions.require(actor, Capability.APPROVE_ESCALATIONS,
                                      connection_id=connection_id)
        except NotAllowed as refused:
            with session_scope(self._sessions) as session:
                invoices = list(session.scalars(
                    select(Invoice).where(Invoice.id.in_(invoice_ids))))
                record_audit(
                    session, action="escalation.refused", actor=actor.user_id,
                    at=self._clock(), workspace_id=actor.workspace_id,
                    connection_id=connection_id,
                    detail={"request_id": request_id, "decision": decision,
                            "invoices": _invoice_detail(invoices)},
                )
            return Decision(False, refused.message)
        return None

    def _decide(self, request_id: int, user_id: str, *, to: ApprovalStatus, action: str,
                snooze_for: timedelta | None = None) -> Decision:
        now = self._clock()
        ask_again_at = now + snooze_for if snooze_for is not None else None
        with session_scope(self._sessions) as session:
            won = approvals.transition(session, request_id, from_statuses=approvals.UNDECIDED,
                                       to=to, now=now, by=user_id, ask_again_at=ask_again_at)
            request = approvals.get_request(session, request_id)
            assert request is not None
            if not won:
                return Decision(False, messages.plain(messages.ESCALATION_ALREADY_DECIDED
                                                      .format(state=request.status.value)))
            if to is not ApprovalStatus.SNOOZED:
                ledger.decide_held(session, request.request_key,
                                   approve=to is ApprovalStatus.APPROVED, now=now, by=user_id)
            invoices = list(session.scalars(
                select(Invoice).where(Invoice.id.in_(request.invoice_ids))))
            if to is ApprovalStatus.DECLINED:
                approvals.stop_chasing(session, request.invoice_ids,
                                       reason=messages.ESCALATION_DECLINED_REASON)
            connection = session.get(XeroConnection, request.connection_id)
            record_audit(
                session, action=action, actor=user_id, at=now,
                workspace_id=connection.workspace_id if connection else None,
                connection_id=request.connection_id,
                detail={"request_id": request_id, "contact_id": request.contact_id,
                        "invoices": _invoice_detail(invoices),
                        **({"until_at": _when(ask_again_at, org_zone(connection.timezone))}
                           if ask_again_at and connection else {})},
            )
        self.update_cards(request_id)
        return Decision(True)

    def approve(self, request_id: int, actor: Actor) -> Decision:
        """A manager approves: the escalated email goes now, once; the cards say so."""
        refused = self._refusal(request_id, actor, "approve")
        if refused is not None:
            return refused
        decided = self._decide(request_id, actor.user_id, to=ApprovalStatus.APPROVED,
                               action="escalation.approved")
        if decided.ok:
            self.send_approved(request_id)
            self.update_cards(request_id)
        return decided

    def decline(self, request_id: int, actor: Actor) -> Decision:
        """A manager declines: the email never goes and its invoices stop being chased."""
        refused = self._refusal(request_id, actor, "decline")
        if refused is not None:
            return refused
        return self._decide(request_id, actor.user_id, to=ApprovalStatus.DECLINED,
                            action="escalation.declined")

    def snooze(self, request_id: int, actor: Actor, hours: int) -> Decision:
        """A manager snoozes: the question comes back (a new card) after `hours`, one of the
        card's Snooze choices (any other length is a card we no longer understand)."""
        refused = self._refusal(request_id, actor, "snooze")
        if refused is not None:
            return refused  # whoever may not decide is refused (and audited) first
        if hours not in SNOOZE_CHOICES_HOURS:
            return Decision(False, messages.plain(messages.ESCALATION_SNOOZE_UNKNOWN))
        return self._decide(request_id, actor.user_id, to=ApprovalStatus.SNOOZED,
                            action="escalation.snoozed",
                            snooze_for=timedelta(hours=hours))

    # Sending ---------------------------------------------------------------------------

    def send_approved(self, request_id: int) -> ApprovalStatus:
        """Send an approved request's email now through the reminders engine."""
        with session_scope(self._sessions) as session:
            request = approvals.get_request(session, request_id)
            assert request is not None
            connection_id, steps = request.connection_id, request.invoice_steps
        plan = plan_chase(self._sessions, connection_id, self._clock(), ignore_window=True)
        wanted = {(invoice_id, step) for invoice_id, step in steps}
        emails = [email for email in plan.emails
                  if email.approved and {(line.invoice_id, line.step_key)
                                         for line in email.invoices} <= wanted]
        if not emails:
            reasons = sorted({SKIP_REASON_LABELS[skip.reason] for skip in plan.skipped
                              if skip.invoice_id in {i for i, _ in wanted}})
            return self._finish(request_id, ApprovalStatus.WITHDRAWN,
                                messages.escalation_nothing_to_send(reasons), None)
        with self._senders() as sender:
            result = sender.run(replace(plan, emails=emails, skipped=[], upcoming=[]))
        if result.emails_sent:
            to = sorted({address for email in emails for address in email.recipients})
            return self._finish(request_id, ApprovalStatus.SENT,
                                messages.ESCALATION_SENT_TO.format(to=", ".join(to)),
                                ("escalation.sent", {"to": to}))
        why = result.stopped or messages.ESCALATION_SEND_FAILED
        with session_scope(self._sessions) as session:
            approvals.reapprove_failed(session, steps, now=self._clock())
        return self._finish(request_id, ApprovalStatus.SEND_FAILED, why,
                            ("escalation.send_failed", {"error": why}))

    def _finish(self, request_id: int, status: ApprovalStatus, outcome: str,
                audit: tuple[str, dict[str, object]] | None) -> ApprovalStatus:
        now = self._clock()
        with session_scope(self._sessions) as session:
            approvals.transition(
                session, request_id, now=now, to=status, outcome=outcome, decided=False,
                from_statuses=(ApprovalStatus.APPROVED, ApprovalStatus.SEND_FAILED),
            )
            request = approvals.get_request(session, request_id)
            if audit is not None and request is not None:
                action, detail = audit
                record_audit(session, action=action, actor=SCHEDULER_ACTOR, at=now,
                             connection_id=request.connection_id,
                             detail={"request_id": request_id,
                                     "invoice_ids": list(request.invoice_ids), **detail})
        return status

    # Housekeeping (one instance a minute, under a lease) --------------------------------

    def tick(self) -> None:
        """Ask again what was snoozed, post cards that never went, settle approved sends."""
        now = self._clock()
        with session_scope(self._sessions) as session:
            due = approvals.due_to_ask_again(session, now)
            unposted = approvals.pending_without_cards(session, now - POST_RETRY_AFTER)
        for request_id in due:
            with session_scope(self._sessions) as session:
                won = approvals.transition(session, request_id, now=now, decided=False,
                                           from_statuses=(ApprovalStatus.SNOOZED,),
                                           to=ApprovalStatus.PENDING)
            if won:
                self._post_cards(request_id)
        for request_id in unposted:
            self._post_cards(request_id)
        self._settle_sends()

    def _settle_sends(self) -> None:
        """An approved email a later chase run sent (after a failure or a crash) is `sent`."""
        with session_scope(self._sessions) as session:
            open_ids = [
                request.id for request in session.scalars(select(ApprovalRequest).where(
                    ApprovalRequest.status.in_([ApprovalStatus.APPROVED,
                                                ApprovalStatus.SEND_FAILED])))
                if (states := approvals.ledger_states(session, request.invoice_steps))
                and all(state is ReminderState.SENT for state in states)
            ]
        for request_id in open_ids:
            self._finish(request_id, ApprovalStatus.SENT, messages.ESCALATION_SENT_LATER, None)
            self.update_cards(request_id)
