"""The app over real HTTP: routing, usage replies, retries that never run twice, health."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.fakes.slack_requests import block_actions_payload, view_closed_payload
from tests.fixtures.slack import MEMBER, SlackWorld


def test_chaser_alone_and_help_list_every_subcommand(slack_world: SlackWorld):
    for text in ("", "help", "HELP"):
        sent = slack_world.send.command(text, user=MEMBER)
        assert sent.response.status_code == 200
        body = sent.json()
        assert body["response_type"] == "ephemeral"
        listed = body["blocks"][1]["text"]["text"]
        for word in ("connect", "status", "sync", "overdue", "invoice", "customer", "settings",
                     "pause", "resume"):
            assert f"`/chaser {word}" in listed


def test_an_unknown_subcommand_gets_a_short_ephemeral_pointer_to_help(slack_world: SlackWorld):
    body = slack_world.send.command("frobnicate now", user=MEMBER).json()
    assert body == {"response_type": "ephemeral",
                    "text": "`/chaser frobnicate` is not a command. Try `/chaser help`."}


def test_help_with_arguments_gets_its_usage_line(slack_world: SlackWorld):
    body = slack_world.send.command("help me", user=MEMBER).json()
    assert body["text"] == "Usage: `/chaser help`"


def test_a_retried_command_is_acknowledged_but_not_run_again(slack_world: SlackWorld):
    first = slack_world.send.command("help", user=MEMBER)
    retry = slack_world.send.command("help", user=MEMBER, payload=first.payload, retry_num=1)
    assert "blocks" in first.json()
    assert retry.response.status_code == 200
    assert retry.response.text == ""


def test_a_retried_event_runs_once(slack_world: SlackWorld):
    send, fake = slack_world.send, slack_world.fake
    first = send.event({"type": "app_home_opened", "user": MEMBER, "tab": "home"})
    send.event({}, payload=first.payload, retry_num=1)
    send.event({}, payload=first.payload, retry_num=2)
    fake.wait_for_calls("views.publish")
    other = send.event({"type": "app_home_opened", "user": MEMBER, "tab": "home"})
    assert other.response.status_code == 200
    fake.wait_for_calls("views.publish", 2)
    assert len(fake.calls_to("views.publish")) == 2


def test_healthz_reports_the_database(slack_world: SlackWorld):
    answer = httpx.get(f"{slack_world.url}/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_an_error_just_after_the_ack_keeps_the_200_and_reaches_the_person(
    slack_world: SlackWorld,
):
    # Bolt resets an acknowledgement when a listener raises right after acking; every such
    # error must go through the funnel instead (no Xero is connected here, so each fails).
    for _ in range(5):
        sent = slack_world.send.command("customer acme", user=MEMBER)
        assert sent.response.status_code == 200
        (post,) = slack_world.fake.wait_for_hook(sent.response_url)
        assert post["text"] == "No Xero organisation is connected: run `/chaser connect` first."
        assert post["response_type"] == "ephemeral"


def test_look_ups_before_any_organisation_is_connected_say_to_connect(slack_world: SlackWorld):
    # Not "Nothing is overdue" nor "No invoice INV-1": with no Xero there is nothing to ask.
    for text in ("overdue", "invoice INV-00001"):
        sent = slack_world.send.command(text, user=MEMBER)
        (post,) = slack_world.fake.wait_for_hook(sent.response_url)
        assert post["text"] == "No Xero organisation is connected: run `/chaser connect` first."


@pytest.mark.parametrize("action", [
    {"action_id": "customer_pick:7", "value": "not ours"},
    {"action_id": "schedule_customer_pick:7", "value": '{"v": "zz"}'},
    {"action_id": "forewarn_skip", "value": '{"v": "s1", "c": 1, "k": 2, "d": "2026-02-30"}'},
])
def test_a_button_whose_value_chaser_bot_cannot_read_is_told_as_an_older_message(
    slack_world: SlackWorld, action: dict
):
    # Not "Something went wrong (reference …)" with a traceback logged: the value is from a
    # message chaser-bot no longer reads (a forewarn's Skip is not "this escalation" either).
    from tests.fakes.slack_requests import block_actions_payload

    click = block_actions_payload(slack_world.fake, action, user=MEMBER)
    assert slack_world.send.interaction(click).response.status_code == 200
    (told,) = slack_world.fake.wait_for_hook(click["response_url"])
    assert told["text"] == ("That button or form is from a message chaser-bot no longer reads. "
                            "Run `/chaser help` to see what it does now.")


def test_an_unexpected_error_shows_a_reference_not_a_traceback(slack_world: SlackWorld):
    factory = slack_world.deps.session_factory
    engine = factory.kw["bind"]
    factory.configure(bind=None)  # every database call now fails, from the first middleware on
    try:
        sent = slack_world.send.command("status", user=MEMBER)
    finally:
        factory.configure(bind=engine)
    assert sent.response.status_code == 200
    assert sent.json()["response_type"] == "ephemeral"
    assert sent.json()["text"].startswith("Something went wrong (reference ")


def test_url_verification_is_answered_with_its_challenge(slack_world: SlackWorld):
    # docs.slack.dev/reference/events/url_verification: the request as Slack sends it.
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge,
                       "type": "url_verification"})
    answer = slack_world.send.post(body, content_type="application/json")
    assert answer.status_code == 200 and answer.json() == {"challenge": challenge}


def test_requests_no_listener_takes_are_still_acknowledged_with_200(slack_world: SlackWorld):
    # Slack retries an event not answered 2xx and disables subscriptions that keep failing
    # (docs.slack.dev/apis/events-api); a button answered 404 shows the person an error.
    send, fake = slack_world.send, slack_world.fake
    event = send.event({"type": "reaction_added", "user": MEMBER, "reaction": "thumbsup",
                        "item": {"type": "message", "channel": "C0GENERAL1", "ts": "1.000200"}})
    assert (event.response.status_code, event.response.text) == (200, "")
    limited = send.post(json.dumps({"token": "x", "team_id": fake.workspace().team_id,
                                    "minute_rate_limited": 1518467820,
                                    "api_app_id": "A0CHASER01", "type": "app_rate_limited"}),
                        content_type="application/json")
    assert limited.status_code == 200
    closed = send.interaction(view_closed_payload(  # a modal chaser-bot no longer opens
        fake, {"id": "V0CLOSED1", "type": "modal", "callback_id": "gone", "blocks": [],
               "private_metadata": "", "hash": "1.2"}, user=MEMBER))
    assert closed.response.status_code == 200
    old = block_actions_payload(fake, {"action_id": "renamed_long_ago", "value": "x"},
                                user=MEMBER)
    clicked = send.interaction(old)
    assert clicked.response.status_code == 200
    (said,) = fake.wait_for_hook(old["response_url"])
    assert said["text"].startswith("That button or form is from a message chaser-bot no longer")


def test_an_org_wide_install_is_refused_in_one_line_and_nothing_runs(slack_world: SlackWorld):
    # chaser-bot is installed per workspace (app_manifest.yaml org_deploy_enabled: false); an
    # org-wide install's request has `team: null` and `is_enterprise_install: true`.
    from bot.messages import SLACK_ORG_WIDE_REFUSED
    from tests.fakes.slack_requests import (
        block_actions_payload,
        command_payload,
        event_payload,
    )

    send, fake = slack_world.send, slack_world.fake
    grid = {"enterprise_id": "E0GRID001", "org_install": True}
    command = send.command("help", user=MEMBER,
                           payload=command_payload(fake, "help", user=MEMBER, **grid))
    assert command.response.status_code == 200
    assert command.json() == {"response_type": "ephemeral", "text": SLACK_ORG_WIDE_REFUSED}
    click = block_actions_payload(fake, {"action_id": "renamed_long_ago", "value": "x"},
                                  user=MEMBER, **grid)
    assert click["team"] is None and click["enterprise"]["id"] == "E0GRID001"
    clicked = send.interaction(click)
    assert (clicked.response.status_code, clicked.response.text) == (200, "")
    (told,) = fake.wait_for_hook(click["response_url"])
    assert told["text"] == SLACK_ORG_WIDE_REFUSED
    calls = len(fake.calls)
    event = send.event({}, payload=event_payload(
        {"type": "app_home_opened", "user": MEMBER, "tab": "home"}, **grid))
    assert (event.response.status_code, event.response.text) == (200, "")
    time.sleep(0.3)
    assert len(fake.calls) == calls  # no home tab published for an org-wide install
    assert audit_actions(slack_world) == []


def audit_actions(world: SlackWorld) -> list[str]:
    from sqlalchemy import select

    from storage.db import session_scope
    from storage.models import AuditEntry

    with session_scope(world.deps.session_factory) as session:
        return [e.action for e in session.scalars(select(AuditEntry))]
