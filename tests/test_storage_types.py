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
