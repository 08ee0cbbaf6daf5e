"""A lost Xero connection: chasing pauses, each admin gets one DM per incident with Reconnect,
one "reconnected" DM after; App Home shows every organisation's state. Through the sandbox and
the fake Slack."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.blocks.home import home_view
from bot.chasing.digest_builder import DigestBuilder
from bot.chasing.policy import SkipReason
from bot.cli.demo import connect_unattended
from bot.ids import Action, Event
from bot.payloads import ConnectionRef, encode
from bot.sandbox.ledger import build_ledger
from bot.slack_notifier import SlackNotifier
from storage import repositories
from storage.db import session_scope
from storage.models import CLI_WORKSPACE_TEAM_ID, ConnectionStatus, MemberRole
from tests.fakes.slack_requests import block_actions_payload
from tests.fixtures.slack import ADMIN, MEMBER, OWNER


@pytest.fixture
def lost_world(make_sandbox, make_slack_world) -> Any:
    sandbox = make_sandbox(ledger=build_ledger(seed=3, orgs=1, contacts=8, invoices=40))
    world = make_slack_world(xero=sandbox)
    world.deps.notifier = SlackNotifier(world.app.clients.for_team, world.deps.session_factory,
                                        world.deps.clock)
    (connected,) = connect_unattended(world.deps).connected
    with session_scope(world.deps.session_factory) as session:
        cli = repositories.workspace_by_team_id(session, CLI_WORKSPACE_TEAM_ID)
        repositories.set_workspace_members(session, cli.id, MemberRole.ADMIN, [ADMIN, OWNER])
    (report,) = world.deps.sync_service().sync_all()
    assert report.outcome == "ok"
    world.sandbox = sandbox
    world.connection_id = connected.connection_id
    return world


def dms(world: Any) -> list[Any]:
    return [c for c in world.fake.calls_to("chat.postMessage", ok=True)
            if c.args["channel"].startswith("U")]


def lose_connection(world: Any) -> None:
    with session_scope(world.deps.session_factory) as session:
        tenant = repositories.get_connection(session, world.connection_id).tenant_id
    httpx.post(f"{world.sandbox.url}/_sandbox/tenants/{tenant}/revoke").raise_for_status()
    (report,) = world.deps.sync_service().sync_all()
    assert report.outcome == "failed"


def test_each_admin_gets_one_dm_per_incident_with_a_reconnect_button(lost_world):
    world = lost_world
    lose_connection(world)
    world.deps.sync_service().sync_all()  # skipped now: nothing new to say
    with session_scope(world.deps.session_factory) as session:
        connection = repositories.get_connection(session, world.connection_id)
        assert connection.status == ConnectionStatus.NEEDS_RECONNECT
        event_again = connection  # a second report of the same loss, from another process
    from bot.chasing.ports import ConnectionLost

    world.deps.notifier.connection_lost(ConnectionLost(
        team_id=CLI_WORKSPACE_TEAM_ID, workspace_id=event_again.workspace_id,
        connection_id=world.connection_id, tenant_id=event_again.tenant_id,
        tenant_name=event_again.tenant_name, reason="again", at=world.deps.clock()))

    sent = dms(world)
    assert sorted(c.args["channel"] for c in sent) == [ADMIN, OWNER]
    (button,) = sent[0].args["blocks"][1]["elements"]
    assert (button["action_id"], button["value"]) == (
        Action.RECONNECT_XERO, encode(ConnectionRef(c=world.connection_id)))


def test_chasing_pauses_while_the_connection_is_lost(lost_world):
    world = lost_world
    lose_connection(world)
    digest = DigestBuilder(world.deps.session_factory, world.deps.clock).build(
        world.connection_id)
    assert digest.status == "needs_reconnect"
    assert digest.not_chased == {SkipReason.CONNECTION_LOST: digest.open.count}


def test_after_reconnecting_each_admin_told_hears_once_that_chasing_resumed(lost_world):
    world = lost_world
    lose_connection(world)
    (again,) = connect_unattended(world.deps).connected
    assert again.reconnected
    connect_unattended(world.deps)  # reconnecting twice is one incident closed, not two

    back = [c for c in dms(world) if "reconnected" in c.args["text"]]
    assert sorted(c.args["channel"] for c in back) == [ADMIN, OWNER]
    (report,) = world.deps.sync_service().sync_all()
    assert report.outcome == "ok"

    lose_connection(world)  # a new incident: a new DM each
    assert len([c for c in dms(world) if "needs reconnecting" in c.args["text"]]) == 4


def test_reconnect_opens_a_modal_with_a_fresh_consent_link_for_admins_only(lost_world):
    world = lost_world
    lose_connection(world)
    value = encode(ConnectionRef(c=world.connection_id))
    refused = world.send.interaction(block_actions_payload(
        world.fake, {"action_id": Action.RECONNECT_XERO.value, "value": value}, user=MEMBER,
        channel=None, message={"ts": "1.1"}))
    (said,) = world.fake.wait_for_hook(refused.response_url)
    assert "Only admins can connect Xero" in said["text"]
    assert world.fake.calls_to("views.open") == []

    world.send.interaction(block_actions_payload(
        world.fake, {"action_id": Action.RECONNECT_XERO.value, "value": value}, user=ADMIN,
        channel=None, message={"ts": "1.1"}))
    (opened,) = world.fake.wait_for_calls("views.open")
    link = opened.args["view"]["blocks"][1]["elements"][0]
    assert link["url"].startswith(f"{world.sandbox.url}/identity/connect/authorize") or \
        link["url"].startswith(world.sandbox.url)


def test_app_home_shows_status_last_sync_and_digest_settings(lost_world):
    world = lost_world
    lose_connection(world)
    world.send.event({"type": Event.APP_HOME_OPENED.value, "user": MEMBER, "tab": "home",
                      "channel": "D0HOME"})
    (published,) = world.fake.wait_for_calls("views.publish")
    view = published.args["view"]
    org = view["blocks"][3]
    assert "Needs reconnecting" in org["text"]["text"]
    assert org["accessory"]["action_id"] == Action.RECONNECT_XERO
    fields = [f["text"] for f in org["fields"]]
    assert fields[0].startswith("*Last sync*\n") and "UTC" in fields[0]
    assert "no channel yet" in fields[1]
    assert fields[2] == "*Chasing*\nstopped until Xero is connected"


def test_app_home_with_nothing_connected_offers_connect():
    view = home_view([])
    assert view["blocks"][1]["accessory"]["action_id"] == Action.RECONNECT_XERO
    assert "No Xero organisation is connected yet" in view["blocks"][-1]["text"]["text"]


def test_a_connection_lost_and_regained_from_a_terminal_is_still_told_once(lost_world):
    from bot.chasing.ports import RecordingNotifier

    world = lost_world
    slack_notifier = world.deps.notifier
    world.deps.notifier = RecordingNotifier()  # as `chaser sync` in a terminal would have
    lose_connection(world)
    assert dms(world) == []
    slack_notifier.catch_up()
    slack_notifier.catch_up()  # every minute: nothing new to say
    assert sorted(c.args["channel"] for c in dms(world)) == [ADMIN, OWNER]

    connect_unattended(world.deps)  # `chaser connect` in a terminal
    slack_notifier.catch_up()
    slack_notifier.catch_up()
    back = [c.args["channel"] for c in dms(world) if "reconnected" in c.args["text"]]
    assert sorted(back) == [ADMIN, OWNER]


def told_lost(world: Any) -> list[str]:
    return sorted(c.args["channel"] for c in dms(world) if "needs reconnecting" in c.args["text"])


def name_settings_admins(world: Any, people: list[str]) -> None:
    with session_scope(world.deps.session_factory) as session:
        cli = repositories.workspace_by_team_id(session, CLI_WORKSPACE_TEAM_ID)
        repositories.set_workspace_members(session, cli.id, MemberRole.ADMIN, people)


def test_the_workspaces_own_admins_and_owners_hear_too_once_each_and_hear_it_is_back(
    lost_world
):
    world = lost_world
    world.fake.add_user("U0PRIMARY", is_primary_owner=True)
    world.fake.add_user("U0GONE", is_admin=True, deleted=True)  # deactivated: never told
    world.fake.add_user("U0ROBOT", is_admin=True, is_bot=True)  # a bot: never told
    world.fake.users_page_size = 2  # seven members: four pages of users.list
    name_settings_admins(world, [MEMBER, ADMIN])  # MEMBER is an admin by settings only
    lose_connection(world)
    world.deps.notifier.catch_up()  # the same incident seen again: nobody hears twice

    assert told_lost(world) == sorted([ADMIN, MEMBER, OWNER, "U0PRIMARY"])
    pages = world.fake.calls_to("users.list", ok=True)
    assert [bool(page.args.get("cursor")) for page in pages] == [False, True, True, True]
    assert {page.args["limit"] for page in pages} == {"200"}  # listed once: then cached

    connect_unattended(world.deps)
    back = sorted(c.args["channel"] for c in dms(world) if "reconnected" in c.args["text"])
    assert back == told_lost(world)


@pytest.mark.parametrize("failure", ["missing_scope", "ratelimited"])
def test_when_slack_cannot_list_its_admins_the_others_still_hear_and_a_log_says_why(
    lost_world, caplog, failure
):
    world = lost_world
    name_settings_admins(world, [MEMBER])
    if failure == "ratelimited":
        world.fake.rate_limit("users.list", retry_after=30)
    else:
        world.fake.fail("users.list", failure)
    with caplog.at_level("WARNING", logger="bot.slack_notifier"):
        lose_connection(world)
    assert told_lost(world) == [MEMBER]
    (said,) = [r.getMessage() for r in caplog.records if "users.list" in r.getMessage()]
    assert f"users.list answered {failure}" in said
    assert ("users:read" in said) == (failure == "missing_scope")

    # A minute later the catch-up lists them: the workspace's admins hear, still once each.
    world.deps.notifier.catch_up()
    world.deps.notifier.catch_up()
    assert told_lost(world) == sorted([ADMIN, MEMBER, OWNER])


def test_a_listing_failure_that_lasts_is_one_warning_not_one_a_minute(lost_world, caplog):
    world = lost_world
    name_settings_admins(world, [MEMBER])
    world.fake.fail("users.list", "missing_scope", times=4)
    with caplog.at_level("DEBUG", logger="bot.slack_notifier"):
        lose_connection(world)
        world.deps.notifier.catch_up()
        world.deps.notifier.catch_up()  # the scope is still missing, minutes later
    said = [r for r in caplog.records if "users.list" in r.getMessage()]
    assert [r.levelname for r in said] == ["WARNING", "DEBUG", "DEBUG"]
    assert told_lost(world) == [MEMBER]
    world.deps.notifier.catch_up()  # one more failure; then the scope is granted
    with caplog.at_level("INFO", logger="bot.slack_notifier"):
        world.deps.notifier.catch_up()
    assert any("listed the admins" in r.getMessage() for r in caplog.records)
    assert told_lost(world) == sorted([ADMIN, MEMBER, OWNER])
