"""`chaser serve` as a person runs it: a real process, HTTP or Socket Mode, health, SIGTERM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.slack_api import APP_TOKEN, FakeSlack
from tests.fakes.slack_requests import (
    SlackSender,
    block_actions_payload,
    command_payload,
    event_payload,
)
from tests.fixtures.slack import MEMBER
from tests.served import Served, run_once, serve_env


@pytest.fixture
def served(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[callable]:
    started: list[Served] = []

    def start(**extra: str) -> Served:
        process = Served(serve_env(fake_slack, tmp_path, **extra), tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def test_http_mode_without_a_signing_secret_stops_with_one_line_naming_it(fake_slack, tmp_path):
    env = serve_env(fake_slack, tmp_path)
    del env["SLACK_SIGNING_SECRET"]
    result = run_once(env, tmp_path)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr + result.stdout


def test_a_malformed_app_token_stops_with_one_line_naming_it(fake_slack, tmp_path):
    result = run_once(serve_env(fake_slack, tmp_path, SLACK_APP_TOKEN="xoxb-not-an-app-token"),
                      tmp_path)
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN is invalid" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_bot_token_slack_refuses_stops_with_one_line_naming_it(fake_slack, tmp_path):
    result = run_once(serve_env(fake_slack, tmp_path, SLACK_BOT_TOKEN="xoxb-revoked"), tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_app_token_slack_refuses_stops_with_one_line_naming_it(fake_slack, tmp_path):
    result = run_once(serve_env(fake_slack, tmp_path, SLACK_APP_TOKEN="xapp-1-revoked"),
                      tmp_path)
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN was refused by Slack (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_port_already_in_use_stops_with_one_line_before_saying_it_serves(fake_slack, tmp_path):
    # uvicorn alone logged its own error after "serving on port …" and exited 3, the code
    # the README keeps for a command that is not built yet.
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_once(serve_env(fake_slack, tmp_path, PORT=str(port)), tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"Error: port {port} is already in use (another chaser serve?): stop what holds it, "
        "or set PORT to a free port.")


def test_slack_out_of_reach_at_start_is_one_line_not_a_bug_report(fake_slack, tmp_path):
    # Nothing listens at SLACK_API_URL (a network or proxy down): the start-up check of the
    # bot token gets no answer at all, which is neither a refused token nor a bug.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    result = run_once(serve_env(fake_slack, tmp_path, SLACK_API_URL=nowhere), tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert lines == [f"Error: Slack did not answer at {nowhere} (Connection refused): check the "
                     "network (and SLACK_API_URL), then run chaser serve again."]
    assert "Traceback" not in result.stderr and "report it" not in result.stderr


def test_http_mode_serves_slack_and_health_then_exits_cleanly_on_sigterm(served, fake_slack):
    process = served()
    health = process.wait_healthy()
    assert health == {"status": "ok", "checks": {"database": "ok", "scheduler": "ok"}}
    sender = SlackSender(process.url, fake_slack)
    assert "/chaser status" in sender.command("help", user=MEMBER).response.text
    code, output = process.stop()
    assert code == 0, output
    assert "Traceback" not in output


def test_socket_mode_answers_envelopes_survives_a_disconnect_and_exits_cleanly(
    served, fake_slack
):
    process = served(SLACK_APP_TOKEN=APP_TOKEN)
    health = process.wait_healthy()
    assert health["checks"] == {"database": "ok", "scheduler": "ok", "socket_mode": "ok"}
    # HTTP mode's request URL is not served in Socket Mode.
    assert httpx.post(f"{process.url}/slack/events").status_code == 404
    fake_slack.wait_for_sockets(1)

    first = fake_slack.send_envelope("slash_commands",
                                     command_payload(fake_slack, "help", user=MEMBER))
    assert "/chaser status" in str(fake_slack.wait_for_ack(first)["payload"])

    fake_slack.disconnect_sockets("refresh_requested")
    fake_slack.wait_for_sockets(2)
    again = fake_slack.send_envelope("slash_commands",
                                     command_payload(fake_slack, "nonsense", user=MEMBER))
    assert "is not a command" in str(fake_slack.wait_for_ack(again)["payload"])
    assert len(fake_slack.calls_to("apps.connections.open", ok=True)) == 2

    # events_api: the Home tab is published; redelivered with retry_attempt, it runs once.
    event = event_payload({"type": "app_home_opened", "user": MEMBER, "tab": "home"})
    fake_slack.wait_for_ack(fake_slack.send_envelope("events_api", event))
    fake_slack.wait_for_ack(fake_slack.send_envelope("events_api", event, retry_attempt=1,
                                                     retry_reason="timeout"))
    fake_slack.wait_for_calls("views.publish")

    # interactive: a click on a link button is acknowledged.
    click = block_actions_payload(fake_slack, {"action_id": "connect_xero", "value": "x"},
                                  user=MEMBER)
    fake_slack.wait_for_ack(fake_slack.send_envelope("interactive", click))

    # Every envelope is acknowledged, even one no listener takes (an unacknowledged envelope
    # is redelivered and delays the others: docs.slack.dev/apis/events-api/using-socket-mode).
    unknown = event_payload({"type": "reaction_added", "user": MEMBER, "reaction": "eyes"})
    fake_slack.wait_for_ack(fake_slack.send_envelope("events_api", unknown))
    old_button = block_actions_payload(fake_slack, {"action_id": "renamed_long_ago",
                                                    "value": "x"}, user=MEMBER)
    fake_slack.wait_for_ack(fake_slack.send_envelope("interactive", old_button))

    # A slash command redelivered to the app runs once: one reply on its response_url.
    command = command_payload(fake_slack, "status", user=MEMBER)
    fake_slack.wait_for_ack(fake_slack.send_envelope("slash_commands", command))
    fake_slack.wait_for_ack(fake_slack.send_envelope("slash_commands", command,
                                                     retry_attempt=1, retry_reason="timeout"))
    fake_slack.wait_for_hook(command["response_url"])

    code, output = process.stop()
    assert len(fake_slack.calls_to("views.publish")) == 1
    assert len(fake_slack.hook(command["response_url"])) == 1
    assert code == 0, output
    assert "Traceback" not in output


def test_serve_with_a_webhook_key_answers_xeros_intent_to_receive(served):
    from bot.xero.webhooks import expected_signature

    process = served(XERO_WEBHOOK_KEY="serve-test-webhook-key")
    process.wait_healthy()
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"ABCDEFGHIJ"}'
    signed = httpx.post(f"{process.url}/xero/webhooks", content=body, timeout=10, headers={
        "x-xero-signature": expected_signature(body, "serve-test-webhook-key")})
    forged = httpx.post(f"{process.url}/xero/webhooks", content=body, timeout=10, headers={
        "x-xero-signature": expected_signature(body, "someone-else")})
    assert (signed.status_code, signed.content) == (200, b"")
    assert forged.status_code == 401
    code, output = process.stop()
    assert code == 0, output


def test_a_body_far_larger_than_slack_or_xero_send_is_refused_before_it_is_read(served):
    # Anyone may POST to these public paths; an unsigned 150 MB body was read whole into
    # memory (RSS +200 MB a request) before its signature was looked at.
    process = served(XERO_WEBHOOK_KEY="serve-test-webhook-key")
    process.wait_healthy()
    huge = b"x" * (6 * 1024 * 1024)
    for path in ("/xero/webhooks", "/slack/events"):
        answer = httpx.post(f"{process.url}{path}", content=huge, timeout=30,
                            headers={"x-xero-signature": "forged", "Content-Type": "text/plain"})
        assert answer.status_code == 413, (path, answer.status_code)
        streamed = httpx.post(f"{process.url}{path}", content=iter([huge]), timeout=30,
                              headers={"Content-Type": "text/plain"})  # no Content-Length
        assert streamed.status_code == 413, (path, streamed.status_code)
    assert httpx.get(f"{process.url}/healthz", timeout=10).status_code == 200
    code, output = process.stop()
    assert code == 0, output


def test_sigterm_lets_an_acknowledged_sync_finish_and_post_its_result(
    served, fake_slack, sandbox, tmp_path
):
    from bot.deps import build_context
    from tests.connect_helpers import approve
    from tests.fakes.slack_api import DEFAULT_TEAM
    from tests.fixtures.sandbox import FINANCE
    from tests.fixtures.slack import ADMIN, slack_settings

    process_env = serve_env(fake_slack, tmp_path, XERO_CLIENT_ID=sandbox.config.client_id,
                            XERO_CLIENT_SECRET=sandbox.config.client_secret,
                            XERO_BASE_URL=sandbox.url)
    deps = build_context(slack_settings(fake_slack, process_env["DATABASE_URL"], tmp_path,
                                        xero=sandbox))
    service = deps.connect_service()
    service.complete(*approve(service.start(DEFAULT_TEAM, ADMIN, login_hint=FINANCE)))
    deps.session_factory.kw["bind"].dispose()

    process = Served(process_env, tmp_path)
    try:
        process.wait_healthy()
        # Xero holds its next answers for 2 s, so the sync is still running at SIGTERM.
        httpx.post(f"{sandbox.url}/_sandbox/faults",
                   json={"kind": "delay", "delay_ms": 2000, "count": 2}).raise_for_status()
        sent = SlackSender(process.url, fake_slack).command("sync", user=MEMBER)
        assert sent.json()["text"] == "Syncing with Xero…"
        assert fake_slack.hook(sent.response_url) == []
        code, output = process.stop()
    finally:
        process.kill()
    assert code == 0, output
    assert "Traceback" not in output
    (result,) = fake_slack.hook(sent.response_url)  # posted before the process exited
    assert "synced" in result["text"]
