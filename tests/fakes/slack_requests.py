"""What Slack sends an app, shaped as Slack documents it, and a sender that signs and posts it.

Slash commands are form-encoded fields (docs.slack.dev/interactivity/implementing-slash-commands);
interactions are one form field `payload=` holding JSON (reference/interaction-payloads);
events are a JSON `event_callback` envelope (apis/events-api). The same payload dicts go into
Socket Mode envelopes (`FakeSlack.send_envelope`).
"""

from __future__ import annotations

import base64
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
TOKEN = "deprecated-verification-token"

# Elements Slack reports in `state.values`, and the key each one's value is under with the
# value an untouched element reports (docs.slack.dev/reference/interaction-payloads/
# block_actions-payload, view-interactions-payload; python-slack-sdk ViewStateValue).
_STATE_KEYS: dict[str, tuple[str, str, Any]] = {
    # type: (value key, initial_* key it starts from, value when nothing is chosen)
    "datepicker": ("selected_date", "initial_date", None),
    "timepicker": ("selected_time", "initial_time", None),
    "datetimepicker": ("selected_date_time", "initial_date_time", None),
    "plain_text_input": ("value", "initial_value", None),
    "email_text_input": ("value", "initial_value", None),
    "url_text_input": ("value", "initial_value", None),
    "number_input": ("value", "initial_value", None),
    "rich_text_input": ("rich_text_value", "initial_value", None),
    "static_select": ("selected_option", "initial_option", None),
    "external_select": ("selected_option", "initial_option", None),
    "radio_buttons": ("selected_option", "initial_option", None),
    "multi_static_select": ("selected_options", "initial_options", []),
    "multi_external_select": ("selected_options", "initial_options", []),
    "checkboxes": ("selected_options", "initial_options", []),
    "users_select": ("selected_user", "initial_user", None),
    "multi_users_select": ("selected_users", "initial_users", []),
    "conversations_select": ("selected_conversation", "initial_conversation", None),
    "multi_conversations_select": ("selected_conversations", "initial_conversations", []),
    "channels_select": ("selected_channel", "initial_channel", None),
    "multi_channels_select": ("selected_channels", "initial_channels", []),
}


def _elements(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every interactive element in `blocks`, in order."""
    found = []
    for block in blocks or []:
        block_id = block.get("block_id", "")
        if block.get("type") == "input" and block.get("element"):
            found.append((block_id, block["element"]))
        elif block.get("type") == "actions":
            found.extend((block_id, element) for element in block.get("elements", []))
        elif block.get("type") == "section" and block.get("accessory"):
            found.append((block_id, block["accessory"]))
    return found


def state_values(blocks: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """`state.values` as Slack reports it for untouched `blocks`: every stateful element's
    block_id → action_id → {type, its value (or the initial one, or none)}."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block_id, element in _elements(blocks):
        keys = _STATE_KEYS.get(element.get("type", ""))
        if keys is None or not element.get("action_id"):
            continue
        key, initial, empty = keys
        values.setdefault(block_id, {})[element["action_id"]] = {
            "type": element["type"], key: element.get(initial, empty)}
    return values


def _merge(base: dict[str, dict[str, dict[str, Any]]],
           changed: dict[str, dict[str, dict[str, Any]]] | None) -> dict[str, Any]:
    """`base` with `changed` typed over it; Slack never reports an element the blocks lack."""
    unknown = [f"{block}/{action_id}" for block, actions in (changed or {}).items()
               for action_id in actions if action_id not in base.get(block, {})]
    assert not unknown, f"no stateful element {unknown} in these blocks: {sorted(base)}"
    merged = {block: dict(actions) for block, actions in base.items()}
    for block, actions in (changed or {}).items():
        for action_id, value in actions.items():
            merged.setdefault(block, {})[action_id] = {
                **merged.get(block, {}).get(action_id, {}), **value}
    return merged


def _bot(fake: FakeSlack, team_id: str) -> tuple[str, str]:
    ws = fake.workspaces.get(team_id)
    return (ws.bot_user_id, ws.bot_id) if ws else ("U0BOT0001", "B0BOT0001")


def _who(user: str, team_id: str) -> dict[str, Any]:
    """The `user` of an interaction payload: id, username, name, team_id."""
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team_id}


