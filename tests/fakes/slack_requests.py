"""What Slack sends an app, shaped as Slack documents it, and a sender that signs and posts it.

Slash commands are form-encoded fields (docs.slack.dev/interactivity/implementing-slash-commands);
interactions are one form field `payload=` holding JSON (reference/interaction-payloads);
events are a JSON `event_callback` envelope (apis/events-api). The same payload dicts go into
Socket Mode envelopes (`FakeSlack.send_envelope`).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.fakes.slack_api import APP_ID, DEFAULT_TEAM, SIGNING_SECRET, FakeSlack
from tests.fakes.slack_signing import signed_headers

DEFAULT_CHANNEL = "C0GENERAL1"


def command_payload(fake: FakeSlack, text: str, *, user: str, channel: str = DEFAULT_CHANNEL,
                    team_id: str = DEFAULT_TEAM, command: str = "/chaser") -> dict[str, str]:
    """The form fields of a slash command invocation."""
    return {
        "token": "deprecated-verification-token", "team_id": team_id,
        "team_domain": team_id.lower(), "channel_id": channel, "channel_name": "general",
        "user_id": user, "user_name": user.lower(), "command": command, "text": text,
        "api_app_id": APP_ID, "is_enterprise_install": "false",
        "response_url": fake.response_url(), "trigger_id": fake.new_trigger_id(),
    }


def block_actions_payload(fake: FakeSlack, action: dict[str, Any], *, user: str,
                          team_id: str = DEFAULT_TEAM, channel: str | None = DEFAULT_CHANNEL,
                          message: dict[str, Any] | None = None,
                          view: dict[str, Any] | None = None) -> dict[str, Any]:
    """A block_actions payload for one clicked element (`action` has action_id, value...)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": team_id},
        "api_app_id": APP_ID, "token": "deprecated-verification-token",
        "team": {"id": team_id, "domain": team_id.lower()},
        "enterprise": None, "is_enterprise_install": False,
        "trigger_id": fake.new_trigger_id((view or {}).get("id")),
        "actions": [{"block_id": action.get("block_id", "b"), "type": "button",
                     "action_ts": f"{time.time():.6f}", **action}],
        "state": {"values": {}},
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
    else:
        ts = (message or {}).get("ts", f"{int(time.time())}.000100")
        payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel,
                                "is_ephemeral": False}
        payload["channel"] = {"id": channel, "name": "general"}
        payload["message"] = message or {"type": "message", "ts": ts, "text": ""}
        payload["response_url"] = fake.response_url()
    return payload


def view_submission_payload(fake: FakeSlack, view: dict[str, Any],
                            values: dict[str, dict[str, dict[str, Any]]], *, user: str,
                            team_id: str = DEFAULT_TEAM) -> dict[str, Any]:
    """A view_submission for `view` (as views.open returned it) with the inputs' `values`."""
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_id.lower()},
        "user": {"id": user, "username": user.lower(), "team_id": team_id},
        "api_app_id": APP_ID, "token": "deprecated-verification-token",
        "trigger_id": fake.new_trigger_id(view.get("id")),
        "view": {**view, "state": {"values": values}},
        "response_urls": [], "is_enterprise_install": False, "enterprise": None,
    }


def event_payload(event: dict[str, Any], *, team_id: str = DEFAULT_TEAM,
                  event_id: str | None = None) -> dict[str, Any]:
    """An Events API event_callback wrapping one event."""
    return {
        "token": "deprecated-verification-token", "team_id": team_id, "api_app_id": APP_ID,
        "event": {"event_ts": f"{time.time():.6f}", **event}, "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team_id, "user_id": "U0BOT0001", "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


@dataclass
class Sent:
    """One request as sent, and the app's HTTP answer."""

    response: httpx.Response
    body: str
    payload: dict[str, Any]

    @property
    def response_url(self) -> str | None:
        return self.payload.get("response_url")

    def json(self) -> Any:
        return self.response.json() if self.response.content else None


class SlackSender:
    """Posts signed requests to an app's /slack/events as Slack would."""

    def __init__(self, base_url: str, fake: FakeSlack, *, secret: str = SIGNING_SECRET,
                 team_id: str = DEFAULT_TEAM, path: str = "/slack/events") -> None:
        self.url = base_url.rstrip("/") + path
        self.fake = fake
        self.secret = secret
        self.team_id = team_id
        self.http = httpx.Client(timeout=30)

    def close(self) -> None:
        self.http.close()

    def post(self, body: str, *, content_type: str = "application/x-www-form-urlencoded",
             timestamp: int | None = None, secret: str | None = None,
             retry_num: int | None = None, headers: dict[str, str] | None = None
             ) -> httpx.Response:
        """POST a raw body with Slack's signature headers (override any to forge one)."""
        signed = signed_headers(secret or self.secret, body, timestamp=timestamp,
                                content_type=content_type, retry_num=retry_num)
        return self.http.post(self.url, content=body.encode(),
                              headers={**signed, **(headers or {})})

    def command(self, text: str, *, user: str, channel: str = DEFAULT_CHANNEL,
                team_id: str | None = None, payload: dict[str, str] | None = None,
                **options: Any) -> Sent:
        """/chaser <text> from `user`; pass `payload` to resend the same one (a retry)."""
        payload = payload or command_payload(self.fake, text, user=user, channel=channel,
                                             team_id=team_id or self.team_id)
        body = urlencode(payload)
        return Sent(self.post(body, **options), body, payload)

    def interaction(self, payload: dict[str, Any], **options: Any) -> Sent:
        """An interaction payload (block_actions, view_submission...) as `payload=<json>`."""
        body = urlencode({"payload": json.dumps(payload)})
        return Sent(self.post(body, **options), body, payload)

    def event(self, event: dict[str, Any], *, team_id: str | None = None,
              payload: dict[str, Any] | None = None, **options: Any) -> Sent:
        payload = payload or event_payload(event, team_id=team_id or self.team_id)
        body = json.dumps(payload)
        return Sent(self.post(body, content_type="application/json", **options), body, payload)
