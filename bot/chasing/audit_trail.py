"""The audit trail as people read it: one line per entry, for Slack and the terminal alike.

`/chaser invoice <number>` and `chaser chase --dry-run` both read entries with
storage.audit.latest_audit and show them through `trail_lines` here, so the two never differ.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from bot import messages
from bot.messages import Message, Surface, say
from storage.models import AuditEntry

# Slack user ids (U…, W… for Enterprise Grid): mentioned in Slack, shown as they are elsewhere.
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{6,}$")
_SYSTEM_ACTORS = frozenset({"scheduler", "system", "chaser-bot"})
INVOICES_NAMED = 5
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class TrailLine:
    """One audit entry, ready to show: when (organisation time), who, what."""

    at: datetime
    actor: str
    what: Message

    def render(self, surface: Surface) -> str:
        """"2 Mar 2026 10:04 · <@U123>: emailed …" (a Slack mention only in Slack)."""
        return f"{self.at:%-d %b %Y %H:%M} · {actor_text(self.actor, surface)}: " \
               f"{self.what.render(surface)}"


def actor_text(actor: str, surface: Surface) -> str:
    """Who acted, as this surface shows a person (or chaser-bot for scheduled work)."""
    if actor in _SYSTEM_ACTORS:
        return messages.AUDIT_SCHEDULER
    if _SLACK_USER.match(actor) and surface.name == "slack":
        return f"<@{actor}>"
    return actor


def _invoices(detail: Mapping[str, Any]) -> str:
    numbers = [str(item.get("number") or item.get("invoice_number") or "")
               for item in detail.get("invoices") or () if isinstance(item, Mapping)]
    if detail.get("invoice_number"):
        numbers.append(str(detail["invoice_number"]))
    numbers.extend(str(n) for n in detail.get("invoice_numbers") or ())
    numbers = [n for n in dict.fromkeys(numbers) if n]
    if not numbers:
        return "the invoice"
    shown = ", ".join(numbers[:INVOICES_NAMED])
    extra = len(numbers) - INVOICES_NAMED
    return f"{shown} and {extra} more" if extra > 0 else shown


def _values(detail: Mapping[str, Any]) -> dict[str, object]:
    """Every placeholder an audit sentence may use, from one entry's detail."""
    to = detail.get("to") or detail.get("recipients") or ()
    until = detail.get("until")
    reason = detail.get("reason")
    return {
        **{key: value for key, value in detail.items() if isinstance(value, str | int)},
        "invoices": _invoices(detail),
        "to": ", ".join(to) if isinstance(to, list | tuple) and to else "the customer",
        "escalated": " (escalated)" if detail.get("escalated") else "",
        "until": f" until {until}" if until else "",
        "reason": f" ({reason})" if reason else "",
        "customer": detail.get("customer") or detail.get("contact_name") or "the customer",
        "error": detail.get("error") or "unknown error",
        # invoice.expected_payment_date keeps the dates as "from" and "to".
        "new_date": detail.get("to") if isinstance(detail.get("to"), str) else "none",
    }


def describe(action: str, detail: Mapping[str, Any] | None) -> Message:
    """What one entry says happened (unknown actions are named as they were recorded)."""
    template = messages.AUDIT_SENTENCES.get(action)
    if template is None:
        return messages.plain(action.replace(".", " ").replace("_", " "))
    values = _values(detail or {})
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    filled = {name: values.get(name, "?") for name in fields}
    if action in ("connection.needs_reconnect", "connection.refused"):
        filled["reason"] = (detail or {}).get("reason") or "no reason given"
    return say(template, **filled)


def trail_lines(entries: Iterable[AuditEntry], zone: tzinfo) -> list[TrailLine]:
    """Entries (newest first, as storage.audit.latest_audit gives them) as lines to show."""
    return [TrailLine(entry.at.astimezone(zone), entry.actor, describe(entry.action, entry.detail))
            for entry in entries]


def render_trail(lines: Sequence[TrailLine], surface: Surface) -> list[str]:
    """The lines as text for a surface; one line saying so when there is no history."""
    if not lines:
        return [messages.AUDIT_NOTHING]
    return [line.render(surface) for line in lines]
