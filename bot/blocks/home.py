"""App Home: each organisation's connection, last sync and digest settings, pure Block Kit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot import messages
from bot.blocks.connection import reconnect_button
from bot.messages import SLACK

MAX_ORGANISATIONS = 40  # three blocks each, inside a Home tab's 100


@dataclass(frozen=True)
class HomeOrganisation:
    """What App Home shows about one connected organisation."""

    connection_id: int
    name: str
    status: str  # connected, needs_reconnect or disconnected
    status_reason: str | None
    last_sync_at: datetime | None
    last_sync_error: str | None
    digest_enabled: bool
    digest_channel_id: str | None
    digest_time: str
    timezone: str  # IANA
    chasing_paused: bool
    chasing_paused_until: date | None


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text[:2000]}


def _status(org: HomeOrganisation) -> str:
    if org.status == "needs_reconnect":
        return messages.home_needs_reconnect(org.status_reason)
    if org.status == "disconnected":
        return messages.HOME_DISCONNECTED
    return messages.HOME_CONNECTED


def _sync(org: HomeOrganisation) -> str:
    if org.last_sync_at is None:
        return messages.HOME_NEVER_SYNCED
    return messages.home_last_sync(f"{org.last_sync_at:%Y-%m-%d %H:%M} UTC", org.last_sync_error)


def _digest(org: HomeOrganisation) -> str:
    if not org.digest_enabled:
        return messages.HOME_DIGEST_OFF.render(SLACK)
    if not org.digest_channel_id:
        return messages.HOME_DIGEST_NO_CHANNEL.render(SLACK)
    return messages.home_digest(f"<#{org.digest_channel_id}>", org.digest_time, org.timezone)


def _chasing(org: HomeOrganisation) -> str:
    if org.status != "connected":
        return messages.HOME_CHASING_STOPPED
    if org.chasing_paused:
        until = f"{org.chasing_paused_until:%d %b %Y}" if org.chasing_paused_until else None
        return messages.home_chasing_paused(until)
    return messages.HOME_CHASING_ON


def organisation_blocks(org: HomeOrganisation) -> list[dict[str, Any]]:
    """One organisation: its name and state, with Reconnect when it needs it."""
    section: dict[str, Any] = {
        "type": "section",
        "text": _mrkdwn(f"*{org.name}*\n{_status(org)}"),
        "fields": [
            _mrkdwn(f"*{messages.HOME_LAST_SYNC}*\n{_sync(org)}"),
            _mrkdwn(f"*{messages.HOME_DIGEST}*\n{_digest(org)}"),
            _mrkdwn(f"*{messages.HOME_CHASING}*\n{_chasing(org)}"),
        ],
    }
    if org.status != "connected":
        section["accessory"] = reconnect_button(org.connection_id)
    return [section, {"type": "divider"}]


def home_view(organisations: list[HomeOrganisation]) -> dict[str, Any]:
    """The Home tab: a Connect button, then every organisation of the workspace."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": messages.HOME_TITLE}},
        {"type": "section", "text": _mrkdwn(messages.HOME_INTRO.render(SLACK)),
         "accessory": reconnect_button(None, primary=not organisations)},
        {"type": "divider"},
    ]
    for org in organisations[:MAX_ORGANISATIONS]:
        blocks += organisation_blocks(org)
    if not organisations:
        blocks.append({"type": "section", "text": _mrkdwn(messages.HOME_NOTHING_CONNECTED)})
    elif len(organisations) > MAX_ORGANISATIONS:
        blocks.append({"type": "context", "elements": [_mrkdwn(
            messages.home_more(len(organisations) - MAX_ORGANISATIONS).render(SLACK))]})
    return {"type": "home", "blocks": blocks}
