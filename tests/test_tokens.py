"""Token upkeep: refresh ahead of expiry, rotation saved, lost connections paused and reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.chasing.ports import ConnectionLost
from bot.chasing.tokens import DbTokenStore
from bot.deps import AppDeps
from bot.errors import ConnectionNotUsable, NeedsReconnect
from bot.messages import SLACK
from bot.sandbox.server import SandboxServer
from bot.xero.errors import XeroAuthError
from storage.models import ConnectionStatus
from tests.connect_helpers import (
    age_tokens,
    connect,
    connections,
    guarded,
    make_context,
    sandbox_stats,
    stored_tokens,
)


@pytest.fixture
def ctx(sandbox: SandboxServer, migrated_db: str, tmp_path: Path) -> AppDeps:
    context = make_context(sandbox, migrated_db, tmp_path)
    connect(context)
    return context


def lost_events(ctx: AppDeps) -> list[ConnectionLost]:
    return ctx.notifier.of_type(ConnectionLost)  # type: ignore[attr-defined]


def test_a_fresh_token_is_used_without_refreshing(ctx: AppDeps, sandbox: SandboxServer) -> None:
    row = connections(ctx)[0]

    assert guarded(ctx, row.id) == row.tenant_name
    assert sandbox_stats(sandbox)["refreshes"] == 0


def test_refresh_ahead_of_expiry_saves_the_rotated_set_for_every_organisation_of_the_grant(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    first, second = connections(ctx)
    before = stored_tokens(ctx, first.id)
    age_tokens(ctx, datetime.now(UTC) + timedelta(minutes=2))  # inside the 5-minute margin

    assert guarded(ctx, first.id) == first.tenant_name

    after = stored_tokens(ctx, first.id)
    assert after.refresh_token != before.refresh_token
    assert after.expires_at > datetime.now(UTC) + timedelta(minutes=20)
    # One consent, one grant: the sibling organisation got the rotated set too, so its next
    # call neither refreshes again nor uses the dead refresh token.
    assert stored_tokens(ctx, second.id).refresh_token == after.refresh_token
    rows = {row.id: row for row in connections(ctx)}
    assert rows[first.id].token_version == first.token_version + 1
    assert rows[second.id].token_version == second.token_version + 1
    assert guarded(ctx, second.id) == second.tenant_name
    stats = sandbox_stats(sandbox)
    assert (stats["refreshes"], stats["refresh_failures"]) == (1, 0)


def test_refresh_locked_does_not_refresh_when_another_process_already_did(
    ctx: AppDeps,
) -> None:
    row = connections(ctx)[0]
    store = DbTokenStore(ctx.session_factory, ctx.box, row.id)
    calls: list[object] = []

    tokens = store.refresh_locked(lambda current: calls.append(current) or current)

    assert calls == []  # the stored set is fresh: nothing to do
    assert tokens.refresh_token == stored_tokens(ctx, row.id).refresh_token


def test_revoked_refresh_token_marks_needs_reconnect_and_tells_admins_once(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    first = connections(ctx)[0]
    httpx.post(f"{sandbox.url}/_sandbox/connections/{first.xero_connection_id}/revoke",
               json={"revoke_tokens": True}).raise_for_status()
    age_tokens(ctx, datetime.now(UTC))

    with pytest.raises(NeedsReconnect) as lost:
        guarded(ctx, first.id)
    assert "revoked" in lost.value.text(SLACK)
    with pytest.raises(NeedsReconnect):
        guarded(ctx, first.id)  # a second failure is not a second transition

    row = next(r for r in connections(ctx) if r.id == first.id)
    assert row.status == ConnectionStatus.NEEDS_RECONNECT
    assert "revoked" in (row.status_reason or "")
    events = lost_events(ctx)
    assert len(events) == 1
    event = events[0]
    assert (event.connection_id, event.tenant_name, event.team_id) == (
        first.id, first.tenant_name, "T-TEAM")
    assert event.workspace_id == first.workspace_id
    with pytest.raises(ConnectionNotUsable) as refused:
        guarded(ctx, first.id)
    assert "needs reconnecting" in refused.value.text(SLACK)


def test_access_token_xero_calls_expired_early_is_refreshed_once_and_the_call_retried(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    first = connections(ctx)[0]
    before = stored_tokens(ctx, first.id)
    # Xero's clock says the token is dead while ours says it has 29 minutes left.
    expired = httpx.post(f"{sandbox.url}/_sandbox/tokens/expire", json={"kind": "access"})
    assert expired.json()["expired"] >= 1

    assert guarded(ctx, first.id) == first.tenant_name

    assert sandbox_stats(sandbox)["refreshes"] == 1
    assert stored_tokens(ctx, first.id).access_token != before.access_token
    assert {row.status for row in connections(ctx)} == {ConnectionStatus.CONNECTED}
    assert lost_events(ctx) == []


def test_xero_403_for_a_deleted_tenant_connection_marks_needs_reconnect(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    first, second = connections(ctx)
    # The organisation removed the app in Xero: the token is fine, the tenant is not.
    httpx.post(f"{sandbox.url}/_sandbox/connections/{first.xero_connection_id}/revoke",
               json={}).raise_for_status()

    with pytest.raises(NeedsReconnect) as refused:
        guarded(ctx, first.id)
    assert isinstance(refused.value.__cause__, XeroAuthError)
    assert refused.value.__cause__.status == 403
    assert "disconnected from chaser-bot in Xero" in refused.value.text(SLACK)

    statuses = {row.id: row.status for row in connections(ctx)}
    assert statuses == {first.id: ConnectionStatus.NEEDS_RECONNECT,
                        second.id: ConnectionStatus.CONNECTED}
    assert [event.connection_id for event in lost_events(ctx)] == [first.id]
    assert guarded(ctx, second.id) == second.tenant_name


def test_reconnecting_after_a_loss_resumes_the_connection(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    first = connections(ctx)[0]
    httpx.post(f"{sandbox.url}/_sandbox/connections/{first.xero_connection_id}/revoke",
               json={}).raise_for_status()
    with pytest.raises(NeedsReconnect):
        guarded(ctx, first.id)

    connect(ctx)

    assert guarded(ctx, first.id) == first.tenant_name


def test_the_gateway_refuses_a_disconnected_or_unknown_connection(ctx: AppDeps) -> None:
    first = connections(ctx)[0]
    ctx.connect_service().disconnect(first.id, actor="cli")

    with pytest.raises(ConnectionNotUsable) as disconnected:
        guarded(ctx, first.id)
    assert "disconnected" in disconnected.value.text(SLACK)
    with pytest.raises(ConnectionNotUsable) as unknown:
        guarded(ctx, 999_999)
    assert "/chaser connect" in unknown.value.text(SLACK)
