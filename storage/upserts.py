"""Bulk upserts of synced contacts and invoices with each database's native ON CONFLICT."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Table, insert, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from storage.models import (
    Contact,
    ContactEmail,
    EmailRole,
    EmailSource,
    ExpectedDateSource,
    Invoice,
)
from storage.types import bulk_bind_processor, bulk_column_processor

# Rows per executemany call: bounds memory and statement time, not parameter counts
# (executemany binds one row at a time, so SQLite's 32,766-variable limit never applies).
UPSERT_CHUNK_ROWS = 5_000
# Parameters per IN (...) lookup, well under SQLite's limit.
LOOKUP_CHUNK = 500

# The columns that mirror Xero, named one by one: a sync writes these (and the few the
# upserts below set themselves: contact_id, synced_at, the expected date's source) and
# nothing else. Every other column is the app's own (pauses, disputes) and survives every
# sync; a column added later stays the app's until it is named here. Derived as "every
# column but the app's", each new column of the app's was reset by every sync.
CONTACT_SYNC_COLUMNS = (
    "xero_contact_id",
    "name",
    "first_name",
    "last_name",
    "account_number",
    "contact_status",
    "merged_to_xero_contact_id",
    "is_customer",
    "phones",
    "addresses",
    "default_currency",
    "updated_date_utc",
)
INVOICE_SYNC_COLUMNS = (
    "xero_invoice_id",
    "invoice_number",
    "reference",
    "type",
    "xero_contact_id",
    "date",
    "due_date",
    "status",
    "currency_code",
    "currency_rate",
    "sub_total",
    "total_tax",
    "total",
    "amount_due",
    "amount_paid",
    "amount_credited",
    "fully_paid_on_date",
    "sent_to_contact",
    "has_payments",
    "has_credit_notes",
    "has_prepayments",
    "has_overpayments",
    "updated_date_utc",
    "expected_payment_date",
)
# An expected date the app holds locally (Xero refused it) outlives whatever Xero sends.
_KEEP_WHEN_LOCAL = (
    "expected_payment_date",
    "expected_payment_date_source",
    "expected_payment_date_reason",
)


def _chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class _BulkUpsert:
    """One table's upsert as plain SQL, fed rows already in the database's native form.

    Why not `session.execute(insert(...).on_conflict_do_update(...), rows)`: SQLAlchemy then
    builds a parameter dict per row and runs each column's processors through its generic
    machinery, which cost more CPU than SQLite's own work (about 50 ms per 1,000 invoices).
    Here values are converted a column at a time with the conversions the column types
    define (storage.types.bulk_column_processor: money, UTC datetimes, JSON and enums are
    stored exactly as before), constants once per batch, and the driver's executemany gets
    plain tuples (psycopg pipelines them).
    """

    def __init__(
        self,
        table: Table,
        dialect: Dialect,
        *,
        per_row: Sequence[str],
        constant: Sequence[str],
        key: tuple[str, ...],
        update: Sequence[str],
        looked_up: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
    ) -> None:
        """`looked_up`: columns computed in SQL, as (expression with {} markers, their names)."""
        self._per_row, self._constant = tuple(per_row), tuple(constant)
        looked_up = looked_up or {}
        self._columns = {
            name: bulk_column_processor(table.c[name].type, dialect) for name in per_row
        }
        self._processors = {
            name: bulk_bind_processor(table.c[name].type, dialect) for name in constant
        }
        quote = dialect.identifier_preparer.quote
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        table_name = quote(table.name)
        columns = (*per_row, *constant, *looked_up)
        expressions: list[str] = []
        self._params: list[str] = []  # the column whose value each marker binds
        for name in columns:
            template, names = looked_up.get(name, ("{}", (name,)))
            expressions.append(template.format(*[marker] * len(names)))
            self._params.extend(names)

        def assignment(name: str) -> str:
            column = quote(name)
            if name not in _KEEP_WHEN_LOCAL:
                return f"{column} = excluded.{column}"
            source = quote("expected_payment_date_source")
            local = ExpectedDateSource.LOCAL.value  # a constant of ours: safe to inline
            return (
                f"{column} = CASE WHEN {table_name}.{source} = '{local}' "
                f"THEN {table_name}.{column} ELSE excluded.{column} END"
            )

        # ON CONFLICT ... DO UPDATE reads the old row in every SET expression on both
        # SQLite and PostgreSQL, so the CASEs see the source from before this update.
        self.sql = (
            f"INSERT INTO {table_name} ({', '.join(map(quote, columns))}) "
            f"VALUES ({', '.join(expressions)}) "
            f"ON CONFLICT ({', '.join(map(quote, key))}) DO UPDATE SET "
            + ", ".join(assignment(name) for name in update)
        )

    def native_rows(
        self, rows: Sequence[Sequence[Any]], constants: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """Driver-ready tuples from rows (values in `per_row` order) and the batch's constants."""
        columns: dict[str, Iterable[Any]] = {}
        try:
            for name, values in zip(self._per_row, zip(*rows, strict=True), strict=True):
                convert = self._columns[name]
                columns[name] = values if convert is None else convert(values)
            for name, value in zip(self._constant, constants, strict=True):
                process = self._processors[name]
                columns[name] = repeat(value if process is None else process(value))
        except (TypeError, ValueError, ArithmeticError) as exc:
            # The error SQLAlchemy itself raises for a value a column type refuses.
            raise StatementError(f"({type(exc).__name__}) {exc}", self.sql, None, exc) from exc
        # zip stops at the shortest column: the per-row ones (repeat never ends).
        return list(zip(*(columns[name] for name in self._params), strict=False))


