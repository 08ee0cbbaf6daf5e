"""Connecting Xero: consent, state, role check, reconnect and disconnect on real databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from bot.chasing.connections import LinkExpired
from bot.chasing.ports import ConnectRefused, OrganisationConnected
from bot.deps import AppDeps
from bot.messages import SLACK
from bot.sandbox.server import SandboxServer
from storage.db import session_scope
from storage.models import AuditEntry, ConnectionStatus, Contact, Workspace
from tests.connect_helpers import (
    approve,
    connect,
    connections,
    free_port,
    guarded,
    make_context,
    stored_tokens,
)


@pytest.fixture
def ctx(sandbox: SandboxServer, migrated_db: str, tmp_path: Path) -> AppDeps:
    return make_context(sandbox, migrated_db, tmp_path)


def org_names(sandbox: SandboxServer) -> set[str]:
    return {org.name for org in sandbox.ledger.organisations}


def test_connect_keeps_one_connection_per_organisation_with_its_details(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    result = connect(ctx)

    assert {org.tenant_name for org in result.connected} == org_names(sandbox)
    assert result.refused == []
    rows = connections(ctx)
    assert len(rows) == 2
    for row, org in zip(rows, sandbox.ledger.organisations, strict=True):
        assert row.status == ConnectionStatus.CONNECTED
        assert row.tenant_id == org.organisation_id
        assert (row.tenant_name, row.short_code) == (org.name, org.short_code)
        assert (row.country_code, row.base_currency) == (org.country_code, org.base_currency)
        assert row.timezone == org.timezone
        assert row.period_lock_date == org.period_lock_date
        assert row.end_of_year_lock_date == org.end_of_year_lock_date
        assert row.connected_by == "U-ADMIN"
        assert row.connected_by_xero_user == "finance@sandbox.example"
        assert row.xero_connection_id
        assert stored_tokens(ctx, row.id).refresh_token
    with session_scope(ctx.session_factory) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("connection.connected") == 2


def test_tokens_are_stored_encrypted_and_never_in_plain_text(
    ctx: AppDeps, migrated_db: str
) -> None:
    connect(ctx)
    row = connections(ctx)[0]
    tokens = stored_tokens(ctx, row.id)
    secrets = [tokens.refresh_token, tokens.access_token]
    with session_scope(ctx.session_factory) as session:
        dumped = " ".join(
            str(value)
            for table in ("xero_connections", "oauth_states", "audit_log")
            for record in session.execute(text(f"SELECT * FROM {table}"))
            for value in record
        )
    assert all(secret and secret not in dumped for secret in secrets)
    if migrated_db.startswith("sqlite"):
        database = Path(migrated_db.removeprefix("sqlite:///"))
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                assert tokens.refresh_token.encode() not in path.read_bytes()


def test_connection_belongs_to_the_team_and_user_that_started_consent(ctx: AppDeps) -> None:
    connect(ctx, team_id="T-ACME", slack_user_id="U-FIONA")

    with session_scope(ctx.session_factory) as session:
        teams = session.scalars(select(Workspace.slack_team_id)).all()
    assert teams == ["T-ACME"]
    assert {row.connected_by for row in connections(ctx)} == {"U-FIONA"}
    events = ctx.notifier.of_type(OrganisationConnected)  # type: ignore[attr-defined]
    assert {(e.team_id, e.slack_user_id) for e in events} == {("T-ACME", "U-FIONA")}


def test_reconnect_updates_the_existing_connections_instead_of_duplicating(
    ctx: AppDeps,
) -> None:
    connect(ctx)
    first = connections(ctx)
    old_refresh = stored_tokens(ctx, first[0].id).refresh_token
    with session_scope(ctx.session_factory) as session:
        session.get(type(first[0]), first[0].id).status = ConnectionStatus.NEEDS_RECONNECT

    result = connect(ctx)

    again = connections(ctx)
    assert [row.id for row in again] == [row.id for row in first]
    assert all(row.status == ConnectionStatus.CONNECTED for row in again)
    assert all(row.status_reason is None for row in again)
    assert all(org.reconnected for org in result.connected)
    assert stored_tokens(ctx, again[0].id).refresh_token != old_refresh  # the new grant
    with session_scope(ctx.session_factory) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("connection.reconnected") == 2


def test_state_is_single_use(ctx: AppDeps) -> None:
    service = ctx.connect_service()
    state, code = approve(service.start("T-TEAM", "U-ADMIN",
                                        login_hint="finance@sandbox.example"))
    service.complete(state, code)

    with pytest.raises(LinkExpired) as refused:
        service.complete(state, code)
    assert refused.value.text(SLACK) == "This link has expired — run `/chaser connect` again."


def test_state_expires_after_ten_minutes(
    sandbox: SandboxServer, migrated_db: str, tmp_path: Path
) -> None:
    now = [datetime.now(UTC)]
    ctx = make_context(sandbox, migrated_db, tmp_path, clock=lambda: now[0])
    service = ctx.connect_service()
    state, code = approve(service.start("T-TEAM", "U-ADMIN",
                                        login_hint="finance@sandbox.example"))
    now[0] += timedelta(minutes=10, seconds=1)

    with pytest.raises(LinkExpired):
        service.complete(state, code)
    assert connections(ctx) == []


def test_unknown_state_is_refused_as_an_expired_link(ctx: AppDeps) -> None:
    with pytest.raises(LinkExpired):
        ctx.connect_service().complete("forged-state", "whatever")


@pytest.mark.parametrize(
    ("user", "role"),
    [("readonly@sandbox.example", "Read only"), ("invoiceonly@sandbox.example", "Invoice only")],
)
def test_users_without_standard_or_adviser_role_are_refused_and_nothing_is_kept(
    ctx: AppDeps, sandbox: SandboxServer, user: str, role: str
) -> None:
    result = connect(ctx, user)

    assert result.connected == []
    assert {org.tenant_name for org in result.refused} == org_names(sandbox)
    for org in result.refused:
        assert role in org.reason
        assert "Standard or Adviser" in org.what_to_do.render(SLACK)
    assert connections(ctx) == []
    # Nothing dangles at Xero either: the tenant connections were deleted.
    assert [c for c in sandbox.identity.connections() if c.user_email == user] == []
    refused = ctx.notifier.of_type(ConnectRefused)  # type: ignore[attr-defined]
    assert len(refused) == 2
    assert all("Standard or Adviser" in event.what_to_do.render(SLACK) for event in refused)


def test_adviser_may_connect(ctx: AppDeps, sandbox: SandboxServer) -> None:
    result = connect(ctx, "adviser@sandbox.example")

    assert {org.tenant_name for org in result.connected} == org_names(sandbox)
    assert result.refused == []


def test_disconnect_keeps_local_history_and_removes_the_connection_at_xero(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    connect(ctx)
    first, second = connections(ctx)
    with session_scope(ctx.session_factory) as session:
        session.add(Contact(connection_id=first.id, xero_contact_id="c-1", name="Kept Ltd"))

    result = ctx.connect_service().disconnect(first.id, actor="U-ADMIN")

    assert result.revoked_at_xero and result.xero_warning is None
    row = next(r for r in connections(ctx) if r.id == first.id)
    assert row.status == ConnectionStatus.DISCONNECTED
    assert row.token_ciphertext is None
    with session_scope(ctx.session_factory) as session:
        assert session.scalars(select(Contact.name)).all() == ["Kept Ltd"]
        assert "connection.connected" in session.scalars(select(AuditEntry.action)).all()
        assert "connection.disconnected" in session.scalars(select(AuditEntry.action)).all()
    active = {c.tenant_id for c in sandbox.identity.connections()}
    assert first.tenant_id not in active
    # The sibling organisation shares the grant: it was not revoked and still works.
    assert guarded(ctx, second.id) == second.tenant_name


def test_disconnecting_the_last_organisation_revokes_the_grant(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    connect(ctx)
    first, second = connections(ctx)
    refresh_token = stored_tokens(ctx, second.id).refresh_token
    service = ctx.connect_service()
    service.disconnect(first.id, actor="cli")
    service.disconnect(second.id, actor="cli")

    assert sandbox.identity.connections() == []
    answer = httpx.post(f"{sandbox.url}/connect/token",
                        auth=(sandbox.config.client_id, sandbox.config.client_secret),
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token})
    assert answer.json()["error"] == "invalid_grant"


def test_disconnect_when_xero_is_unreachable_still_disconnects_and_says_so(
    ctx: AppDeps, sandbox: SandboxServer, migrated_db: str, tmp_path: Path
) -> None:
    connect(ctx)
    first = connections(ctx)[0]
    offline = make_context(sandbox, migrated_db, tmp_path,
                           base_url=f"http://127.0.0.1:{free_port()}")

    result = offline.connect_service().disconnect(first.id, actor="cli")

    assert not result.revoked_at_xero
    assert result.xero_warning and "Connected apps" in result.xero_warning.render(SLACK)
    assert connections(ctx)[0].status == ConnectionStatus.DISCONNECTED


def test_disconnect_keeps_the_grant_when_a_sibling_was_connected_by_the_same_user_in_other_case(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    connect(ctx)
    first, second = connections(ctx)
    with session_scope(ctx.session_factory) as session:
        session.get(type(second), second.id).connected_by_xero_user = "Finance@Sandbox.Example"

    result = ctx.connect_service().disconnect(first.id, actor="cli")

    assert result.revoked_at_xero
    # Same Xero user (emails are case-insensitive): the grant was not revoked for the sibling.
    assert guarded(ctx, second.id) == second.tenant_name


def test_a_second_workspace_may_not_chase_an_organisation_another_one_chases(
    ctx: AppDeps, sandbox: SandboxServer
) -> None:
    connect(ctx, team_id="T-FIRST", slack_user_id="U-FIRST")
    result = connect(ctx, team_id="T-SECOND", slack_user_id="U-SECOND")

    # Both would sync and email the same customers: the second is refused, and the first
    # keeps its Xero connection (refusing here must not delete it at Xero).
    assert result.connected == []
    assert {org.tenant_name for org in result.refused} == org_names(sandbox)
    assert all("T-FIRST" in org.reason and "email them twice" in org.reason
               for org in result.refused)
    rows = connections(ctx)
    assert len(rows) == 2 and all(row.status == ConnectionStatus.CONNECTED for row in rows)
    assert all(guarded(ctx, row.id) for row in rows)  # still readable at Xero
    refused = ctx.notifier.of_type(ConnectRefused)  # type: ignore[attr-defined]
    assert {e.slack_user_id for e in refused} == {"U-SECOND"}
    assert "/chaser disconnect" in refused[0].what_to_do.render(SLACK)

    # Once the first workspace disconnects it, the second may connect it.
    for row in rows:
        ctx.connect_service().disconnect(row.id, actor="U-FIRST")
    again = connect(ctx, team_id="T-SECOND", slack_user_id="U-SECOND")
    assert {org.tenant_name for org in again.connected} == org_names(sandbox)
