"""Money stays exact and datetimes stay timezone-aware on every database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from storage.models import Invoice, Workspace
from storage.repositories import upsert_invoices

AMOUNTS = [
    Decimal("1234567.89"),
    Decimal("0.1") + Decimal("0.2"),
    Decimal("99999999999999.9999"),
    Decimal("-0.0001"),
    Decimal("0"),
]


def _row(number: int, amount: Decimal) -> dict:
    return {
        "xero_invoice_id": f"inv-{number}",
        "type": "ACCREC",
        "status": "AUTHORISED",
        "amount_due": amount,
        "currency_rate": Decimal("1.2345678901"),
    }


def test_money_round_trips_exactly_as_decimal(session_factory, connection_id):
    with session_factory.begin() as session:
        upsert_invoices(session, connection_id, [_row(n, a) for n, a in enumerate(AMOUNTS)])
    with session_factory() as session:
        stored = session.scalars(select(Invoice).order_by(Invoice.xero_invoice_id)).all()
        assert [invoice.amount_due for invoice in stored] == AMOUNTS
        assert all(type(invoice.amount_due) is Decimal for invoice in stored)
        assert stored[0].currency_rate == Decimal("1.2345678901")


def test_money_sums_exactly_in_sql(session_factory, connection_id):
    tenths = [Decimal("0.1")] * 10
    with session_factory.begin() as session:
        upsert_invoices(session, connection_id, [_row(n, a) for n, a in enumerate(tenths)])
    with session_factory() as session:
        assert session.scalar(select(func.sum(Invoice.amount_due))) == Decimal("1.0000")


def test_money_refuses_floats(session_factory, connection_id):
    with session_factory() as session, pytest.raises(StatementError, match="float"):
        upsert_invoices(session, connection_id, [_row(1, 0.1)])


def test_datetimes_come_back_timezone_aware_in_utc(session_factory):
    auckland = timezone(timedelta(hours=13))
    installed = datetime(2025, 1, 2, 9, 30, 15, 123456, tzinfo=auckland)
    with session_factory.begin() as session:
        session.add(Workspace(slack_team_id="T1", installed_at=installed))
    with session_factory() as session:
        stored = session.scalars(select(Workspace)).one().installed_at
        assert stored == installed
        assert stored.tzinfo is UTC
        assert stored.hour == 20 and stored.day == 1


def test_naive_datetimes_are_refused(session_factory):
    with session_factory() as session, pytest.raises(StatementError, match="naive"):
        session.add(Workspace(slack_team_id="T1", installed_at=datetime(2025, 1, 1)))
        session.flush()


def test_datetime_comparisons_in_sql_respect_timezones(session_factory):
    base = datetime(2025, 1, 1, 12, tzinfo=UTC)
    with session_factory.begin() as session:
        session.add(Workspace(slack_team_id="T1", installed_at=base))
    later_elsewhere = base.astimezone(timezone(timedelta(hours=-5))) + timedelta(seconds=1)
    with session_factory() as session:
        query = select(func.count()).where(Workspace.installed_at < later_elsewhere)
        assert session.scalar(query) == 1


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_column_conversion_binds_what_the_value_conversion_binds(dialect_name):
    """bulk_column_processor's C fast paths give bulk_bind_processor's values, exactly."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from sqlalchemy import create_engine
    from sqlalchemy.dialects import postgresql

    from storage.types import bulk_bind_processor, bulk_column_processor

    dialect = (
        create_engine("sqlite://").dialect
        if dialect_name == "sqlite"
        else postgresql.psycopg.dialect()
    )
    plus_one = timezone(timedelta(hours=1))
    columns = {
        "total": [
            [
                Decimal("1.5"),
                Decimal("-0.00005"),
                Decimal("0.00005"),
                Decimal("12345678901234.9999"),
            ],
            [Decimal("2"), None, Decimal("0.12345")],
            [Decimal("1"), "2.50", 3],
            [None, None],
        ],
        "currency_rate": [[Decimal("1.23456789015"), Decimal("0.5")]],
        "date": [[date(2025, 1, 2), date(999, 3, 4)], [None, date(2025, 1, 2)]],
        "updated_date_utc": [
            [datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2025, 1, 2, 3, 4, 5, 6, UTC)],
            [datetime(2025, 1, 2, 3, 4, 5, tzinfo=plus_one), None],
            [datetime(999, 1, 2, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=ZoneInfo("UTC"))],
        ],
        "sent_to_contact": [[True, False], [True, None], [1, 0]],
        "expected_payment_date_source": [[None, None]],
    }
    for name, cases in columns.items():
        column_type = Invoice.__table__.c[name].type
        one = bulk_bind_processor(column_type, dialect)
        whole = bulk_column_processor(column_type, dialect)
        for values in cases:
            expected = list(values) if one is None else [one(value) for value in values]
            got = list(values) if whole is None else list(whole(tuple(values)))
            assert got == expected and list(map(type, got)) == list(map(type, expected)), name


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_flags_bind_exactly_as_sqlalchemy_binds_them(dialect_name):
    """1 and 0 on SQLite (its sqlite3 binds ints directly, a bool only after an adapter
    lookup), the bools themselves on PostgreSQL."""
    from sqlalchemy import create_engine
    from sqlalchemy.dialects import postgresql

    from storage.types import bulk_bind_processor, bulk_column_processor

    dialect = (
        create_engine("sqlite://").dialect
        if dialect_name == "sqlite"
        else postgresql.psycopg.dialect()
    )
    flag = Invoice.__table__.c.has_payments.type
    sqlalchemy_binds = flag.dialect_impl(dialect).bind_processor(dialect)
    for values in ([True, False, True], [True, None, False]):
        expected = [sqlalchemy_binds(value) for value in values]
        for got in (
            [bulk_bind_processor(flag, dialect)(value) for value in values],
            list(bulk_column_processor(flag, dialect)(tuple(values))),
        ):
            assert got == expected and list(map(type, got)) == list(map(type, expected))


def test_column_conversion_refuses_what_the_value_conversion_refuses():
    from sqlalchemy import create_engine

    from storage.types import bulk_column_processor

    dialect = create_engine("sqlite://").dialect
    money = bulk_column_processor(Invoice.__table__.c.total.type, dialect)
    with pytest.raises(TypeError):
        money((Decimal("1"), 1.5))
    stamp = bulk_column_processor(Invoice.__table__.c.updated_date_utc.type, dialect)
    with pytest.raises(ValueError):
        stamp((datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 2)))
