"""Bulk upserts of synced contacts and invoices with each database's native ON CONFLICT."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Contact, ContactEmail, EmailRole, ExpectedDateSource, Invoice

# Rows per executemany call: bounds memory and statement time, not parameter counts
# (executemany binds one row at a time, so SQLite's 32,766-variable limit never applies).
UPSERT_CHUNK_ROWS = 5_000
# Parameters per IN (...) lookup, well under SQLite's limit.
LOOKUP_CHUNK = 500

_NEVER_SYNCED = {"id", "connection_id", "synced_at"}
CONTACT_LOCAL_COLUMNS = frozenset({"chasing_paused"})
INVOICE_LOCAL_COLUMNS = frozenset(
    {
        "contact_id",  # resolved here from xero_contact_id
        "expected_payment_date_source",
        "expected_payment_date_reason",
        "chasing_paused",
        "chasing_paused_until",
        "chasing_paused_reason",
    }
)


def _chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _synced_columns(table: Table, local: frozenset[str]) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if c.name not in _NEVER_SYNCED | local)


CONTACT_SYNC_COLUMNS = _synced_columns(Contact.__table__, CONTACT_LOCAL_COLUMNS)
INVOICE_SYNC_COLUMNS = _synced_columns(Invoice.__table__, INVOICE_LOCAL_COLUMNS)


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _defaults(table: Table, columns: Sequence[str]) -> dict[str, Any]:
    # Every row of an executemany must bind the same keys; a missing boolean means "no".
    return {name: (False if table.c[name].type.python_type is bool else None) for name in columns}


def _normalize(
    rows: Iterable[dict[str, Any]], table: Table, columns: Sequence[str], key: str
) -> list[dict[str, Any]]:
    allowed = set(columns)
    defaults = _defaults(table, columns)
    normalized = []
    for row in rows:
        unknown = row.keys() - allowed
        if unknown:
            raise ValueError(f"{table.name} upsert got columns it may not set: {sorted(unknown)}")
        if not row.get(key):
            raise ValueError(f"{table.name} upsert row without {key}")
        normalized.append({**defaults, **row})
    return normalized


def _execute_in_chunks(session: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
    session.flush()
    for chunk in _chunks(rows, UPSERT_CHUNK_ROWS):
        session.execute(statement, chunk)
    # The upsert bypassed the ORM: make already-loaded objects reload their new values.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Contact | Invoice):
            session.expire(obj)


def upsert_contacts(
    session: Session,
    connection_id: int,
    rows: Sequence[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> int:
    """Insert or update contacts by (connection_id, xero_contact_id); returns rows written.

    Each row is the whole synced record keyed by column name (see CONTACT_SYNC_COLUMNS);
    a missing key is stored as empty. Local state (chasing_paused) is never touched.
    """
    if not rows:
        return 0
    table = Contact.__table__
    synced_at = now or datetime.now(UTC)
    values = [
        {**row, "connection_id": connection_id, "synced_at": synced_at}
        for row in _normalize(rows, table, CONTACT_SYNC_COLUMNS, "xero_contact_id")
    ]
    statement = _insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["connection_id", "xero_contact_id"],
        set_={name: statement.excluded[name] for name in (*CONTACT_SYNC_COLUMNS, "synced_at")},
    )
    _execute_in_chunks(session, statement, values)
    return len(values)


def contact_ids_by_xero_id(
    session: Session, connection_id: int, xero_contact_ids: Iterable[str]
) -> dict[str, int]:
    """Map Xero ContactIDs to contacts.id for one connection (unknown ids are left out)."""
    wanted = sorted({xero_id for xero_id in xero_contact_ids if xero_id})
    found: dict[str, int] = {}
    for chunk in _chunks(wanted, LOOKUP_CHUNK):
        statement = select(Contact.xero_contact_id, Contact.id).where(
            Contact.connection_id == connection_id, Contact.xero_contact_id.in_(chunk)
        )
        found.update({xero_id: pk for xero_id, pk in session.execute(statement)})
    return found


def upsert_invoices(
    session: Session,
    connection_id: int,
    rows: Sequence[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> int:
    """Insert or update invoices by (connection_id, xero_invoice_id); returns rows written.

    Each row is the whole synced record keyed by column name (see INVOICE_SYNC_COLUMNS).
    contact_id is resolved from xero_contact_id (upsert contacts first). Local state is
    never overwritten: chasing pauses, and an expected payment date whose source is
    "local" (Xero refused it) survives whatever Xero sends until the app clears it.
    """
    if not rows:
        return 0
    table = Invoice.__table__
    normalized = _normalize(rows, table, INVOICE_SYNC_COLUMNS, "xero_invoice_id")
    contacts = contact_ids_by_xero_id(
        session, connection_id, (r["xero_contact_id"] for r in normalized)
    )
    synced_at = now or datetime.now(UTC)
    values = [
        {
            **row,
            "connection_id": connection_id,
            "contact_id": contacts.get(row["xero_contact_id"]),
            "expected_payment_date_source": (
                ExpectedDateSource.XERO.value if row["expected_payment_date"] else None
            ),
            "synced_at": synced_at,
        }
        for row in normalized
    ]
    statement = _insert(session, table)
    incoming = statement.excluded
    is_local = table.c.expected_payment_date_source == ExpectedDateSource.LOCAL.value

    def keep_local(name: str) -> Any:
        return case((is_local, table.c[name]), else_=incoming[name])

    update = {name: incoming[name] for name in (*INVOICE_SYNC_COLUMNS, "synced_at", "contact_id")}
    update["expected_payment_date"] = keep_local("expected_payment_date")
    update["expected_payment_date_source"] = keep_local("expected_payment_date_source")
    update["expected_payment_date_reason"] = keep_local("expected_payment_date_reason")
    statement = statement.on_conflict_do_update(
        index_elements=["connection_id", "xero_invoice_id"], set_=update
    )
    _execute_in_chunks(session, statement, values)
    return len(values)


def replace_contact_emails(
    session: Session, contact_id: int, emails: Sequence[dict[str, Any]]
) -> list[ContactEmail]:
    """Make a contact's addresses exactly `emails` (dicts of ContactEmail fields).

    Addresses compare case-insensitively. An address that stays keeps its role unless the
    dict gives one, so an escalation set in the app survives a sync.
    """
    existing = {
        row.email.lower(): row
        for row in session.scalars(
            select(ContactEmail).where(ContactEmail.contact_id == contact_id)
        )
    }
    wanted: dict[str, dict[str, Any]] = {}
    for email in emails:
        address = email["email"].strip()
        wanted.setdefault(address.lower(), {**email, "email": address})
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)
    session.flush()  # deletes first, so a re-cased address cannot hit the unique constraint
    result = []
    for key, fields in wanted.items():
        row = existing.get(key)
        if row is None:
            row = ContactEmail(contact_id=contact_id, role=EmailRole.NORMAL)
            session.add(row)
        for name, value in fields.items():
            setattr(row, name, value)
        result.append(row)
    session.flush()
    return result