def _where(team_id: str, enterprise_id: str | None, org_install: bool) -> dict[str, Any]:
    """`team`, `enterprise`, `is_enterprise_install`: `team` is null for an org-wide install
    (docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""
    return {
        "team": None if org_install else {"id": team_id, "domain": team_id.lower(),
                                          **({"enterprise_id": enterprise_id,
                                              "enterprise_name": "Grid"}
                                             if enterprise_id else {})},
        "enterprise": {"id": enterprise_id, "name": "Grid"} if enterprise_id else None,
        "is_enterprise_install": org_install,
    }


def command_payload(fake: FakeSlack, text: str, *, user: str, channel: str = DEFAULT_CHANNEL,
                    team_id: str = DEFAULT_TEAM, command: str = "/chaser",
                    enterprise_id: str | None = None, org_install: bool = False
                    ) -> dict[str, str]:
    """The form fields of a slash command invocation."""
    grid = ({"enterprise_id": enterprise_id, "enterprise_name": "Grid"} if enterprise_id
            else {})
    return {**grid,
        "token": TOKEN, "team_id": team_id,
        "team_domain": team_id.lower(), "channel_id": channel, "channel_name": "general",
        "user_id": user, "user_name": user.lower(), "command": command, "text": text,
        "api_app_id": APP_ID, "is_enterprise_install": str(org_install).lower(),
        "response_url": fake.response_url(), "trigger_id": fake.new_trigger_id(),
    }


def _clicked(action: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """One `actions[]` entry: the element with that action_id in `blocks` as Slack reports it
    (its block_id, type, button text and value), then what `action` says (selected_date...)."""
    for block_id, element in _elements(blocks):
        if element.get("action_id") == action.get("action_id") and (
                "block_id" not in action or action["block_id"] == block_id):
            found = {"block_id": block_id, "type": element.get("type", "button")}
            if found["type"] == "button":
                found.update({"text": element.get("text"), "value": element.get("value")})
                found = {k: v for k, v in found.items() if v is not None}
                if element.get("style"):
                    found["style"] = element["style"]
            keys = _STATE_KEYS.get(found["type"])
            if keys and element.get(keys[1]) is not None:
                found[keys[1]] = element[keys[1]]
            break
    else:  # not in the blocks given: a button with the text Slack would need to show it
        found = {"block_id": action.get("block_id", "b"), "type": "button",
                 "text": {"type": "plain_text", "text": action.get("action_id", "Button"),
                          "emoji": True}}
    return {**found, "action_ts": f"{time.time():.6f}", **action}


def block_actions_payload(fake: FakeSlack, action: dict[str, Any], *, user: str,
                          team_id: str = DEFAULT_TEAM, channel: str | None = DEFAULT_CHANNEL,
                          message: dict[str, Any] | None = None,
                          view: dict[str, Any] | None = None,
                          state: dict[str, dict[str, dict[str, Any]]] | None = None,
                          enterprise_id: str | None = None,
                          org_install: bool = False) -> dict[str, Any]:
    """A block_actions payload for one clicked element (`action` has action_id, value...),
    as docs.slack.dev/reference/interaction-payloads/block_actions-payload shows it.

    The element is looked up in the message's or view's blocks (its text, value, type);
    `state.values` holds every stateful element of those blocks, untouched unless `state`
    says otherwise (a picked date also lands there, as Slack does)."""
    bot_user, bot_id = _bot(fake, team_id)
    if view is None:
        ts = (message or {}).get("ts", f"{int(time.time())}.000100")
        if message is not None and "blocks" not in message:
            # Slack sends the whole message clicked on: the one the app posted, if it did.
            posted = fake.messages.get((channel, ts))
            message = {**posted, "team": team_id, **message} if posted else message
        message = message or {"type": "message", "subtype": "bot_message", "text": "",
                              "ts": ts, "user": bot_user, "bot_id": bot_id, "app_id": APP_ID,
                              "team": team_id, "blocks": []}
    blocks = (view if view is not None else message or {}).get("blocks") or []
    clicked = _clicked(action, blocks)
    values = state_values(blocks)
    keys = _STATE_KEYS.get(clicked["type"])
    if keys and keys[0] in clicked:  # the element's new value is in the state too
        values.setdefault(clicked["block_id"], {})[clicked["action_id"]] = {
            "type": clicked["type"], keys[0]: clicked[keys[0]]}
    values = _merge(values, state)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _who(user, team_id),
        "api_app_id": APP_ID, "token": TOKEN,
        "trigger_id": fake.new_trigger_id((view or {}).get("id")),
        **_where(team_id, enterprise_id, org_install),
        "actions": [clicked],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = {**view, "state": {"values": values}}  # a view's state is its own
    else:
        assert message is not None
        payload["container"] = {"type": "message", "message_ts": message["ts"],
                                "channel_id": channel, "is_ephemeral": False}
        payload["channel"] = {"id": channel, "name": "general"}
        payload["message"] = message
        payload["state"] = {"values": values}
        payload["response_url"] = fake.response_url()
    return payload


def view_submission_payload(fake: FakeSlack, view: dict[str, Any],
                            values: dict[str, dict[str, dict[str, Any]]], *, user: str,
                            team_id: str = DEFAULT_TEAM, enterprise_id: str | None = None,
                            org_install: bool = False) -> dict[str, Any]:
    """A view_submission for `view` (as views.open returned it): `view.state.values` holds
    every input of the view, with what `values` says typed over the initial ones
    (docs.slack.dev/reference/interaction-payloads/view-interactions-payload#view_submission)."""
    return {
        "type": "view_submission",
        **_where(team_id, enterprise_id, org_install),
        "user": _who(user, team_id),
        "api_app_id": APP_ID, "token": TOKEN,
        "trigger_id": fake.new_trigger_id(view.get("id")),
        "view": {**view, "state": {"values": _merge(state_values(view.get("blocks", [])),
                                                    values)}},
        "response_urls": [],
    }


def view_closed_payload(fake: FakeSlack, view: dict[str, Any], *, user: str,
                        team_id: str = DEFAULT_TEAM, is_cleared: bool = False,
                        enterprise_id: str | None = None,
                        org_install: bool = False) -> dict[str, Any]:
    """A view_closed, sent only for a modal opened with `notify_on_close: true`; no trigger_id
    (docs.slack.dev/reference/interaction-payloads/view-interactions-payload#view_closed)."""
    return {
        "type": "view_closed",
        **_where(team_id, enterprise_id, org_install),
        "user": _who(user, team_id),
        "api_app_id": APP_ID, "token": TOKEN,
        "view": {**view, "state": {"values": state_values(view.get("blocks", []))}},
        "is_cleared": is_cleared,
    }


def event_payload(event: dict[str, Any], *, team_id: str = DEFAULT_TEAM,
                  event_id: str | None = None, bot_user: str = "U0BOT0001",
                  enterprise_id: str | None = None,
                  org_install: bool = False) -> dict[str, Any]:
    """An Events API event_callback wrapping one event, with the envelope fields of
    docs.slack.dev/apis/events-api ("Callback field overview"): one authorization
    (apps.event.authorizations.list gives the rest), an opaque event_context."""
    event_id = event_id or f"Ev{uuid.uuid4().hex[:10].upper()}"
    return {
        "token": TOKEN, "team_id": team_id, "api_app_id": APP_ID,
        **({"enterprise_id": enterprise_id} if enterprise_id else {}),
        "event": {"event_ts": f"{time.time():.6f}", **event}, "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": enterprise_id,
                            "team_id": None if org_install else team_id,
                            "user_id": bot_user, "is_bot": True,
                            "is_enterprise_install": org_install}],
        "is_ext_shared_channel": False,
        "event_context": "4-" + base64.urlsafe_b64encode(json.dumps(
            {"et": event.get("type"), "tid": team_id, "aid": APP_ID}).encode()).decode(),
        "context_team_id": team_id,
        "context_enterprise_id": enterprise_id,
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
        team_id = team_id or self.team_id
        payload = payload or event_payload(event, team_id=team_id,
                                           bot_user=_bot(self.fake, team_id)[0])
        body = json.dumps(payload)
        return Sent(self.post(body, content_type="application/json", **options), body, payload)
