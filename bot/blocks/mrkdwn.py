"""Text inside Block Kit: mrkdwn escaped, texts clipped to a limit, amounts written out."""

from __future__ import annotations

from decimal import Decimal

from bot.chasing.receivables import grouped_money


def escape(text: str) -> str:
    """Text safe inside mrkdwn: Slack's three control characters escaped (formatting docs:
    escape &, < and >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def money(currency: str | None, amount: Decimal) -> str:
    """An amount with its currency, e.g. "NZD 1,234.50"."""
    return f"{currency or ''} {grouped_money(amount)}".strip()


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
