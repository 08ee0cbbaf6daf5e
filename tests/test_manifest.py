"""app_manifest.yaml is valid against Slack's schema and agrees with the registered listeners."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jsonschema
import yaml

from bot.ids import Command, Event
from bot.slack_clients import BOT_SCOPES
from tests.fixtures.slack import SlackWorld
from tests.needs import SLACK_MANIFEST_SCHEMA_DIR, folder_file

ROOT = Path(__file__).resolve().parent.parent


def load_manifest() -> dict:
    return yaml.safe_load((ROOT / "app_manifest.yaml").read_text())


def test_manifest_validates_against_slack_schema():
    path = folder_file(SLACK_MANIFEST_SCHEMA_DIR, "manifest.schema.1.0.0.json")
    schema = json.loads(path.read_text())
    jsonschema.validate(load_manifest(), schema)


def test_manifest_turns_on_socket_mode_interactivity_and_the_home_tab():
    manifest = load_manifest()
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    command = manifest["features"]["slash_commands"][0]
    assert command["usage_hint"] and command["description"]


def test_manifest_asks_for_exactly_the_bot_scopes_the_app_uses():
    assert sorted(load_manifest()["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)


def test_manifest_commands_and_events_are_exactly_the_registered_listeners(
    slack_world: SlackWorld,
):
    manifest = load_manifest()
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert commands == slack_world.app.registered_commands == {c.value for c in Command}
    assert events == slack_world.app.registered_events == {e.value for e in Event}


def test_every_manifest_command_and_event_reaches_a_listener(slack_world: SlackWorld, caplog):
    # A request no listener matches is answered 200 too, and logged as such (bot/handlers/
    # errors.py `unhandled`).
    caplog.set_level(logging.INFO, logger="bot.handlers.errors")
    manifest = load_manifest()
    for command in manifest["features"]["slash_commands"]:
        sent = slack_world.send.command("help", user="U0MEMBER", payload=None)
        assert sent.payload["command"] == command["command"]
        assert sent.response.status_code == 200
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        body = {"type": event, "user": "U0MEMBER", "tab": "home"}
        if event == "tokens_revoked":
            body = {"type": event, "tokens": {"oauth": [], "bot": ["U0BOT0001"]}}
        assert slack_world.send.event(body).response.status_code == 200, event
    slack_world.send.event({"type": "reaction_added", "user": "U0MEMBER"})  # the test can fail
    unhandled = [r.getMessage() for r in caplog.records if "No listener" in r.getMessage()]
    assert unhandled == ["No listener for this Slack request (event reaction_added); "
                         "acknowledged and ignored"]
