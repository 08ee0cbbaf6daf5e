"""What the digest's buttons do: one service per click, then the message is updated in place.

Pause, resume, dispute and resolve go through ChasingControls (permission, change and audit in
one place); the date picker goes through the expected-date write-back. After each change the
posted digest is re-rendered with chat.update, on the page it was showing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot import messages
from bot.chasing.controls import ChasingControls, ControlOutcome
from bot.chasing.digest_post import DigestPoster
from bot.chasing.expected_dates import ExpectedDateOutcome
from bot.chasing.permissions import Actor, Capability, Permissions
from bot.chasing.ports import PostedMessage, PublishFailed
from bot.chasing.receivables import org_today
from bot.errors import NotFound, UserFacingError
from storage import repositories
from storage.db import session_scope
from storage.models import Invoice

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# (connection id, local invoice id, date or None, actor) -> where the date now lives.
WriteBack = Callable[[int, int, date | None, str], ExpectedDateOutcome]


class ExpectedDateInPast(UserFacingError):
    """An expected payment date before the organisation's today."""

    code = "bad_date"


@dataclass(frozen=True)
class InvoiceSummary:
    """What the dispute modal shows about the invoice."""

    connection_id: int
    invoice_number: str | None
    customer: str | None


class DigestActions:
    """Carries out a click on a posted digest and refreshes that message."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        controls: ChasingControls,
        permissions: Permissions,
        poster: DigestPoster,
        write_back: WriteBack,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._controls = controls
        self._permissions = permissions
        self._poster = poster
        self._write_back = write_back

    # Buttons -----------------------------------------------------------------------------------

    def pause(self, actor: Actor, invoice_id: int, message: PostedMessage | None) -> ControlOutcome:
        """Stop chasing one invoice (until resumed)."""
        outcome = self._controls.pause_invoice(actor, invoice_id)
        self.refresh(message)
        return outcome

    def resume(self, actor: Actor, invoice_id: int,
               message: PostedMessage | None) -> ControlOutcome:
        """Chase one invoice again."""
        outcome = self._controls.resume_invoice(actor, invoice_id)
        self.refresh(message)
        return outcome

    def dispute(self, actor: Actor, invoice_id: int, reason: str,
                message: PostedMessage | None) -> ControlOutcome:
        """Mark an invoice disputed with the reason the person gave."""
        outcome = self._controls.dispute_invoice(actor, invoice_id, reason=reason)
        self.refresh(message)
        return outcome

    def resolve(self, actor: Actor, invoice_id: int,
                message: PostedMessage | None) -> ControlOutcome:
        """End an invoice's dispute: it is chased again."""
        outcome = self._controls.resolve_dispute(actor, invoice_id)
        self.refresh(message)
        return outcome

    def may_dispute(self, actor: Actor, invoice_id: int) -> InvoiceSummary:
        """Check the person may mark disputes before the modal asks them why (NotAllowed)."""
        summary = self.invoice(invoice_id)
        self._permissions.require(actor, Capability.USE_BUTTONS,
                                  connection_id=summary.connection_id)
        return summary

    def set_expected_date(self, actor: Actor, connection_id: int, invoice_id: int,
                          chosen: date, message: PostedMessage | None) -> ExpectedDateOutcome:
        """Write an expected payment date back to Xero (or keep it here when Xero refuses).

        Dates before the organisation's today are refused: a promise to pay is in the future.
        """
        self._permissions.require(actor, Capability.USE_BUTTONS, connection_id=connection_id)
        with session_scope(self._session_factory) as session:
            connection = repositories.get_connection(session, connection_id)
            if connection is None:
                raise NotFound(messages.not_connected())
            today = org_today(self._clock(), connection.timezone)
        if chosen < today:
            raise ExpectedDateInPast(messages.expected_date_in_past(chosen.isoformat()))
        outcome = self._write_back(connection_id, invoice_id, chosen, actor.user_id)
        self.refresh(message)
        return outcome

    def show_page(self, page: int, message: PostedMessage) -> None:
        """Show another page of the digest's overdue invoices ("Show more")."""
        self.refresh(message, page=page)

    # Helpers -----------------------------------------------------------------------------------

    def invoice(self, invoice_id: int) -> InvoiceSummary:
        """The invoice's organisation, number and customer (NotFound when it is gone)."""
        with session_scope(self._session_factory) as session:
            invoice = session.get(Invoice, invoice_id)
            if invoice is None:
                raise NotFound(messages.NOT_IN_CHASER)
            return InvoiceSummary(invoice.connection_id, invoice.invoice_number,
                                  invoice.contact.name if invoice.contact else None)

    def refresh(self, message: PostedMessage | None, *, page: int | None = None) -> None:
        """Re-render the digest in `message` (a no-op when the click came from elsewhere)."""
        if message is None:
            return
        try:
            self._poster.refresh(message.channel_id, message.ts, page=page)
        except PublishFailed as exc:  # the change is made; only the picture is stale
            log.warning("could not update the digest %s/%s: %s", message.channel_id,
                        message.ts, exc.reason)
