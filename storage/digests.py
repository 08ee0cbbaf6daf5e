"""Digest storage: streamed receivable facts, invoice details, and posted-digest claims."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Dialect, and_, exists, select, true, type_coerce, update
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


_MONEY_COLUMNS = (2, 4)  # amount_due and currency_rate in FactRow


def _raw_exact(column: Any, dialect: Dialect) -> tuple[Any, Callable[[Sequence[Any]], Any]]:
    """An exact-decimal column selected as the database stores it, and a whole-column
    conversion to Decimal (C-level maps instead of a Python call per value)."""
    column_type = column.type
    assert isinstance(column_type, ExactDecimal)
    if dialect.name != "sqlite":
        return column, lambda values: values  # the driver returns Decimals already
    exponent = -column_type.scale

    def to_decimal(values: Sequence[int | None]) -> Sequence[Decimal | None]:
        if None in values:
            return [None if v is None else Decimal(v).scaleb(exponent) for v in values]
        return list(map(Decimal.scaleb, map(Decimal, values), repeat(exponent)))

    return type_coerce(column, BigInteger()), to_decimal


def receivable_fact_rows(
    session: Session, connection_id: int, *, invoice_type: str, statuses: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    """Stream the invoices of a type and status with money owing, as FactRow-ordered tuples.

    Plain tuples, not FactRow (wrap one with FactRow._make when needed): at 100,000 rows the
    wrapping alone is a tenth of the digest's time. Which type and statuses are open is the
    caller's rule. Rows come in storage order.
    """
    dialect = session.get_bind().dialect
    connection = Invoice.connection_id
    if dialect.name == "sqlite":
        # `+ 0` keeps SQLite off ix_invoices_overdue: walking it in due-date order costs a
        # random table lookup per row, ten times slower than scanning the table in rowid
        # order when one organisation owns most rows (benchmarks/digest_build.py).
        connection = connection + 0
    amount, amount_to_decimal = _raw_exact(Invoice.amount_due, dialect)
    rate, rate_to_decimal = _raw_exact(Invoice.currency_rate, dialect)
    statement = select(
        Invoice.id,
        Invoice.due_date,
        amount,
        Invoice.currency_code,
        rate,
        Invoice.expected_payment_date,
        Invoice.chasing_paused,
        Invoice.chasing_paused_until,
        Invoice.disputed,
        Invoice.contact_id,
    ).where(
        connection == connection_id,
        Invoice.type == invoice_type,
        Invoice.status.in_(list(statuses)),
        Invoice.amount_due > 0,
    )
    # Core, not the ORM: no per-row ORM bookkeeping for rows that are never objects.
    result = session.connection().execution_options(yield_per=STREAM_BATCH).execute(statement)
    for partition in result.partitions():
        columns = list(zip(*partition, strict=True))
        columns[_MONEY_COLUMNS[0]] = amount_to_decimal(columns[_MONEY_COLUMNS[0]])
        columns[_MONEY_COLUMNS[1]] = rate_to_decimal(columns[_MONEY_COLUMNS[1]])
        yield from zip(*columns, strict=True)


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
    return {
        contact_id: ContactFacts(bool(paused), until, bool(email))
        for contact_id, paused, until, email in session.execute(statement)
    }


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
