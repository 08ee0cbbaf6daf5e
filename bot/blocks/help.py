"""The /chaser help reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import messages


def help_blocks(commands: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """One section listing every subcommand with what it does."""
    lines = "\n".join(f"`/chaser {usage}` — {what}" for usage, what in commands)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": messages.SLACK_HELP_TITLE}},
        {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
    ]
