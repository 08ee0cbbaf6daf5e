"""What gets chased: each rule of bot/chasing/policy.py, in the order the checks run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.chasing.policy import ChaseFacts, SkipReason, base_amount, pause_active, skip_reason

TODAY = date(2026, 11, 30)


def facts(**overrides: object) -> ChaseFacts:
    values: dict[str, object] = {"status": "AUTHORISED", "amount_due": Decimal("100.00")}
    values.update(overrides)
    return ChaseFacts(**values)  # type: ignore[arg-type]


def test_an_open_invoice_with_an_email_is_chased() -> None:
    assert skip_reason(facts(), TODAY) is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"status": "PAID", "amount_due": Decimal("0")}, SkipReason.NOT_OPEN),
        ({"status": "DRAFT"}, SkipReason.NOT_OPEN),
        ({"amount_due": Decimal("0")}, SkipReason.NOT_OPEN),
        ({"connected": False}, SkipReason.CONNECTION_LOST),
        ({"account_paused": True}, SkipReason.ACCOUNT_PAUSED),
        ({"customer_paused": True}, SkipReason.CUSTOMER_PAUSED),
        ({"invoice_paused": True}, SkipReason.INVOICE_PAUSED),
        ({"disputed": True}, SkipReason.DISPUTED),
        ({"minimum_amount": Decimal("100.01")}, SkipReason.BELOW_MINIMUM),
        ({"expected_payment_date": date(2026, 12, 1)}, SkipReason.BEFORE_EXPECTED_DATE),
        ({"has_email": False}, SkipReason.NO_EMAIL),
    ],
)
def test_each_rule_gives_its_reason(overrides: dict[str, object], reason: SkipReason) -> None:
    assert skip_reason(facts(**overrides), TODAY) is reason


def test_a_lost_connection_outranks_a_pause() -> None:
    assert skip_reason(facts(connected=False, invoice_paused=True), TODAY) is (
        SkipReason.CONNECTION_LOST
    )


def test_expected_date_is_ignored_when_the_setting_is_off() -> None:
    late = facts(expected_payment_date=date(2026, 12, 15), wait_for_expected_date=False)
    assert skip_reason(late, TODAY) is None


def test_chasing_resumes_on_the_expected_date_itself() -> None:
    assert skip_reason(facts(expected_payment_date=TODAY), TODAY) is None


def test_a_pause_with_an_end_date_lifts_on_that_date() -> None:
    assert pause_active(True, date(2026, 12, 1), TODAY)
    assert not pause_active(True, TODAY, TODAY)
    assert pause_active(True, None, TODAY)
    assert not pause_active(False, None, TODAY)
    lifted = facts(customer_paused=True, customer_paused_until=TODAY)
    assert skip_reason(lifted, TODAY) is None


def test_minimum_compares_in_base_currency() -> None:
    # 150 USD at 1.5 USD per NZD is 100 NZD: at the minimum, so chased; a cent short is not.
    assert base_amount(Decimal("150"), Decimal("1.5")) == Decimal("100")
    usd = facts(amount_due=Decimal("150"), currency_rate=Decimal("1.5"))
    assert skip_reason(usd, TODAY) is None
    short = facts(amount_due=Decimal("149.99"), currency_rate=Decimal("1.5"),
                  minimum_amount=Decimal("100"))
    assert skip_reason(short, TODAY) is SkipReason.BELOW_MINIMUM


def test_the_cache_answers_exactly_as_skip_reason_over_many_random_invoices() -> None:
    import random

    from bot.chasing.policy import SkipReasonCache

    rng = random.Random(11)
    days = [None, date(2026, 11, 1), TODAY, date(2026, 12, 15)]
    for organisation in range(12):
        org = {
            "connected": organisation != 0,
            "account_paused": organisation == 1,
            "account_paused_until": date(2026, 12, 1) if organisation == 1 else None,
            "minimum_amount": Decimal(rng.choice(["0", "50", "120.5"])),
            "wait_for_expected_date": organisation % 2 == 0,
        }
        cache = SkipReasonCache(TODAY, **org)  # type: ignore[arg-type]
        for _ in range(400):
            invoice = {
                "amount_due": Decimal(rng.randrange(1, 30_000)) / 100,
                "currency_rate": rng.choice([None, Decimal("1"), Decimal("0.6"), Decimal("1.7")]),
                "expected_payment_date": rng.choice(days),
                "invoice_paused": rng.random() < 0.2,
                "invoice_paused_until": rng.choice(days),
                "disputed": rng.random() < 0.1,
                "customer_paused": rng.random() < 0.2,
                "customer_paused_until": rng.choice(days),
                "has_email": rng.random() < 0.8,
                "has_due_date": rng.random() < 0.9,
            }
            expected = skip_reason(facts(**invoice, **org), TODAY)
            assert cache.reason(**invoice) is expected, invoice  # type: ignore[arg-type]