_UPSERTS: dict[tuple[str, str], _BulkUpsert] = {}


def _contact_upsert(dialect: Dialect) -> _BulkUpsert:
    found = _UPSERTS.get(("contacts", dialect.name))
    if found is None:
        found = _UPSERTS[("contacts", dialect.name)] = _BulkUpsert(
            Contact.__table__,
            dialect,
            per_row=CONTACT_SYNC_COLUMNS,
            constant=("connection_id", "synced_at"),
            key=("connection_id", "xero_contact_id"),
            update=(*CONTACT_SYNC_COLUMNS, "synced_at"),
        )
    return found


# Set on every upserted invoice besides its synced columns.
_INVOICE_PER_ROW = (*INVOICE_SYNC_COLUMNS, "expected_payment_date_source")
_INVOICE_CONSTANT = ("connection_id", "expected_payment_date_reason", "synced_at")
# Resolved inside the upsert, where SQLite/PostgreSQL do it with one index probe per row,
# instead of a Python round trip of IN (...) queries per page.
_CONTACT_ID_LOOKUP = (
    "(SELECT id FROM contacts WHERE connection_id = {} AND xero_contact_id = {})",
    ("connection_id", "xero_contact_id"),
)


def _invoice_upsert(dialect: Dialect) -> _BulkUpsert:
    found = _UPSERTS.get(("invoices", dialect.name))
    if found is None:
        found = _UPSERTS[("invoices", dialect.name)] = _BulkUpsert(
            Invoice.__table__,
            dialect,
            per_row=_INVOICE_PER_ROW,
            constant=_INVOICE_CONSTANT,
            key=("connection_id", "xero_invoice_id"),
            update=(*_INVOICE_PER_ROW, *_INVOICE_CONSTANT[1:], "contact_id"),
            looked_up={"contact_id": _CONTACT_ID_LOOKUP},
        )
    return found


def _checked_values(
    rows: Iterable[dict[str, Any]], table: Table, columns: Sequence[str], key: str
) -> list[tuple[Any, ...]]:
    """Each row's values in `columns` order; a missing boolean means "no", anything else empty."""
    allowed = set(columns)
    # Every row of an executemany must bind every column.
    defaults = {
        name: (False if table.c[name].type.python_type is bool else None) for name in columns
    }
    pick = itemgetter(*columns)
    width = len(columns)
    checked = []
    for row in rows:
        if not row.keys() <= allowed:
            unknown = sorted(row.keys() - allowed)
            raise ValueError(f"{table.name} upsert got columns it may not set: {unknown}")
        if not row.get(key):
            raise ValueError(f"{table.name} upsert row without {key}")
        # A complete row (what the sync's mapping builds) needs no defaults merged in.
        checked.append(pick(row) if len(row) == width else pick({**defaults, **row}))
    return checked


def _execute_in_chunks(session: Session, sql: str, rows: list[tuple[Any, ...]]) -> None:
    session.flush()
    connection = session.connection()
    for chunk in _chunks(rows, UPSERT_CHUNK_ROWS):
        connection.exec_driver_sql(sql, chunk)
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
    a missing key is stored as empty. The app's own columns (pauses) are never touched.
    """
    if not rows:
        return 0
    table = Contact.__table__
    upsert = _contact_upsert(session.get_bind().dialect)
    synced_at = now or datetime.now(UTC)
    checked = _checked_values(rows, table, CONTACT_SYNC_COLUMNS, "xero_contact_id")
    values = upsert.native_rows(checked, (connection_id, synced_at))
    _execute_in_chunks(session, upsert.sql, values)
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
    contact_id is resolved from xero_contact_id (upsert contacts first). The app's own
    columns are never overwritten: chasing pauses, disputes, and an expected payment date
    whose source is "local" (Xero refused it) survives whatever Xero sends until the app
    clears it.
    """
    if not rows:
        return 0
    table = Invoice.__table__
    upsert = _invoice_upsert(session.get_bind().dialect)
    expected_at = INVOICE_SYNC_COLUMNS.index("expected_payment_date")
    xero = ExpectedDateSource.XERO.value
    per_row = [
        (*synced, xero if synced[expected_at] else None)
        for synced in _checked_values(rows, table, INVOICE_SYNC_COLUMNS, "xero_invoice_id")
    ]
    # expected_payment_date_reason: only the app writes one, always with source "local".
    values = upsert.native_rows(per_row, (connection_id, None, now or datetime.now(UTC)))
    _execute_in_chunks(session, upsert.sql, values)
    return len(values)


def add_contact_emails(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new addresses (dicts of ContactEmail fields) in one executemany."""
    if rows:
        session.execute(insert(ContactEmail), list(rows))


def replace_contact_emails(
    session: Session, contact_id: int, emails: Sequence[dict[str, Any]]
) -> list[ContactEmail]:
    """Make a contact's addresses exactly `emails` (dicts of ContactEmail fields).

    Addresses compare case-insensitively. An address that stays keeps its role unless the
    dict gives one, so an escalation set in the app survives a sync. An escalated address
    Xero no longer has is kept as a `local` one (no longer a normal recipient): escalated
    recipients are chosen in the app, and only the app removes them.
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
        if key in wanted:
            continue
        if row.role == EmailRole.ESCALATED:
            row.source, row.include_in_emails = EmailSource.LOCAL, False
        else:
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
