"""The digest's one pass (digest.tally) against the rules applied invoice by invoice."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from bot.chasing.digest import NO_CONTACT, tally
from bot.chasing.policy import ChaseFacts, SkipReason, SkipReasonCache, skip_reason
from bot.chasing.receivables import (
    AgingBucket,
    bucket_for_days,
    days_overdue,
    exposure,
    in_base_currency,
)

TODAY = date(2026, 6, 1)
ORGANISATION = {"minimum_amount": Decimal("50"), "wait_for_expected_date": True}


def amount_of(units: int) -> Decimal:
    return Decimal(units).scaleb(-4)


def ledger(seed: int, invoices: int) -> tuple[list[tuple], dict[int, tuple]]:
    """Rows in FactRow's order (amount due in units), and contacts' (paused, until, has email).

    Few distinct amounts, due dates and rates, so equal amounts, equal exposures across due
    dates and amounts either side of the minimum all occur."""
    rng = random.Random(seed)
    contacts = {
        contact_id: (rng.random() < 0.1, rng.choice([None, None, TODAY + timedelta(days=3)]),
                     rng.random() < 0.8)
        for contact_id in range(1, 30)
    }
    amounts = [Decimal(text) for text in
               ("10", "49.99", "50", "50.01", "100", "200", "200", "400", "1234.5678")]
    currencies = [("NZD", None), (None, None), ("AUD", Decimal("0.92")), ("USD", Decimal("0.6")),
                  ("USD", None), ("EUR", Decimal("0")), ("NZD", Decimal("1"))]
    rows = []
    for invoice_id in rng.sample(range(1, 10 * invoices), invoices):
        due = rng.choice([None, TODAY, TODAY + timedelta(days=5),
                          *(TODAY - timedelta(days=d) for d in (1, 10, 20, 40, 80, 200))])
        currency, rate = rng.choice(currencies)
        rows.append((
            invoice_id, due, int(rng.choice(amounts).scaleb(4)), currency, rate,
            rng.choice([None, None, None, TODAY - timedelta(days=2), TODAY + timedelta(days=9)]),
            rng.random() < 0.1, rng.choice([None, None, TODAY, TODAY + timedelta(days=1)]),
            rng.random() < 0.05, rng.choice([*contacts, None, 999]),
        ))
    return rows, contacts


def batches(rows: list[tuple], size: int) -> list[list[list]]:
    return [[list(column) for column in zip(*rows[start:start + size], strict=True)]
            for start in range(0, len(rows), size)]


@pytest.mark.parametrize(("seed", "invoices", "keep"), [(1, 600, 8), (2, 2000, 40), (3, 300, 400)])
def test_tally_agrees_with_the_rules_applied_invoice_by_invoice(seed, invoices, keep):
    rows, contacts = ledger(seed, invoices)
    figures = tally(batches(rows, 97), TODAY, base_currency="NZD",
                    reasons=SkipReasonCache(TODAY, **ORGANISATION), contacts=contacts,
                    keep=keep, amount_of=amount_of)

    reasons: Counter[SkipReason] = Counter()
    buckets: dict[AgingBucket, Counter[str]] = {bucket: Counter() for bucket in AgingBucket}
    ranked = []
    for row in rows:
        (invoice_id, due, units, currency, rate, expected, paused, until, disputed,
         contact_id) = row
        amount, currency = amount_of(units), currency or "NZD"
        customer = contacts.get(contact_id, NO_CONTACT)
        reason = skip_reason(ChaseFacts(
            status="AUTHORISED", amount_due=amount, currency_rate=rate,
            expected_payment_date=expected, invoice_paused=paused, invoice_paused_until=until,
            disputed=disputed, customer_paused=customer[0], customer_paused_until=customer[1],
            has_email=customer[2], has_due_date=due is not None, **ORGANISATION,
        ), TODAY)
        if reason is not None:
            reasons[reason] += 1
        days = days_overdue(due, TODAY)
        buckets[bucket_for_days(days)][currency] += amount
        buckets[bucket_for_days(days)]["count"] += 1
        if days > 0:
            base = in_base_currency(amount, currency, rate, "NZD")
            ranked.append(((exposure(amount, base, days), days, -invoice_id),
                           (invoice_id, amount, base, reason)))
    ranked.sort(key=lambda entry: entry[0], reverse=True)

    assert figures.reasons == dict(reasons)
    assert list(figures.reasons) == [reason for reason in SkipReason if reason in reasons]
    for bucket, expected in buckets.items():
        got = figures.buckets[bucket]
        assert (got.count, got.totals) == (expected.pop("count", 0), dict(expected)), bucket
    assert figures.open.count == len(rows)
    assert figures.overdue.count == len(ranked)
    top = sorted(figures.top, key=lambda entry: entry[:3], reverse=True)
    assert [(entry[:3], (entry[3][0], entry[3][2], entry[4], entry[5])) for entry in top] == (
        ranked[:keep])
    # The ledger does have ties for the ranking to break: equal exposures across invoices.
    assert len({entry[0][0] for entry in ranked}) < len(ranked)


def test_a_minimum_between_equal_amounts_splits_one_case_by_the_rule():
    # One case (same facts), amounts around the minimum in base currency: 0.6 USD per NZD.
    units = [int(Decimal(text).scaleb(4)) for text in ("29.99", "30", "30", "30.01", "12")]
    rows = [(n, TODAY - timedelta(days=3), amount, "USD", Decimal("0.6"), None, False, None,
             False, 1) for n, amount in enumerate(units, start=1)]
    figures = tally(batches(rows, 2), TODAY, base_currency="NZD",
                    reasons=SkipReasonCache(TODAY, **ORGANISATION),
                    contacts={1: (False, None, True)}, keep=2, amount_of=amount_of)
    assert figures.reasons == {SkipReason.BELOW_MINIMUM: 2}
    top = sorted(figures.top, key=lambda entry: entry[:3], reverse=True)
    assert [(entry[3][0], entry[5]) for entry in top] == [(4, None), (2, None)]


def test_the_builders_gc_pause_restores_the_collector_however_builds_overlap():
    import gc

    from bot.chasing.digest_builder import gc_paused

    assert gc.isenabled()
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # two builds in two threads, not nested
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()  # a process that runs without the collector keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
