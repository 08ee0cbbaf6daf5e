"""Two chaser-bot instances on one database: a retried or redelivered request runs once.

Slack retries events and Socket Mode redelivers to any connection, so the same payload can
reach two instances at once; a row in once_keys (trigger_id / event_id) decides which runs.
Run on SQLite and on PostgreSQL (CHASER_TEST_POSTGRES_URL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from storage.db import session_scope
from storage.models import AuditEntry
from storage.repositories import get_or_create_workspace, save_connection
from tests.connect_helpers import approve
from tests.fakes.slack_api import DEFAULT_TEAM
from tests.fakes.slack_requests import command_payload, event_payload
from tests.fixtures.sandbox import FINANCE
from tests.fixtures.slack import ADMIN, MEMBER


def two_instances(make_slack_world, migrated_db, **settings):
    return (make_slack_world(database_url=migrated_db, **settings),
            make_slack_world(database_url=migrated_db, **settings))


def test_a_command_delivered_to_both_instances_at_once_runs_once(make_slack_world, migrated_db):
    first, second = two_instances(make_slack_world, migrated_db)
    with session_scope(first.deps.session_factory) as session:
        workspace = get_or_create_workspace(session, DEFAULT_TEAM)
        save_connection(session, workspace_id=workspace.id, tenant_id="t-1", tenant_name="Demo")
    payload = command_payload(first.fake, "pause", user=ADMIN)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(
            lambda send: send[0].command("", user=ADMIN, payload=payload, retry_num=send[1]),
            [(first.send, None), (second.send, 1), (first.send, 2), (second.send, 3)]))
    assert [a.response.status_code for a in answers] == [200] * 4
    (post,) = first.fake.wait_for_hook(payload["response_url"])
    assert "is paused" in post["text"]
    with session_scope(first.deps.session_factory) as session:
        paused = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "account.paused"))
    assert paused == 1
    assert len(first.fake.hook(payload["response_url"])) == 1


def test_an_event_retried_to_the_other_instance_runs_once(make_slack_world, migrated_db):
    first, second = two_instances(make_slack_world, migrated_db)
    payload = event_payload({"type": "app_home_opened", "user": MEMBER, "tab": "home"})
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda item: item[0].event({}, payload=payload, retry_num=item[1]),
                      [(first.send, None), (second.send, 1), (second.send, 2)]))
    first.fake.wait_for_calls("views.publish")
    fresh = first.send.event({"type": "app_home_opened", "user": MEMBER, "tab": "home"})
    assert fresh.response.status_code == 200
    first.fake.wait_for_calls("views.publish", 2)
    assert len(first.fake.calls_to("views.publish")) == 2


def test_a_connect_result_is_dmed_once_when_both_instances_get_the_callback(
    make_slack_world, migrated_db, sandbox
):
    first, second = two_instances(make_slack_world, migrated_db, xero=sandbox)
    url = first.app.chasing_services.connect.start(DEFAULT_TEAM, ADMIN, login_hint=FINANCE)
    state, code = approve(url)
    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(
            lambda world: httpx.get(f"{world.url}/xero/callback",
                                    params={"state": state, "code": code}, timeout=60),
            [first, second]))
    assert sorted(p.status_code for p in pages) == [200, 400]  # the state is single use
    first.fake.wait_for(lambda fake: [c for c in fake.calls_to("chat.postMessage")
                                      if c.args["channel"] == ADMIN])
    dms = [c.args["text"] for c in first.fake.calls_to("chat.postMessage")
           if c.args["channel"] == ADMIN]
    assert len(dms) == len(sandbox.ledger.organisations)  # one per organisation connected
    assert len(set(dms)) == len(dms)


def test_claim_once_lets_exactly_one_caller_win(session_factory):
    from storage.once import claim_once

    with session_scope(session_factory) as session:
        assert claim_once(session, "test", "key-1")
    with session_scope(session_factory) as session:
        assert not claim_once(session, "test", "key-1")
        assert claim_once(session, "test", "key-2")


def test_claim_many_claims_each_new_key_once_in_one_statement(session_factory):
    from storage.once import claim_many

    with session_scope(session_factory) as session:
        assert claim_many(session, "test", ["a", "b", "a"]) == {"a", "b"}
    with session_scope(session_factory) as session:
        assert claim_many(session, "test", ["b", "c"]) == {"c"}


def test_claim_many_of_a_full_batch_returns_exactly_the_new_keys(session_factory):
    from bot.handlers.middleware import CLAIM_BATCH
    from storage.once import claim_many, claim_once

    keys = [f"trigger:{n}" for n in range(CLAIM_BATCH)]
    with session_scope(session_factory) as session:
        taken = {key for key in keys[::7] if claim_once(session, "test", key)}
    with session_scope(session_factory) as session:
        assert claim_many(session, "test", keys) == set(keys) - taken
    with session_scope(session_factory) as session:
        assert claim_many(session, "test", [*keys, "trigger:new"]) == {"trigger:new"}


def test_the_claim_writer_decides_gathered_and_urgent_keys_alike(session_factory):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from bot.handlers.middleware import ClaimBatcher

    deps = SimpleNamespace(session_factory=session_factory,
                           clock=lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    claims = ClaimBatcher(deps)  # type: ignore[arg-type]
    try:
        # First deliveries of commands (gathered into one insert), then a retry of one of them
        # that waits before its ack (written at once, with whatever is queued).
        gathered = [claims.submit(f"trigger:{n}", urgent=False) for n in range(5)]
        again = claims.submit("trigger:3", urgent=True)
        assert [decided.result(timeout=10) for decided in gathered] == [True] * 5
        assert again.result(timeout=10) is False
        assert claims.submit("trigger:3", urgent=False).result(timeout=10) is False
    finally:
        claims.close()
