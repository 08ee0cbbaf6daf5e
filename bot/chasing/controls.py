"""Pause, resume and dispute: the one service /chaser and the digest's buttons both call.

Each change checks the actor's permission (bot/chasing/permissions.py), changes the local-only
columns sync never writes, and records the audit entry in the same transaction. Pausing all
chasing is for admins; pausing a customer or an invoice and marking disputes follow the digest
buttons' rule (everyone, unless the organisation narrows it to admins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

from bot import messages
from bot.chasing.permissions import Actor, Capability, Permissions
from bot.chasing.receivables import org_today
from bot.errors import NotFound, UserFacingError
from storage.audit import record_audit
from storage.db import session_scope
from storage.models import Contact, Invoice, XeroConnection
from storage.settings import organisation_settings, update_organisation_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


_Row = TypeVar("_Row", Contact, Invoice)


class BadPauseDate(UserFacingError):
    """A pause may only last until a day after today."""

    code = "bad_date"


@dataclass(frozen=True)
class ControlOutcome:
    """What changed, for the reply: the organisation, who or what, and the new state."""

    connection_id: int
    tenant_name: str
    subject: str  # "all chasing", a customer's name or an invoice number
    paused: bool
    until: date | None = None
    changed: bool = True  # False when it was already in that state


class ChasingControls:
    """Pause/resume an organisation, a customer or an invoice; dispute and resolve invoices."""

    def __init__(self, session_factory: sessionmaker[Session], permissions: Permissions,
                 clock: Callable[[], datetime]) -> None:
        self._session_factory = session_factory
        self._permissions = permissions
        self._clock = clock

    # The whole organisation --------------------------------------------------------------

    def pause_account(self, actor: Actor, connection_id: int, *, until: date | None = None,
                      reason: str | None = None) -> ControlOutcome:
        """Stop all chasing for the organisation (until `until`, when given)."""
        self._permissions.require(actor, Capability.PAUSE_ALL, connection_id=connection_id)
        with session_scope(self._session_factory) as session:
            connection = self._connection(session, connection_id)
            self._check_until(until, connection)
            update_organisation_settings(session, connection_id, by=actor.user_id,
                                         now=self._clock(), chasing_paused=True,
                                         chasing_paused_until=until,
                                         chasing_paused_reason=reason)
            self._audit(session, actor, connection, "account.paused",
                        {"until": until.isoformat() if until else None, "reason": reason})
            return ControlOutcome(connection_id, _name(connection), messages.ALL_CHASING, True,
                                  until)

    def resume_account(self, actor: Actor, connection_id: int) -> ControlOutcome:
        """Chase the organisation again."""
        self._permissions.require(actor, Capability.PAUSE_ALL, connection_id=connection_id)
        with session_scope(self._session_factory) as session:
            connection = self._connection(session, connection_id)
            was_paused = organisation_settings(session, connection_id).chasing_paused
            update_organisation_settings(session, connection_id, by=actor.user_id,
                                         now=self._clock(), chasing_paused=False,
                                         chasing_paused_until=None, chasing_paused_reason=None)
            if was_paused:
                self._audit(session, actor, connection, "account.resumed", {})
            return ControlOutcome(connection_id, _name(connection), messages.ALL_CHASING, False,
                                  changed=was_paused)

    # One customer ------------------------------------------------------------------------

    def pause_contact(self, actor: Actor, contact_id: int, *, until: date | None = None,
                      reason: str | None = None) -> ControlOutcome:
        """Stop chasing one customer's invoices (until `until`, when given)."""
        return self._set_contact(actor, contact_id, paused=True, until=until, reason=reason)

    def resume_contact(self, actor: Actor, contact_id: int) -> ControlOutcome:
        return self._set_contact(actor, contact_id, paused=False)

    def _set_contact(self, actor: Actor, contact_id: int, *, paused: bool,
                     until: date | None = None, reason: str | None = None) -> ControlOutcome:
        return self._set_pause(actor, Contact, contact_id, "contact", paused=paused, until=until,
                               reason=reason)

    # One invoice -------------------------------------------------------------------------

    def pause_invoice(self, actor: Actor, invoice_id: int, *, until: date | None = None,
                      reason: str | None = None) -> ControlOutcome:
        return self._set_invoice(actor, invoice_id, paused=True, until=until, reason=reason)

    def resume_invoice(self, actor: Actor, invoice_id: int) -> ControlOutcome:
        return self._set_invoice(actor, invoice_id, paused=False)

    def _set_invoice(self, actor: Actor, invoice_id: int, *, paused: bool,
                     until: date | None = None, reason: str | None = None) -> ControlOutcome:
        return self._set_pause(actor, Invoice, invoice_id, "invoice", paused=paused, until=until,
                               reason=reason)

    def _set_pause(self, actor: Actor, model: type[_Row], row_id: int, kind: str, *,
                   paused: bool, until: date | None, reason: str | None) -> ControlOutcome:
        """Pause or resume one customer or invoice; audited as `<kind>.paused|resumed`."""
        with self._locked(actor, model, row_id) as (session, row, connection):
            if paused:
                self._check_until(until, connection)
            changed = _apply_pause(row, paused=paused, until=until, reason=reason)
            if changed:
                self._audit(session, actor, connection,
                            f"{kind}.paused" if paused else f"{kind}.resumed",
                            {**_detail(row), "until": until.isoformat() if until else None,
                             "reason": reason})
            return ControlOutcome(connection.id, _name(connection), _subject(row),
                                  paused, until if paused else None, changed)

    def dispute_invoice(self, actor: Actor, invoice_id: int, *, reason: str) -> ControlOutcome:
        """Mark an invoice disputed: it is not chased until the dispute is resolved."""
        return self._set_dispute(actor, invoice_id, disputed=True, reason=reason)

    def resolve_dispute(self, actor: Actor, invoice_id: int) -> ControlOutcome:
        return self._set_dispute(actor, invoice_id, disputed=False)

    def _set_dispute(self, actor: Actor, invoice_id: int, *, disputed: bool,
                     reason: str | None = None) -> ControlOutcome:
        with self._locked(actor, Invoice, invoice_id) as (session, invoice, connection):
            new_reason = (reason or "").strip() or None if disputed else None
            # Disputing again with another reason (a digest clicked twice, two people at once)
            # replaces who, why and when, so it is a change and is audited like the first.
            changed = invoice.disputed != disputed or invoice.disputed_reason != new_reason
            if not changed:
                return ControlOutcome(connection.id, _name(connection),
                                      invoice.invoice_number or "", paused=disputed,
                                      changed=False)
            invoice.disputed = disputed
            invoice.disputed_reason = new_reason
            invoice.disputed_by = actor.user_id if disputed else None
            invoice.disputed_at = self._clock() if disputed else None
            self._audit(session, actor, connection,
                        "invoice.disputed" if disputed else "invoice.dispute_resolved",
                        {**_invoice_detail(invoice), "reason": invoice.disputed_reason})
            return ControlOutcome(connection.id, _name(connection), invoice.invoice_number or "",
                                  paused=disputed)

    # Internals ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self, actor: Actor, model: type[_Row], row_id: int,
                ) -> Iterator[tuple[Session, _Row, XeroConnection]]:
        """A customer or invoice row locked for update, once the actor may use the buttons on
        its organisation; yields (session, row, connection) inside one transaction."""
        connection_id = self._owner(model, row_id)
        self._permissions.require(actor, Capability.USE_BUTTONS, connection_id=connection_id)
        with session_scope(self._session_factory) as session:
            row = session.get(model, row_id, with_for_update=True)
            if row is None:  # deleted between the permission check and the lock
                raise NotFound(messages.NOT_IN_CHASER)
            yield session, row, self._connection(session, row.connection_id)

    def _owner(self, model: type[Contact] | type[Invoice], row_id: int) -> int:
        with session_scope(self._session_factory) as session:
            row = session.get(model, row_id)
            if row is None:
                raise NotFound(messages.NOT_IN_CHASER)
            return row.connection_id

    def _connection(self, session: Session, connection_id: int) -> XeroConnection:
        connection = session.get(XeroConnection, connection_id)
        if connection is None:
            raise NotFound(messages.not_connected())
        return connection

    def _check_until(self, until: date | None, connection: XeroConnection) -> None:
        if until is not None and until <= org_today(self._clock(), connection.timezone):
            raise BadPauseDate(messages.pause_until_past(until.isoformat()))

    def _audit(self, session: Session, actor: Actor, connection: XeroConnection, action: str,
               detail: dict[str, object]) -> None:
        record_audit(session, action=action, actor=actor.user_id,
                     workspace_id=connection.workspace_id, connection_id=connection.id,
                     detail={key: value for key, value in detail.items() if value is not None},
                     at=self._clock())


def _name(connection: XeroConnection) -> str:
    return connection.tenant_name or connection.tenant_id


def _subject(row: Contact | Invoice) -> str:
    """How a reply names it: the customer's name or the invoice number."""
    return (row.name if isinstance(row, Contact) else row.invoice_number) or ""


def _detail(row: Contact | Invoice) -> dict[str, object]:
    if isinstance(row, Contact):
        return {"contact_id": row.id, "customer": row.name}
    return _invoice_detail(row)


def _invoice_detail(invoice: Invoice) -> dict[str, object]:
    return {"invoice_id": invoice.id, "invoice_number": invoice.invoice_number,
            "contact_id": invoice.contact_id}


def _apply_pause(row: Contact | Invoice, *, paused: bool, until: date | None,
                 reason: str | None) -> bool:
    """Set a customer's or invoice's pause fields; True when the pause itself changed."""
    changed = row.chasing_paused != paused or (paused and row.chasing_paused_until != until)
    row.chasing_paused = paused
    row.chasing_paused_until = until if paused else None
    row.chasing_paused_reason = reason if paused else None
    return changed
