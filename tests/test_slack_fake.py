"""The fake Slack rejects what real Slack rejects, so tests against it can fail for real."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fixtures.slack import ADMIN, MEMBER

CHANNEL = "C0GENERAL1"


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def error_of(call) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response["error"]


def test_posting_records_the_call_and_returns_a_timestamp(client, fake_slack):
    sent = client.chat_postMessage(channel=CHANNEL, text="hello", blocks=[section("hello")])
    assert sent["ts"]
    assert fake_slack.calls_to("chat.postMessage")[0].args["text"] == "hello"


def test_bad_or_missing_tokens_are_refused(fake_slack):
    assert error_of(lambda: WebClient(token="xoxb-wrong", base_url=fake_slack.api_url)
                    .chat_postMessage(channel=CHANNEL, text="x")) == "invalid_auth"
    assert error_of(lambda: WebClient(base_url=fake_slack.api_url)
                    .chat_postMessage(channel=CHANNEL, text="x")) == "not_authed"


def test_missing_arguments_are_refused(client):
    assert error_of(lambda: client.api_call("chat.postMessage", json={"text": "x"})) \
        == "invalid_arguments"
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL)) == "no_text"


def test_an_unknown_channel_is_refused(client):
    assert error_of(lambda: client.chat_postMessage(channel="C0NOPE", text="x")) \
        == "channel_not_found"


def test_more_than_fifty_blocks_are_refused_and_fifty_are_fine(client):
    client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("a")] * 50)
    assert error_of(lambda: client.chat_postMessage(
        channel=CHANNEL, text="x", blocks=[section("a")] * 51)) == "invalid_blocks"


def test_texts_past_their_limits_are_refused(client):
    assert error_of(lambda: client.chat_postMessage(
        channel=CHANNEL, text="x", blocks=[section("a" * 3001)])) == "invalid_blocks"
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="a" * 40_001)) \
        == "msg_too_long"
    button = {"type": "button", "action_id": "a", "value": "v" * 2001,
              "text": {"type": "plain_text", "text": "Go"}}
    assert error_of(lambda: client.chat_postMessage(
        channel=CHANNEL, text="x", blocks=[{"type": "actions", "elements": [button]}])) \
        == "invalid_blocks"


def test_ratelimited_on_demand_with_retry_after(client, fake_slack):
    fake_slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["Retry-After"] == "7"
    client.chat_postMessage(channel=CHANNEL, text="x")  # only once


def test_slack_sdks_rate_limit_handler_waits_and_retries(fake_slack):
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    fake_slack.rate_limit("chat.postMessage", retry_after=0)
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    assert [c.ok for c in fake_slack.calls_to("chat.postMessage")] == [False, True]


def test_chat_update_needs_a_message_the_bot_posted(client):
    sent = client.chat_postMessage(channel=CHANNEL, text="v1")
    client.chat_update(channel=CHANNEL, ts=sent["ts"], text="v2")
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x")) \
        == "message_not_found"


def test_ephemeral_needs_a_known_user(client):
    client.chat_postEphemeral(channel=CHANNEL, user=MEMBER, text="only you")
    assert error_of(lambda: client.chat_postEphemeral(channel=CHANNEL, user="U0GHOST",
                                                      text="x")) == "user_not_found"


def test_a_trigger_id_opens_one_modal_only(client, fake_slack):
    trigger = fake_slack.new_trigger_id()
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Settings"},
            "blocks": [section("hi")]}
    opened = client.views_open(trigger_id=trigger, view=view)
    assert opened["view"]["id"]
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=view)) \
        == "expired_trigger_id"
    assert error_of(lambda: client.views_open(trigger_id="made.up", view=view)) \
        == "invalid_trigger_id"


def test_views_push_stacks_at_most_three_modals_from_an_interaction_in_one(client, fake_slack):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Settings"},
            "blocks": [section("hi")]}
    root = client.views_open(trigger_id=fake_slack.new_trigger_id(), view=view)["view"]["id"]
    # A trigger from a slash command or a message has no modal to push onto.
    assert error_of(lambda: client.views_push(trigger_id=fake_slack.new_trigger_id(),
                                              view=view)) == "invalid_trigger_id"
    assert error_of(lambda: client.views_push(trigger_id="", view=view)) == "invalid_arguments"
    too_big = {**view, "blocks": [section(str(i)) for i in range(101)]}
    assert error_of(lambda: client.views_push(trigger_id=fake_slack.new_trigger_id(root),
                                              view=too_big)) == "invalid_arguments"
    second = client.views_push(trigger_id=fake_slack.new_trigger_id(root), view=view)
    third = client.views_push(trigger_id=fake_slack.new_trigger_id(second["view"]["id"]),
                              view=view)
    assert fake_slack.view_stack(root) == [root, second["view"]["id"], third["view"]["id"]]
    assert error_of(lambda: client.views_push(
        trigger_id=fake_slack.new_trigger_id(third["view"]["id"]), view=view)) \
        == "push_limit_reached"


def test_modal_titles_past_24_characters_are_refused(client, fake_slack):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25},
            "blocks": [section("hi")]}
    assert error_of(lambda: client.views_open(trigger_id=fake_slack.new_trigger_id(),
                                              view=view)) == "invalid_arguments"


def test_users_info_and_dm_channels(client):
    assert client.users_info(user=ADMIN)["user"]["is_admin"] is True
    assert client.conversations_open(users=MEMBER)["channel"]["id"].startswith("D")
    assert error_of(lambda: client.users_info(user="U0GHOST")) == "user_not_found"


def test_socket_mode_urls_need_an_app_level_token(client, fake_slack):
    assert error_of(lambda: client.apps_connections_open(app_token=BOT_TOKEN)) \
        == "not_allowed_token_type"
    url = client.apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith("ws://127.0.0.1:")


def test_users_list_pages_with_cursors_and_lists_bots_and_deleted_users_too(client, fake_slack):
    fake_slack.add_user("U0GONE", deleted=True)
    fake_slack.users_page_size = 2  # Slack may return fewer than `limit` asks for
    pages = [client.users_list(limit=200)]
    while cursor := pages[-1]["response_metadata"]["next_cursor"]:
        pages.append(client.users_list(limit=200, cursor=cursor))
    members = [user for page in pages for user in page["members"]]
    assert [len(page["members"]) for page in pages] == [2, 2, 1]
    assert len({user["id"] for user in members}) == 5  # three people, one gone, the app's bot
    assert {user["id"] for user in members if user["is_bot"]} == {
        fake_slack.workspace().bot_user_id}
    assert [user["deleted"] for user in members if user["id"] == "U0GONE"] == [True]
    assert error_of(lambda: client.users_list(cursor="not-a-cursor")) == "invalid_cursor"


def test_a_click_carries_the_posted_message_and_every_stateful_element_as_slack_sends_them(
        client: WebClient, fake_slack: FakeSlack):
    # docs.slack.dev/reference/interaction-payloads/block_actions-payload: the clicked
    # element's text/value/action_ts, the whole message, and state.values of its pickers.
    from tests.fakes.slack_requests import block_actions_payload, view_submission_payload

    blocks = [
        {"type": "actions", "block_id": "row", "elements": [
            {"type": "datepicker", "action_id": "when", "initial_date": "2026-12-01"},
            {"type": "button", "action_id": "go", "value": "v1",
             "text": {"type": "plain_text", "text": "Go"}}]},
        {"type": "section", "block_id": "pick", "text": {"type": "mrkdwn", "text": "x"},
         "accessory": {"type": "static_select", "action_id": "which", "options": []}},
    ]
    posted = client.chat_postMessage(channel="C0GENERAL1", text="t", blocks=blocks)
    click = block_actions_payload(fake_slack, {"action_id": "go"}, user=MEMBER,
                                  message={"type": "message", "ts": posted["ts"]})
    (action,) = click["actions"]
    assert (action["block_id"], action["type"], action["value"], action["text"]["text"]) == (
        "row", "button", "v1", "Go")
    assert float(action["action_ts"]) > 0
    assert click["message"]["blocks"] == blocks
    assert set(click["user"]) == {"id", "username", "name", "team_id"}
    assert click["state"]["values"] == {
        "row": {"when": {"type": "datepicker", "selected_date": "2026-12-01"}},
        "pick": {"which": {"type": "static_select", "selected_option": None}}}
    picked = block_actions_payload(fake_slack, {"action_id": "when",
                                                "selected_date": "2027-01-05"},
                                   user=MEMBER, message={"type": "message",
                                                         "ts": posted["ts"]})
    assert picked["state"]["values"]["row"]["when"]["selected_date"] == "2027-01-05"
    view = {"id": "V1", "type": "modal", "blocks": [
        {"type": "input", "block_id": "name", "element": {
            "type": "plain_text_input", "action_id": "v", "initial_value": "old"}},
        {"type": "input", "block_id": "note", "element": {
            "type": "plain_text_input", "action_id": "v"}}]}
    submitted = view_submission_payload(fake_slack, view, {"note": {"v": {"value": "hi"}}},
                                        user=ADMIN)
    assert submitted["view"]["state"]["values"] == {
        "name": {"v": {"type": "plain_text_input", "value": "old"}},
        "note": {"v": {"type": "plain_text_input", "value": "hi"}}}
    with pytest.raises(AssertionError):  # Slack never reports an input the view lacks
        view_submission_payload(fake_slack, view, {"nope": {"v": {"value": "x"}}}, user=ADMIN)
