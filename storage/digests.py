"""Digest storage: streamed receivable facts, invoice details, and posted-digest claims."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Dialect,
    Select,
    and_,
    cast,
    exists,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import (
    Contact,
    ContactEmail,
    DigestMessage,
    DigestStatus,
    ExpectedDateSource,
    Invoice,
    SyncState,
)
from storage.types import ExactDecimal

# Rows fetched per round trip while streaming: memory stays flat at any ledger size.
STREAM_BATCH = 5000
_IN_CHUNK = 500


class FactRow(NamedTuple):
    """What a digest reads about one open invoice, without loading an ORM object."""

    invoice_id: int
    due_date: date | None
    amount_due: Decimal
    currency_code: str | None
    currency_rate: Decimal | None
    expected_payment_date: date | None
    invoice_paused: bool
    invoice_paused_until: date | None
    disputed: bool
    contact_id: int | None


ColumnConversion = Callable[[Sequence[Any]], Sequence[Any]]


def _keep(values: Sequence[Any]) -> Sequence[Any]:
    return values


class _Memo(dict[Any, Any]):
    """Each distinct value converted once; misses go through `convert` (dict.__missing__)."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__({None: None})
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self.convert(value)
        return converted


def _memo(convert: Callable[[Any], Any]) -> ColumnConversion:
    """A column conversion that converts each distinct value once and shares the result.

    For columns with few distinct values (due dates, exchange rates): besides the conversions
    saved, equal values become one object, whose hash Python computes once (a Decimal's or a
    date's hash is cached on the object), and the digest groups rows by them. Hits are a
    C-level dict lookup each."""
    seen = _Memo(convert)
    return lambda values: list(map(seen.__getitem__, values))


def _raw_conversion(column_type: Any, dialect: Dialect, *, repeated: bool) -> ColumnConversion:
    """What SQLAlchemy's result processing does to a column of raw driver values, done for a
    whole column at once (C-level maps, or `_memo` for `repeated` values)."""
    if dialect.name != "sqlite":
        return _memo(lambda value: value) if repeated else _keep  # psycopg converts already
    if isinstance(column_type, ExactDecimal):  # integer units of 10**-scale (storage.types)
        exponent = -column_type.scale
        if repeated:
            return _memo(lambda units: Decimal(units).scaleb(exponent))

        def to_decimal(values: Sequence[int | None]) -> Sequence[Decimal | None]:
            if None in values:
                return [None if v is None else Decimal(v).scaleb(exponent) for v in values]
            return list(map(Decimal.scaleb, map(Decimal, values), repeat(exponent)))

        return to_decimal
    if isinstance(column_type, Date):  # ISO text; a ledger has a few hundred distinct dates
        return _memo(date.fromisoformat)
    if isinstance(column_type, Boolean):
        return lambda values: list(map(bool, values))
    return _keep


def _stream_columns(
    session: Session, statement: Select[Any], repeated: frozenset[str] = frozenset()
) -> Iterator[list[Sequence[Any]]]:
    """Batches of a Core select's rows straight from the driver's cursor, as lists of columns,
    each converted at once as SQLAlchemy would convert it value by value.

    At 100,000 rows SQLAlchemy's per-row Row objects and per-value processors were half the
    digest's CPU time. PostgreSQL streams through a named (server-side) cursor.
    """
    connection = session.connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    arguments: Any = (
        tuple(params[name] for name in compiled.positiontup or ())
        if dialect.positional else params
    )
    conversions = [
        _raw_conversion(column.type, dialect, repeated=column.key in repeated)
        for column in statement.selected_columns
    ]
    driver = connection.connection.dbapi_connection
    assert driver is not None
    cursor = (driver.cursor(name="chaser_stream") if dialect.name == "postgresql"
              else driver.cursor())
    try:
        cursor.execute(str(compiled), arguments)
        # One itemgetter per column: half the time of zip(*batch) over 5,000-row batches.
        getters = [itemgetter(index) for index in range(len(conversions))]
        while batch := cursor.fetchmany(STREAM_BATCH):
            yield [convert(list(map(get, batch)))
                   for convert, get in zip(conversions, getters, strict=True)]
    finally:
        cursor.close()


