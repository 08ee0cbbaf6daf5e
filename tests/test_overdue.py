"""Days overdue, aging buckets and Xero timezone mapping (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.chasing.overdue import (
    AgingBucket,
    Receivable,
    aging_bucket,
    days_overdue,
    is_open,
    org_today,
    summarize,
)
from bot.chasing.timezones import XERO_TIMEZONES, org_zone

SPEC = Path("/work/shared/xero-openapi/xero_accounting.yaml")


@pytest.mark.parametrize(
    ("due", "today", "expected"),
    [
        (date(2026, 3, 10), date(2026, 3, 9), 0),
        (date(2026, 3, 10), date(2026, 3, 10), 0),
        (date(2026, 3, 10), date(2026, 3, 11), 1),
        (date(2026, 1, 31), date(2026, 3, 1), 29),
        (None, date(2026, 3, 1), 0),
    ],
)
def test_days_overdue_counts_whole_days_after_the_due_date(due, today, expected):
    assert days_overdue(due, today) == expected


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, AgingBucket.NOT_YET_DUE),
        (0, AgingBucket.NOT_YET_DUE),
        (1, AgingBucket.DAYS_1_30),
        (30, AgingBucket.DAYS_1_30),
        (31, AgingBucket.DAYS_31_60),
        (60, AgingBucket.DAYS_31_60),
        (61, AgingBucket.DAYS_61_90),
        (90, AgingBucket.DAYS_61_90),
        (91, AgingBucket.DAYS_90_PLUS),
    ],
)
def test_aging_bucket_boundaries_follow_the_standard_periods(days, bucket):
    today = date(2026, 6, 30)
    due = date.fromordinal(today.toordinal() - days)
    assert aging_bucket(due, today) is bucket


def test_days_overdue_use_the_organisation_date_when_it_differs_from_utc():
    # 11:30 UTC on 9 March is already 10 March (00:30 NZDT) in Auckland.
    now = datetime(2026, 3, 9, 11, 30, tzinfo=UTC)
    due = date(2026, 3, 9)
    nz_today = org_today(now, "NEWZEALANDSTANDARDTIME")
    assert nz_today == date(2026, 3, 10)
    assert days_overdue(due, nz_today) == 1
    assert days_overdue(due, org_today(now, "UTC")) == 0
    # West of UTC the organisation is still a day behind.
    early = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    assert org_today(early, "PACIFICSTANDARDTIME") == date(2026, 3, 9)


@pytest.mark.parametrize(
    ("xero", "iana"),
    [
        ("NEWZEALANDSTANDARDTIME", "Pacific/Auckland"),
        ("AUSEASTERNSTANDARDTIME", "Australia/Sydney"),
        ("GMTSTANDARDTIME", "Europe/London"),
        ("EASTERNSTANDARDTIME", "America/New_York"),
        ("PACIFICSTANDARDTIME", "America/Los_Angeles"),
        ("UTC", "Etc/UTC"),
        ("UTC02", "Etc/GMT+2"),
        ("UTC+12", "Etc/GMT-12"),
    ],
)
def test_xero_timezones_map_to_iana_zones(xero, iana):
    assert str(org_zone(xero)) == iana


def test_unknown_or_missing_timezone_falls_back_to_utc():
    assert str(org_zone("MARSSTANDARDTIME")) == "UTC"
    assert str(org_zone(None)) == "UTC"


def test_every_timezone_in_the_xero_spec_is_mapped():
    yaml = pytest.importorskip("yaml")
    if not SPEC.exists():
        pytest.skip("Xero OpenAPI spec not available")
    spec = yaml.safe_load(SPEC.read_text())
    values = set(spec["components"]["schemas"]["TimeZone"]["enum"])
    assert values <= set(XERO_TIMEZONES)


def test_only_authorised_invoices_with_money_owing_are_open():
    assert is_open("AUTHORISED", Decimal("1"))
    assert not is_open("AUTHORISED", Decimal("0"))
    assert not is_open("PAID", Decimal("0"))
    assert not is_open("DRAFT", Decimal("10"))
    assert not is_open("VOIDED", Decimal("10"))


def test_summary_buckets_totals_by_currency_and_ranks_the_oldest_first():
    today = date(2026, 6, 30)

    def item(number, days, amount, currency="NZD"):
        due = date.fromordinal(today.toordinal() - days)
        return Receivable(number, f"Customer {number}", due, Decimal(amount), currency)

    summary = summarize(
        [
            item("INV-1", -3, "100.00"),
            item("INV-2", 5, "50.00"),
            item("INV-3", 45, "20.00", "AUD"),
            item("INV-4", 120, "10.00"),
            item("INV-5", 120, "30.00"),
        ],
        today,
        top=3,
    )
    assert summary.overdue.count == 4
    assert summary.overdue.totals == {"NZD": Decimal("90.00"), "AUD": Decimal("20.00")}
    assert summary.buckets[AgingBucket.NOT_YET_DUE].count == 1
    assert summary.buckets[AgingBucket.DAYS_90_PLUS].totals == {"NZD": Decimal("40.00")}
    assert [line.invoice_number for line in summary.top_overdue] == ["INV-5", "INV-4", "INV-3"]
    figures = summary.as_dict()
    assert figures["overdue_totals"] == {"AUD": "20.00", "NZD": "90.00"}
    assert figures["aging"]["31_60"] == {"count": 1, "totals": {"AUD": "20.00"}}


def test_summary_figures_round_half_cents_up_like_storage_not_half_even():
    today = date(2026, 6, 30)
    overdue = date(2026, 6, 1)
    summary = summarize(
        [Receivable("INV-1", "Customer", overdue, Decimal("10.125"), "NZD")], today
    )

    figures = summary.as_dict()

    assert figures["overdue_totals"] == {"NZD": "10.13"}  # f"{x:.2f}" would say 10.12
    assert figures["top_overdue"][0]["amount_due"] == "10.13"
