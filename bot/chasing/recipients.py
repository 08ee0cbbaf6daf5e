"""Escalated recipients: the one service that chooses, per customer, who escalations go to.

Normal reminders go to the addresses Xero marks for sending; escalated ones go to the
addresses chosen here (an existing address of the customer, or a new one kept locally that
sync never deletes). Choosing is for admins; every change is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email

from bot import messages
from bot.chasing.permissions import Actor, Capability, Permissions
from bot.errors import BadInput, NotFound
from storage.audit import record_audit
from storage.db import session_scope
from storage.models import Contact, XeroConnection
from storage.recipients import escalated_addresses, set_escalated_addresses

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

# A customer's escalations go to a few people (a director, accounts payable's manager).
MAX_ESCALATED = 10


class BadEmail(BadInput):
    """An address that cannot receive email, said in one line."""

    code = "bad_email"


@dataclass(frozen=True)
class RecipientsOutcome:
    """The customer's escalated recipients after a change, for the reply."""

    connection_id: int
    organisation: str
    customer: str
    escalated: tuple[str, ...]
    changed: bool


def parse_addresses(values: Iterable[str]) -> list[str]:
    """Addresses from options or "a@b.example, c@d.example" text, checked and de-duplicated.

    email-validator checks the syntax only (no DNS: a customer's domain may be offline when
    chosen); the domain part comes back normalised (lower case, IDNA).
    """
    found: dict[str, str] = {}
    for value in values:
        for part in value.replace(";", ",").split(","):
            address = part.strip().strip("<>")
            if not address:
                continue
            if address.startswith("mailto:"):  # Slack turns typed addresses into mailto links
                address = address.removeprefix("mailto:").split("|")[-1]
            try:
                normalised = validate_email(address, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                raise BadEmail(messages.bad_email(address, str(exc))) from None
            found.setdefault(normalised.lower(), normalised)
    if len(found) > MAX_ESCALATED:
        raise BadEmail(messages.too_many_escalated(MAX_ESCALATED))
    return list(found.values())


def sender_address(text: str) -> str:
    """A sender's Reply-To address, checked as `parse_addresses` checks recipients."""
    address = text.strip().strip("<>").removeprefix("mailto:").split("|")[-1]
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadEmail(messages.bad_email(address, str(exc))) from None


class EscalatedRecipients:
    """Show, set and clear a customer's escalated recipients."""

    def __init__(self, session_factory: sessionmaker[Session], permissions: Permissions,
                 clock: Callable[[], datetime]) -> None:
        self._session_factory = session_factory
        self._permissions = permissions
        self._clock = clock

    def escalated(self, contact_id: int) -> list[str]:
        """The customer's escalated recipients (none chosen: escalations go to the normal ones)."""
        with session_scope(self._session_factory) as session:
            return escalated_addresses(session, contact_id)

    def choose(self, actor: Actor, contact_id: int, emails: Iterable[str]) -> RecipientsOutcome:
        """Make `emails` the customer's escalated recipients (checked; admins only)."""
        addresses = parse_addresses(emails)
        if not addresses:
            raise BadEmail(messages.NO_ESCALATED_GIVEN)
        return self._set(actor, contact_id, addresses)

    def clear(self, actor: Actor, contact_id: int) -> RecipientsOutcome:
        """No escalated recipients: escalations go to the normal ones again (admins only)."""
        return self._set(actor, contact_id, [])

    def _set(self, actor: Actor, contact_id: int, addresses: list[str]) -> RecipientsOutcome:
        with session_scope(self._session_factory) as session:
            contact = session.get(Contact, contact_id)
            if contact is None:
                raise NotFound(messages.NOT_IN_CHASER)
            connection_id = contact.connection_id
        self._permissions.require(actor, Capability.CHOOSE_RECIPIENTS,
                                  connection_id=connection_id)
        with session_scope(self._session_factory) as session:
            contact = session.get(Contact, contact_id, with_for_update=True)
            if contact is None:
                raise NotFound(messages.NOT_IN_CHASER)
            connection = session.get(XeroConnection, contact.connection_id)
            assert connection is not None
            before = escalated_addresses(session, contact_id)
            after = set_escalated_addresses(session, contact_id, addresses)
            changed = [a.lower() for a in before] != [a.lower() for a in after]
            if changed:
                record_audit(session, action="contact.escalated_recipients", actor=actor.user_id,
                             workspace_id=connection.workspace_id, connection_id=connection.id,
                             detail={"contact_id": contact.id, "customer": contact.name,
                                     "before": before, "after": after},
                             at=self._clock())
            return RecipientsOutcome(connection.id, connection.tenant_name or connection.tenant_id,
                                     contact.name or "", tuple(after), changed)
