"""The audit trail: who did what to which workspace, connection, invoice or customer, and when."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from storage.models import AuditEntry, AuditSubject


def _ints(values: Any) -> Iterator[int]:
    for value in values if isinstance(values, list | tuple | set) else [values]:
        if isinstance(value, int) and not isinstance(value, bool):
            yield value


def subjects_of(detail: Mapping[str, Any] | None) -> tuple[set[int], set[int]]:
    """The invoice and contact ids an entry's detail names.

    The one convention every writer follows: `invoice_id`, `invoice_ids`, `invoices` (a list of
    objects with an `invoice_id`) and `contact_id`, `contact_ids`.
    """
    if not detail:
        return set(), set()
    invoices = set(_ints(detail.get("invoice_id"))) | set(_ints(detail.get("invoice_ids")))
    for item in detail.get("invoices") or ():
        if isinstance(item, Mapping):
            invoices.update(_ints(item.get("invoice_id")))
    contacts = set(_ints(detail.get("contact_id"))) | set(_ints(detail.get("contact_ids")))
    return invoices, contacts


def record_audit(
    session: Session,
    *,
    action: str,
    actor: str,
    workspace_id: int | None = None,
    connection_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one audit entry (never put secrets in `detail`), indexed by the invoices and
    customers its detail names so their trail is one lookup."""
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        action=action,
        actor=actor,
        workspace_id=workspace_id,
        connection_id=connection_id,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    invoices, contacts = subjects_of(detail)
    session.add_all(
        [AuditSubject(audit_id=entry.id, invoice_id=i) for i in sorted(invoices)]
        + [AuditSubject(audit_id=entry.id, contact_id=c) for c in sorted(contacts)]
    )
    if invoices or contacts:
        session.flush()
    return entry


def latest_audit(
    session: Session,
    *,
    connection_id: int | None = None,
    invoice_id: int | None = None,
    contact_id: int | None = None,
    invoice_ids: Sequence[int] = (),
    actions: tuple[str, ...] | None = None,
    limit: int = 10,
) -> list[AuditEntry]:
    """The newest entries first, optionally only some actions, of:
    - an invoice (or any of `invoice_ids`): entries naming it, plus (with `contact_id`) its
      customer's entries that name no invoice, such as a customer pause;
    - a customer (`contact_id` alone): every entry naming it;
    - a whole connection."""
    statement = select(AuditEntry)
    about = []
    invoices = [*invoice_ids, *([invoice_id] if invoice_id is not None else [])]
    if invoices:
        about.append(AuditSubject.invoice_id.in_(invoices))
        if contact_id is not None:
            other = aliased(AuditSubject)
            names_invoices = (
                select(other.id)
                .where(other.audit_id == AuditSubject.audit_id, other.invoice_id.is_not(None))
                .exists()
            )
            about.append(and_(AuditSubject.contact_id == contact_id, ~names_invoices))
    elif contact_id is not None:
        about.append(AuditSubject.contact_id == contact_id)
    if about:
        subjects = select(AuditSubject.audit_id).where(or_(*about))
        statement = statement.where(AuditEntry.id.in_(subjects))
    if connection_id is not None:
        statement = statement.where(AuditEntry.connection_id == connection_id)
    if actions:
        statement = statement.where(AuditEntry.action.in_(actions))
    statement = statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return list(session.scalars(statement))
