"""Money rounding, one rule for storing and showing: half away from zero, as PostgreSQL does."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

# PostgreSQL's numeric rounds half away from zero; Python's format() and round() round half to
# even. Storage and every figure a person reads use this rule so a total never differs by a cent.
MONEY_ROUNDING = ROUND_HALF_UP
# A context's own quantize is a C call: storage's bulk writes map it over whole columns.
MONEY_CONTEXT = Context(rounding=MONEY_ROUNDING)
CENT = Decimal("0.01")
# What a money() column holds (storage/types.py, NUMERIC(18, 4)): under 10**14.
MONEY_LIMIT = Decimal(10) ** 14


def quantize_money(amount: Decimal, quantum: Decimal = CENT) -> Decimal:
    """`amount` rounded to `quantum` (a cent unless said) by the money rule."""
    return MONEY_CONTEXT.quantize(amount, quantum)


def money_text(amount: Decimal) -> str:
    """Money as plain text with two decimals ("10.13"), for JSON and machine output."""
    return str(quantize_money(amount))
