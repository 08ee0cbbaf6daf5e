"""The forewarn: the day before a chase run, its plan in the organisation's channel, with Skip.

As Chaser's forewarn emails give senders a last look, but where the team already works. The
plan is the very one the run will use (bot/chasing/plan.py, asked as of the run's window
opening), so what the message promises is what goes. Skipping a customer writes `skipped` rows
into the reminders ledger for each (invoice, step) the run would have sent them: the ledger,
the one place that decides what was sent, then holds those steps back for good, as a manual
"don't send this chase" should; later steps go as scheduled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from bot import messages
from bot.chasing.emails import email_locale, money_text
from bot.chasing.forewarn_view import ForewarnCustomer, ForewarnView
from bot.chasing.permissions import Actor, Capability, NotAllowed, Permissions
from bot.chasing.plan import ChasePlan, PlannedEmail, build_plan, chase_window
from bot.chasing.ports import CardRef, SlackCards
from bot.chasing.timezones import org_zone
from bot.messages import Message
from storage import reminders as ledger
from storage.audit import record_audit
from storage.db import session_scope
from storage.forewarn import record_skip, skips_for
from storage.models import (
    CLI_WORKSPACE_TEAM_ID,
    Contact,
    ReminderState,
    XeroConnection,
)
from storage.settings import organisation_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkipResult:
    """What a Skip click did; `view` is the forewarn to show in place of the old one."""

    ok: bool
    reply: Message | None = None
    view: ForewarnView | None = None


def _totals(emails: list[PlannedEmail], locale: str) -> str:
    totals: dict[str, Decimal] = {}
    for email in emails:
        for currency, amount in email.totals().items():
            totals[currency] = totals.get(currency, Decimal(0)) + amount
    return " + ".join(money_text(amount, currency, locale)
                      for currency, amount in sorted(totals.items())) or "—"


class ForewarnService:
    """Builds, posts and applies skips to each organisation's forewarn."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        cards: SlackCards,
        permissions: Permissions,
    ) -> None:
        self._sessions = session_factory
        self._permissions = permissions
        self._clock = clock
        self._cards = cards

    def _plan_for(self, session: Session, connection_id: int, run_date: date
                  ) -> tuple[ChasePlan | None, datetime]:
        """The plan of the run on `run_date` (None when no run happens that day)."""
        connection = session.get(XeroConnection, connection_id)
        if connection is None:
            raise LookupError(f"no Xero connection {connection_id}")
        window = chase_window(organisation_settings(session, connection_id), connection)
        opens = window.opens_on(run_date)
        if not window.is_chase_day(run_date):
            return None, opens
        return build_plan(session, connection_id, opens), opens

    def view(self, connection_id: int, run_date: date) -> ForewarnView | None:
        """The forewarn of the run on `run_date`, or None when there is no run that day."""
        with session_scope(self._sessions) as session:
            return self._view(session, connection_id, run_date)

    def _view(self, session: Session, connection_id: int, run_date: date) -> ForewarnView | None:
        plan, opens = self._plan_for(session, connection_id, run_date)
        if plan is None or plan.today != run_date:
            return None
        locale = email_locale(plan.locale, plan.country_code)
        by_contact: dict[int, list[PlannedEmail]] = {}
        for email in plan.emails:
            by_contact.setdefault(email.contact_id, []).append(email)
        customers = [
            ForewarnCustomer(
                contact_id=contact_id, name=emails[0].contact_name, emails=len(emails),
                invoices=sum(len(email.invoices) for email in emails),
                total=_totals(emails, locale),
                recipients=tuple(dict.fromkeys(a for email in emails for a in email.recipients)),
                needs_approval=any(email.needs_approval and not email.approved
                                   for email in emails),
            )
            for contact_id, emails in by_contact.items()
        ]
        skips = skips_for(session, connection_id, run_date)
        customers += [ForewarnCustomer(contact_id, name or "?", 0, 0, "—", (), skipped_by=by)
                      for contact_id, by, name in skips if contact_id not in by_contact]
        zone = org_zone(session.get(XeroConnection, connection_id).timezone)
        return ForewarnView(
            connection_id=connection_id, organisation=plan.organisation, run_date=run_date,
            send_at=f"{opens.astimezone(zone):%a %-d %b at %H:%M}", emails=len(plan.emails),
            total=_totals(plan.emails, locale), customers=tuple(customers),
        )

    # Posting (the scheduler's forewarn job) ---------------------------------------------

    def post(self, connection_id: int, run_date: date) -> str:
        """Post the forewarn of the run on `run_date`; returns the job's outcome word."""
        with session_scope(self._sessions) as session:
            connection = session.get(XeroConnection, connection_id)
            if connection is None:
                return "no connection"
            team = connection.workspace.slack_team_id
            channel = (organisation_settings(session, connection_id).digest_channel_id
                       or connection.workspace.digest_channel_id)
            workspace_id = connection.workspace_id
            view = self._view(session, connection_id, run_date)
        if view is None or not view.emails:
            return "nothing to send"
        if team == CLI_WORKSPACE_TEAM_ID or not channel:
            return "no channel"
        card = self._cards.post_forewarn(team, channel, view)
        with session_scope(self._sessions) as session:
            record_audit(
                session, action="forewarn.posted", actor="scheduler", at=self._clock(),
                workspace_id=workspace_id, connection_id=connection_id,
                detail={"run_date": run_date.isoformat(), "emails": view.emails,
                        "channel": card.channel_id, "ts": card.ts},
            )
        return "posted"

    # Skipping ---------------------------------------------------------------------------

    def skip(self, connection_id: int, contact_id: int, run_date: date, actor: Actor
             ) -> SkipResult:
        """Hold back everything the run on `run_date` would send this customer (audited)."""
        now = self._clock()
        user_id = actor.user_id
        try:  # the digest's rule: anyone, unless the organisation narrows buttons to admins
            self._permissions.require(actor, Capability.USE_BUTTONS, connection_id=connection_id)
        except NotAllowed as refused:
            return SkipResult(False, refused.message)
        with session_scope(self._sessions) as session:
            connection = session.get(XeroConnection, connection_id)
            if connection is None:
                return SkipResult(False, messages.plain(messages.ESCALATION_UNKNOWN))
            plan, opens = self._plan_for(session, connection_id, run_date)
            if plan is None or now >= opens:
                return SkipResult(False, messages.plain(messages.FOREWARN_SKIP_TOO_LATE))
            emails = [email for email in plan.emails if email.contact_id == contact_id]
            rows = [
                {"connection_id": connection_id, "invoice_id": line.invoice_id,
                 "contact_id": contact_id, "step_key": line.step_key,
                 "schedule_id": email.schedule_id, "step_on": line.step_on,
                 "template": email.template, "grouped": email.grouped,
                 "escalated": email.escalated, "message_id": None,
                 "sender": email.sender.email, "recipients": list(email.recipients),
                 "amount_due": line.amount_due, "currency_code": line.currency or None,
                 "actor": user_id, "claimed_at": now}
                for email in emails for line in email.invoices
            ]
            ledger.claim(session, rows, state=ReminderState.SKIPPED,
                         reclaim_from=(ReminderState.FAILED, ReminderState.APPROVED))
            record_skip(session, connection_id=connection_id, contact_id=contact_id,
                        run_date=run_date, by=user_id, now=now)
            contact = session.get(Contact, contact_id)
            customer = (contact.name if contact else None) or "?"
            record_audit(
                session, action="forewarn.skipped", actor=user_id, at=now,
                workspace_id=connection.workspace_id, connection_id=connection_id,
                detail={"contact_id": contact_id, "customer": customer,
                        "run_date": run_date.isoformat(),
                        "invoices": [{"invoice_id": line.invoice_id, "number": line.number,
                                      "step": line.step_key}
                                     for email in emails for line in email.invoices]},
            )
            session.flush()
            view = self._view(session, connection_id, run_date)
        return SkipResult(True, messages.plain(messages.FOREWARN_SKIP_DONE.format(
            customer=customer, run_date=run_date.isoformat())), view)

    def update(self, team_id: str, card: CardRef, view: ForewarnView) -> None:
        """Show the forewarn again in place (after a skip)."""
        self._cards.update_forewarn(team_id, card, view)
