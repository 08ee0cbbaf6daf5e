"""Direct messages about a Xero connection and the consent-link modal: pure Block Kit."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.ids import Action
from bot.payloads import ConnectionRef, encode

Blocks = list[dict[str, Any]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def reconnect_button(connection_id: int | None, *, primary: bool = True) -> dict[str, Any]:
    """The button that fetches a fresh Xero consent link (Connect when `connection_id` is None)."""
    label = messages.RECONNECT_BUTTON if connection_id is not None else messages.CONNECT_BUTTON
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": str(Action.RECONNECT_XERO),
        "value": encode(ConnectionRef(c=connection_id)),
    }
    if primary:
        button["style"] = "primary"
    return button


def connection_lost_blocks(organisation: str, reason: str, connection_id: int) -> Blocks:
    """The DM each admin gets once when an organisation needs reconnecting."""
    return [
        _section(messages.connection_lost_dm(organisation, reason)),
        {"type": "actions", "elements": [reconnect_button(connection_id)]},
    ]


def reconnected_blocks(organisation: str) -> Blocks:
    """The DM each admin told about the lost connection gets once it is back."""
    return [_section(messages.reconnected_dm(organisation))]


def consent_modal(url: str, organisation: str | None) -> dict[str, Any]:
    """A modal holding a fresh consent link (they expire, so a DM cannot carry one)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": messages.CONSENT_MODAL_TITLE},
        "close": {"type": "plain_text", "text": messages.CONSENT_MODAL_CLOSE},
        "blocks": [
            _section(messages.consent_modal_text(organisation)),
            {"type": "actions", "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": messages.CONSENT_OPEN_XERO, "emoji": True},
                "action_id": str(Action.OPEN_XERO_CONSENT),
                "url": url,
                "style": "primary",
            }]},
        ],
    }
