"""Requests reach the app signed as Slack signs them; forged and stale ones get 401."""

from __future__ import annotations

import time

from tests.fakes.slack_signing import slack_signature
from tests.fixtures.slack import MEMBER, SlackWorld

# docs.slack.dev/authentication/verifying-requests-from-slack, the worked example.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700"
    "885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2"
    "c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_signing_matches_the_test_vector_in_slacks_documentation():
    assert slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE


def test_the_apps_verifier_accepts_the_documented_request_and_rejects_a_changed_body():
    from slack_sdk.signature import SignatureVerifier

    class DocClock:
        def now(self) -> float:
            return float(DOC_TIMESTAMP) + 10

    verifier = SignatureVerifier(DOC_SECRET, clock=DocClock())
    assert verifier.is_valid(DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE)
    assert not verifier.is_valid(DOC_BODY.replace("roadrunner", "coyote"), DOC_TIMESTAMP,
                                 DOC_SIGNATURE)


def test_a_correctly_signed_command_is_answered(slack_world: SlackWorld):
    sent = slack_world.send.command("help", user=MEMBER)
    assert sent.response.status_code == 200
    assert "/chaser status" in sent.response.text


def test_a_request_signed_with_another_secret_gets_401(slack_world: SlackWorld):
    sent = slack_world.send.command("help", user=MEMBER, secret="not-the-signing-secret")
    assert sent.response.status_code == 401
    assert slack_world.fake.calls == [] or all(
        c.method == "auth.test" for c in slack_world.fake.calls)


def test_a_request_older_than_five_minutes_gets_401_even_if_signed(slack_world: SlackWorld):
    stale = int(time.time()) - 5 * 60 - 30
    sent = slack_world.send.command("help", user=MEMBER, timestamp=stale)
    assert sent.response.status_code == 401


def test_a_request_without_a_signature_gets_401(slack_world: SlackWorld):
    sent = slack_world.send.command("help", user=MEMBER,
                                    headers={"X-Slack-Signature": ""})
    assert sent.response.status_code == 401


def test_a_body_changed_after_signing_gets_401(slack_world: SlackWorld):
    send = slack_world.send
    good = send.post("text=help&user_id=U0MEMBER")
    assert good.status_code != 401
    from tests.fakes.slack_signing import signed_headers

    headers = signed_headers(send.secret, "text=help&user_id=U0MEMBER")
    forged = send.http.post(send.url, content=b"text=status&user_id=U0ADMIN", headers=headers)
    assert forged.status_code == 401


def test_an_unsigned_body_gets_401_whatever_it_holds(slack_world: SlackWorld):
    # Checked before anything parses the body: JSON that is broken or not an object, and a
    # `payload=` that is not JSON, are no more than any other unsigned request.
    send = slack_world.send
    for body, content_type in [("payload=%7Bnope", "application/x-www-form-urlencoded"),
                               ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
                               ("{nope", "application/json"), ("[1, 2]", "application/json"),
                               ("null", "application/json")]:
        answer = send.http.post(send.url, content=body.encode(),
                                headers={"Content-Type": content_type})
        assert answer.status_code == 401, (body, answer.text)


def test_a_timestamp_that_is_not_a_number_gets_401(slack_world: SlackWorld):
    for timestamp in ("abc", "", "1e9"):
        sent = slack_world.send.command("help", user=MEMBER,
                                        headers={"X-Slack-Request-Timestamp": timestamp})
        assert sent.response.status_code == 401, (timestamp, sent.response.text)


def test_a_signed_body_with_no_slack_payload_in_it_gets_400_and_runs_nothing(
    slack_world: SlackWorld,
):
    send = slack_world.send
    for body, content_type in [("payload=%7Bnope", "application/x-www-form-urlencoded"),
                               ("payload=null", "application/x-www-form-urlencoded"),
                               ("{nope", "application/json"), ('"text"', "application/json"),
                               ("[1, 2]", "application/json")]:
        answer = send.post(body, content_type=content_type)
        assert answer.status_code == 400, (body, answer.text)
    assert send.command("help", user=MEMBER).response.status_code == 200