def receivable_fact_columns(
    session: Session, connection_id: int, *, invoice_type: str, statuses: Sequence[str]
) -> Iterator[list[Sequence[Any]]]:
    """Stream the invoices of a type and status with money owing, in batches of columns in
    FactRow's order (a column of invoice ids, one of due dates, and so on), with the amount due
    in integer units (amount_from_units reads them).

    Columns, not rows: the digest groups rows by their facts with C-level zips over the
    columns, where 100,000 tuples unpacked in Python were a third of its time. Which type and
    statuses are open is the caller's rule. Rows come in storage order.
    """
    connection = Invoice.connection_id
    if session.get_bind().dialect.name == "sqlite":
        # `+ 0` keeps SQLite off ix_invoices_overdue: walking it in due-date order costs a
        # random table lookup per row, ten times slower than scanning the table in rowid
        # order when one organisation owns most rows (benchmarks/digest_build.py).
        connection = connection + 0
    statement = select(
        *(getattr(Invoice, name) if name != "amount_due" else _amount_units(session)
          for name in _FACT_COLUMNS)
    ).where(
        connection == connection_id,
        Invoice.type == invoice_type,
        Invoice.status.in_(list(statuses)),
        Invoice.amount_due > 0,
    )
    yield from _stream_columns(session, statement, _REPEATED)


_AMOUNT_SCALE = Invoice.__table__.c.amount_due.type.scale


def _amount_units(session: Session) -> ColumnElement[int]:
    """Amount due as an integer count of 10**-scale units (what SQLite stores: storage.types)."""
    if session.get_bind().dialect.name == "sqlite":
        return type_coerce(Invoice.amount_due, BigInteger).label("amount_due")
    return cast(Invoice.amount_due * 10**_AMOUNT_SCALE, BigInteger).label("amount_due")


def amount_from_units(units: int) -> Decimal:
    """An amount (or a sum of amounts) of receivable_fact_columns' amount column as a Decimal.

    Integer units sort and add exactly, like the amounts, and several times faster: the
    digest turns only sums and the few amounts it shows into Decimals."""
    return Decimal(units).scaleb(-_AMOUNT_SCALE)


# Columns whose values repeat across a ledger (converted once per distinct value).
_REPEATED = frozenset({"due_date", "currency_code", "currency_rate", "expected_payment_date",
                       "chasing_paused_until"})
# Invoice columns in FactRow's order.
_FACT_COLUMNS = (
    "id", "due_date", "amount_due", "currency_code", "currency_rate", "expected_payment_date",
    "chasing_paused", "chasing_paused_until", "disputed", "contact_id",
)


class ContactFacts(NamedTuple):
    """What chasing reads about a customer: its pause and whether reminders can reach it."""

    paused: bool
    paused_until: date | None
    has_email: bool


def contact_facts(session: Session, connection_id: int) -> dict[int, ContactFacts]:
    """Every contact of the connection: its pause, and whether it has an address reminders may
    go to (include_in_emails)."""
    has_email = (
        exists()
        .where(ContactEmail.contact_id == Contact.id, ContactEmail.include_in_emails.is_(True))
        .label("has_email")
    )
    statement = select(
        Contact.id, Contact.chasing_paused, Contact.chasing_paused_until, has_email
    ).where(Contact.connection_id == connection_id)
    found: dict[int, ContactFacts] = {}
    for ids, paused, until, email in _stream_columns(
        session, statement, frozenset({"chasing_paused_until"})
    ):
        found.update(zip(ids, map(ContactFacts._make, zip(paused, until, email, strict=True)),
                         strict=True))
    return found


class DetailRow(NamedTuple):
    """What a digest line shows about one invoice beyond its facts."""

    invoice_id: int
    xero_invoice_id: str
    invoice_number: str | None
    customer: str | None
    xero_contact_id: str | None
    expected_date_source: ExpectedDateSource | None
    disputed_reason: str | None


def invoice_details(session: Session, invoice_ids: Iterable[int]) -> dict[int, DetailRow]:
    """Number, customer and Xero ids of the given invoices, by local id."""
    ids = list(invoice_ids)
    found: dict[int, DetailRow] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        statement = (
            select(
                Invoice.id,
                Invoice.xero_invoice_id,
                Invoice.invoice_number,
                Contact.name,
                Invoice.xero_contact_id,
                Invoice.expected_payment_date_source,
                Invoice.disputed_reason,
            )
            .outerjoin(Contact, Contact.id == Invoice.contact_id)
            .where(Invoice.id.in_(ids[start : start + _IN_CHUNK]))
        )
        for row in session.execute(statement):
            found[row[0]] = DetailRow._make(row)
    return found


# Posted digests ---------------------------------------------------------------------------


