"""Open receivables: the rule, days overdue, aging, totals by currency and in base."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import yaml

from bot.chasing.receivables import (
    OPEN_RECEIVABLE_STATUSES,
    RECEIVABLE_TYPE,
    AgingBucket,
    Receivable,
    aging_bucket,
    days_overdue,
    grouped_money,
    in_base_currency,
    is_open_receivable,
    org_today,
    summarize,
)
from bot.chasing.receivables_service import ReceivablesService, open_receivables
from bot.chasing.timezones import XERO_TIMEZONES, org_zone
from tests.needs import XERO_OPENAPI_DIR, folder_file


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
    spec = yaml.safe_load(folder_file(XERO_OPENAPI_DIR, "xero_accounting.yaml").read_text())
    values = set(spec["components"]["schemas"]["TimeZone"]["enum"])
    assert values <= set(XERO_TIMEZONES)


def test_only_authorised_sales_invoices_with_money_owing_are_open():
    assert is_open_receivable("ACCREC", "AUTHORISED", Decimal("1"))
    assert not is_open_receivable("ACCREC", "AUTHORISED", Decimal("0"))
    assert not is_open_receivable("ACCREC", "AUTHORISED", None)
    assert not is_open_receivable("ACCREC", "PAID", Decimal("0"))
    assert not is_open_receivable("ACCREC", "DRAFT", Decimal("10"))
    assert not is_open_receivable("ACCREC", "VOIDED", Decimal("10"))
    # A bill is money we owe, not a receivable.
    assert not is_open_receivable("ACCPAY", "AUTHORISED", Decimal("10"))


KINDS = ("ACCREC", "ACCPAY", "ACCRECCREDIT")
STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
AMOUNTS = ("0", "0.01", "125.00")


def test_the_stored_query_and_the_rule_agree_on_every_kind_status_and_amount(
    session_factory, connection_id
):
    from storage.repositories import upsert_invoices

    rows = [
        {
            "xero_invoice_id": f"{kind}-{status}-{amount}",
            "invoice_number": f"{kind}-{status}-{amount}",
            "type": kind,
            "status": status,
            "amount_due": Decimal(amount),
            "due_date": date(2026, 1, 1),
        }
        for kind in KINDS
        for status in STATUSES
        for amount in AMOUNTS
    ]
    with session_factory.begin() as session:
        upsert_invoices(session, connection_id, rows)
    with session_factory() as session:
        stored = {invoice.invoice_number for invoice in open_receivables(session, connection_id)}
    by_rule = {
        row["invoice_number"]
        for row in rows
        if is_open_receivable(row["type"], row["status"], row["amount_due"])
    }
    assert stored == by_rule == {"ACCREC-AUTHORISED-0.01", "ACCREC-AUTHORISED-125.00"}
    assert (RECEIVABLE_TYPE, OPEN_RECEIVABLE_STATUSES) == ("ACCREC", ("AUTHORISED",))


def _item(today, number, days, amount, currency="NZD", rate=None):
    due = date.fromordinal(today.toordinal() - days)
    return Receivable(
        number, f"Customer {number}", due, Decimal(amount), currency, currency_rate=rate
    )


def test_summary_buckets_totals_by_currency_and_in_base_and_ranks_by_exposure():
    today = date(2026, 6, 30)
    summary = summarize(
        [
            _item(today, "INV-1", -3, "100.00"),
            _item(today, "INV-2", 5, "50.00"),
            # 20 AUD at 0.8 AUD per NZD is 25 NZD.
            _item(today, "INV-3", 45, "20.00", "AUD", Decimal("0.8")),
            _item(today, "INV-4", 120, "10.00"),
            _item(today, "INV-5", 120, "30.00"),
        ],
        today,
        base_currency="NZD",
    )
    assert summary.overdue.count == 4
    assert summary.overdue.totals == {"NZD": Decimal("90.00"), "AUD": Decimal("20.00")}
    assert summary.overdue.base == Decimal("115.00")
    assert summary.open.count == 5 and summary.open.base == Decimal("215.00")
    assert summary.buckets[AgingBucket.NOT_YET_DUE].count == 1
    assert summary.buckets[AgingBucket.DAYS_90_PLUS].totals == {"NZD": Decimal("40.00")}
    # Exposure is base amount × days: 30×120=3600, 10×120=1200, 25×45=1125, 50×5=250.
    assert [line.receivable.invoice_number for line in summary.top_overdue(3)] == [
        "INV-5", "INV-4", "INV-3",
    ]
    assert [line.receivable.invoice_number for line in summary.overdue_lines] == [
        "INV-5", "INV-4", "INV-3", "INV-2",
    ]
    figures = summary.as_dict(top=3)
    assert figures["overdue_totals"] == {"AUD": "20.00", "NZD": "90.00"}
    assert figures["overdue_base_total"] == "115.00"
    assert figures["aging"]["31_60"] == {
        "count": 1, "totals": {"AUD": "20.00"}, "base_total": "25.00", "unconverted": 0,
    }
    assert figures["top_overdue"][2]["base_amount"] == "25.00"


def test_a_foreign_invoice_without_a_rate_is_counted_but_left_out_of_the_base_total():
    today = date(2026, 6, 30)
    summary = summarize(
        [_item(today, "INV-1", 10, "10.00"), _item(today, "INV-2", 10, "99.00", "USD")],
        today,
        base_currency="NZD",
    )
    assert summary.overdue.count == 2
    assert summary.overdue.base == Decimal("10.00") and summary.overdue.unconverted == 1


@pytest.mark.parametrize(
    ("amount", "currency", "rate", "base", "expected"),
    [
        (Decimal("60"), "USD", Decimal("0.6"), "NZD", Decimal("100")),
        (Decimal("60"), "NZD", Decimal("1"), "NZD", Decimal("60")),
        (Decimal("60"), "NZD", None, "NZD", Decimal("60")),  # own currency needs no rate
        (Decimal("60"), "USD", None, "NZD", None),
        (Decimal("60"), "USD", Decimal("0"), "NZD", None),
        (Decimal("60"), "USD", Decimal("0.6"), None, None),
    ],
)
def test_xero_currency_rate_is_units_of_the_invoice_currency_per_base_unit(
    amount, currency, rate, base, expected
):
    assert in_base_currency(amount, currency, rate, base) == expected


def test_summary_figures_round_half_cents_up_like_storage_not_half_even():
    today = date(2026, 6, 30)
    overdue = date(2026, 6, 1)
    summary = summarize(
        [Receivable("INV-1", "Customer", overdue, Decimal("10.125"), "NZD")], today
    )

    figures = summary.as_dict()

    assert figures["overdue_totals"] == {"NZD": "10.13"}  # f"{x:.2f}" would say 10.12
    assert figures["top_overdue"][0]["amount_due"] == "10.13"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1234.565"), "1,234.57"),  # format(.2f) alone rounds half-even: 1,234.56
        (Decimal("0.125"), "0.13"),
        (Decimal("-2.345"), "-2.35"),  # half away from zero, as PostgreSQL's numeric
        (Decimal("1000000"), "1,000,000.00"),
    ],
)
def test_money_a_person_reads_is_rounded_by_the_storage_rule(amount, shown):
    assert grouped_money(amount) == shown


def test_stored_money_and_shown_money_round_the_same_way(session_factory, connection_id):
    from storage.models import Invoice
    from storage.money import money_text, quantize_money
    from storage.repositories import upsert_invoices

    # The money column keeps 4 places: 0.00005 rounds half away from zero in storage too.
    with session_factory.begin() as session:
        upsert_invoices(
            session,
            connection_id,
            [{"xero_invoice_id": "x", "type": "ACCREC", "status": "AUTHORISED",
              "amount_due": Decimal("2.00005")}],
        )
    with session_factory() as session:
        stored = session.query(Invoice).one().amount_due
    assert stored == quantize_money(Decimal("2.00005"), Decimal("0.0001")) == Decimal("2.0001")
    assert money_text(Decimal("2.005")) == "2.01"


def test_service_summarises_each_connected_organisation_from_the_local_store(make_world):
    world = make_world(orgs=2, contacts=10, invoices=80)
    for connection_id in world.connection_ids:
        world.ctx.sync_service().sync(connection_id)

    service = ReceivablesService(world.ctx.session_factory, world.ctx.clock)
    found = service.for_workspace()

    assert [org.connection_id for org in found] == world.connection_ids
    for org in found:
        tenant = world.tenant_id(org.connection_id)
        ledger_org = world.ledger.organisation(tenant)
        today = org_today(world.ctx.clock(), ledger_org.timezone)
        open_in_xero = [
            inv
            for inv in world.ledger.iter_invoices(tenant)
            if is_open_receivable(inv.type, inv.status, inv.amount_due)
        ]
        summary = org.summary
        assert org.name == ledger_org.name and org.base_currency == ledger_org.base_currency
        assert summary.today == today
        assert summary.open.count == len(open_in_xero)
        assert summary.overdue.count == sum(1 for inv in open_in_xero if inv.due_date < today)
        expected_base = sum(
            (inv.amount_due / inv.rate for inv in open_in_xero), Decimal("0")
        )
        assert abs(summary.open.base - expected_base) < Decimal("0.0001") * len(open_in_xero)
        assert sum(total.count for total in summary.buckets.values()) == summary.open.count
    assert service.for_connection(world.connection_ids[1]) == found[1]
    assert service.for_connection(10_000) is None


@pytest.mark.parametrize("amount", [Decimal("10.125"), Decimal("1234.565"), Decimal("0.005")])
def test_every_surface_rounds_money_by_the_one_rule(amount):
    from bot.blocks.alerts import money
    from bot.chasing.emails import money_text as email_money

    expected = grouped_money(amount)  # half away from zero, as storage

    assert money("NZD", amount) == f"NZD {expected}"
    assert email_money(amount, "NZD", "en_NZ") == f"${expected}"
    assert summarize(
        [Receivable("INV-1", None, date(2026, 1, 1), amount, "NZD")], date(2026, 2, 1)
    ).as_dict()["overdue_totals"] == {"NZD": expected.replace(",", "")}


def test_a_currency_without_cents_rounds_half_up_too():
    from bot.chasing.emails import money_text as email_money

    assert email_money(Decimal("100.5"), "JPY", "en_NZ") == "JP¥101"  # Babel alone says 100