def claim_digest(
    session: Session,
    connection_id: int,
    digest_date: date,
    *,
    claimed_by: str,
    now: datetime,
    stale_after: timedelta,
    force: bool = False,
) -> DigestMessage | None:
    """Claim the right to post one organisation's digest for one day, or None if it is taken.

    The (connection_id, digest_date) unique key decides between instances: the first insert
    wins and the others get an IntegrityError. A claim left "posting" for longer than
    `stale_after` (its process died) or a failed one may be taken over, by one taker only;
    `force` (a person asked to post again) takes over any claim. Commit right after, so the
    claim is visible to the other instances.
    """
    row = DigestMessage(
        connection_id=connection_id,
        digest_date=digest_date,
        status=DigestStatus.POSTING,
        claimed_by=claimed_by,
        claimed_at=now,
        page=0,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass
    else:
        return row
    # Taken: only a stale or failed claim can change hands, and the UPDATE's WHERE is the lock.
    takeable = (
        true()
        if force
        else and_(
            DigestMessage.message_ts.is_(None),
            (DigestMessage.status == DigestStatus.FAILED)
            | and_(
                DigestMessage.status == DigestStatus.POSTING,
                DigestMessage.claimed_at < now - stale_after,
            ),
        )
    )
    taken = session.execute(
        update(DigestMessage)
        .where(
            DigestMessage.connection_id == connection_id,
            DigestMessage.digest_date == digest_date,
            takeable,
        )
        .values(status=DigestStatus.POSTING, claimed_by=claimed_by, claimed_at=now, error=None)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    return session.execute(
        select(DigestMessage)
        .where(DigestMessage.connection_id == connection_id,
               DigestMessage.digest_date == digest_date)
        .execution_options(populate_existing=True)
    ).scalar_one()


def digest_by_message(session: Session, channel_id: str, message_ts: str) -> DigestMessage | None:
    """The posted digest shown in this Slack message, if it is one."""
    return session.scalars(
        select(DigestMessage).where(
            DigestMessage.channel_id == channel_id, DigestMessage.message_ts == message_ts
        )
    ).first()


def latest_posted_digest(session: Session, connection_id: int) -> DigestMessage | None:
    """The connection's most recent posted digest (the one a live update should change)."""
    return session.scalars(
        select(DigestMessage)
        .where(
            DigestMessage.connection_id == connection_id,
            DigestMessage.status == DigestStatus.POSTED,
        )
        .order_by(DigestMessage.digest_date.desc())
        .limit(1)
    ).first()


def last_sync_at(session: Session, connection_id: int) -> datetime | None:
    """When the connection's invoices were last synced, if ever."""
    return session.scalar(
        select(SyncState.last_sync_at).where(
            SyncState.connection_id == connection_id, SyncState.entity == "invoices"
        )
    )


def sync_summary(session: Session, connection_id: int) -> tuple[datetime | None, str | None]:
    """When the connection last synced (any entity) and the last error recorded, if any."""
    rows = session.execute(
        select(SyncState.last_sync_at, SyncState.last_error).where(
            SyncState.connection_id == connection_id
        )
    ).all()
    synced = [at for at, _ in rows if at is not None]
    errors = [error for _, error in rows if error]
    return (max(synced) if synced else None), (errors[0] if errors else None)


def record_digest_outcome(
    session: Session,
    claim_id: int,
    *,
    now: datetime,
    message: tuple[str, str] | None = None,
    error: str | None = None,
) -> None:
    """Mark a claimed digest posted (with its channel and ts) or failed (with the error).

    One UPDATE, first in its transaction (SQLite never has to upgrade a read lock).
    """
    values: dict[str, Any] = {"updated_at": now}
    if message is not None:
        values |= {"status": DigestStatus.POSTED, "channel_id": message[0],
                   "message_ts": message[1], "page": 0, "posted_at": now, "error": None}
    else:
        values |= {"status": DigestStatus.FAILED, "error": (error or "")[:1000]}
    session.execute(
        update(DigestMessage).where(DigestMessage.id == claim_id).values(**values)
        .execution_options(synchronize_session=False)
    )


def show_page(session: Session, channel_id: str, message_ts: str, page: int, *,
              now: datetime) -> None:
    """Remember which page a posted digest shows (its next refresh renders that page)."""
    session.execute(
        update(DigestMessage)
        .where(DigestMessage.channel_id == channel_id, DigestMessage.message_ts == message_ts)
        .values(page=max(0, page), updated_at=now)
        .execution_options(synchronize_session=False)
    )
