"""One reconnect decision: every way a connection can be lost, decided by its guard alone.

Through the sandbox over real HTTP: a refused refresh (invalid_grant), a 401 after a refresh,
a 403 for a revoked tenant, a connection disconnected during a run; and what is not a lost
connection (our own app's credentials, a token endpoint answering HTML). A notifier that
raises never hides the Xero error it was reporting.
"""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.chasing.ports import ConnectionLost
from bot.chasing.sync import INVOICES
from bot.errors import NeedsReconnect
from bot.messages import SLACK, TERMINAL
from storage import repositories
from storage.db import session_scope
from storage.models import AuditEntry, ConnectionStatus, XeroConnection
from tests.connect_helpers import age_tokens, guarded, sandbox_stats

BOT = Path(__file__).resolve().parents[1] / "bot"


def fault(world, **body) -> None:
    httpx.post(f"{world.server.url}/_sandbox/faults", json=body).raise_for_status()


def row(world, connection_id=None) -> XeroConnection:
    with session_scope(world.ctx.session_factory) as session:
        connection = session.get(XeroConnection, connection_id or world.connection_id)
        session.expunge(connection)
        return connection


def lost(world) -> list[ConnectionLost]:
    return world.notifier.of_type(ConnectionLost)


def audited(world, action: str) -> int:
    with session_scope(world.ctx.session_factory) as session:
        return sum(1 for entry in session.query(AuditEntry) if entry.action == action)


def test_a_refused_refresh_invalid_grant_loses_the_connection_once(make_world):
    world = make_world(orgs=2, contacts=3, invoices=5)
    world.control("POST", f"/connections/{row(world).xero_connection_id}/revoke",
                  revoke_tokens=True)
    age_tokens(world.ctx, world.ctx.clock() + timedelta(minutes=1))

    first = world.ctx.sync_service().sync(world.connection_id)
    again = world.ctx.sync_service().sync(world.connection_id)

    assert first.outcome == "failed" and first.code == "needs_reconnect"
    assert "revoked, or unused for 60 days" in first.text(TERMINAL)
    assert "`chaser connect`" in first.text(TERMINAL)
    assert "`/chaser connect`" in first.text(SLACK)
    assert again.outcome == "skipped" and again.code == "needs_reconnect"
    assert row(world).status == ConnectionStatus.NEEDS_RECONNECT
    assert [event.connection_id for event in lost(world)] == [world.connection_id]
    assert audited(world, "connection.needs_reconnect") == 1


def test_a_401_after_the_refresh_loses_the_connection(make_world):
    world = make_world(contacts=3, invoices=5)
    # Xero says TokenExpired; the client refreshes once and Xero refuses the new token too.
    fault(world, kind="status", status=401, count=2)

    report = world.ctx.sync_service().sync(world.connection_id)

    assert report.outcome == "failed" and report.code == "needs_reconnect"
    assert "even after a refresh" in report.text(TERMINAL)
    assert sandbox_stats(world.server)["refreshes"] == 1
    assert row(world).status == ConnectionStatus.NEEDS_RECONNECT
    assert len(lost(world)) == 1


def test_one_401_token_expired_is_refreshed_and_the_connection_kept(make_world):
    world = make_world(contacts=3, invoices=5)
    fault(world, kind="status", status=401, count=1)

    report = world.ctx.sync_service().sync(world.connection_id)

    assert report.outcome == "ok"
    assert row(world).status == ConnectionStatus.CONNECTED and lost(world) == []


def test_a_403_for_a_revoked_tenant_loses_only_that_connection(make_world):
    world = make_world(orgs=2, contacts=3, invoices=5)
    first, second = world.connection_ids
    world.control("POST", f"/tenants/{world.tenant_id(first)}/revoke")

    reports = {r.connection_id: r for r in world.ctx.sync_service().sync_all()}

    assert reports[first].code == "needs_reconnect"
    assert "disconnected from chaser-bot in Xero" in reports[first].text(TERMINAL)
    assert reports[second].outcome == "ok"
    assert (row(world, first).status, row(world, second).status) == (
        ConnectionStatus.NEEDS_RECONNECT, ConnectionStatus.CONNECTED)
    assert [event.connection_id for event in lost(world)] == [first]


def test_a_connection_disconnected_during_a_run_says_so_and_alerts_nobody(make_world):
    world = make_world(contacts=20, invoices=60)
    service = world.ctx.sync_service(page_size=10)

    def disconnect_midway(event) -> None:
        if event.entity == INVOICES and event.page == 1:
            world.ctx.connect_service().disconnect(world.connection_id, actor="U-ADMIN")

    report = service.sync(world.connection_id, progress=disconnect_midway)

    assert report.outcome == "failed" and report.code == "disconnected"
    assert report.text(SLACK).endswith("is disconnected from Xero. Run `/chaser connect` to "
                                       "connect it again.")
    assert "refused" not in report.text(SLACK)
    assert row(world).status == ConnectionStatus.DISCONNECTED
    assert lost(world) == []
    with session_scope(world.ctx.session_factory) as session:
        state = repositories.get_sync_state(session, world.connection_id, INVOICES)
        assert state.in_progress_since is None and state.last_error == "disconnected from Xero"


def test_a_connection_removed_before_a_call_is_not_connected(make_world):
    world = make_world(contacts=3, invoices=5)
    with session_scope(world.ctx.session_factory) as session:
        session.delete(session.get(XeroConnection, world.connection_id))

    with pytest.raises(Exception) as caught:
        guarded(world.ctx, world.connection_id)

    assert getattr(caught.value, "code", None) == "not_connected"
    assert caught.value.text(SLACK).endswith("Run `/chaser connect` to connect it.")


def test_our_own_bad_client_secret_loses_no_connection(make_world, migrated_db, tmp_path):
    from bot.deps import build_context
    from tests.fixtures.sync_world import no_sleep

    world = make_world(orgs=2, contacts=3, invoices=5)
    age_tokens(world.ctx, world.ctx.clock() + timedelta(minutes=1))
    wrong = world.ctx.settings.model_copy(update={"xero_client_secret": None})
    typo = build_context(wrong, database_url=migrated_db, notifier=world.notifier,
                         retry_sleep=no_sleep)

    reports = typo.sync_service().sync_all()

    assert {r.code for r in reports} == {"configuration"}
    assert all("XERO_CLIENT_SECRET" in r.text(TERMINAL) for r in reports)
    assert {row(world, c).status for c in world.connection_ids} == {ConnectionStatus.CONNECTED}
    assert lost(world) == [] and audited(world, "connection.needs_reconnect") == 0


@pytest.mark.parametrize("kind", ["html", "text", "empty"])
def test_a_token_endpoint_answering_a_page_not_json_loses_no_connection(make_world, kind):
    world = make_world(contacts=3, invoices=5)
    age_tokens(world.ctx, world.ctx.clock() + timedelta(minutes=1))
    # Retried like any transient fault (Xero keeps an old refresh token valid for a grace
    # period, so asking again is safe); five in a row end the run with "retry later".
    fault(world, kind=kind, status=400, target="token", count=5)

    report = world.ctx.sync_service().sync(world.connection_id)

    assert report.outcome == "failed" and report.retry_later
    assert sandbox_stats(world.server)["faults_injected"] == {f"token-{kind}": 5}
    assert row(world).status == ConnectionStatus.CONNECTED and lost(world) == []
    assert world.ctx.sync_service().sync(world.connection_id).outcome == "ok"


class FailingNotifier:
    """A notifier whose Slack is down: every call raises."""

    def connection_lost(self, event: object) -> None:
        raise RuntimeError("slack is down")

    organisation_connected = connect_refused = connection_lost


def test_a_notifier_that_raises_never_hides_the_xero_error(make_world, caplog):
    world = make_world(contacts=3, invoices=5)
    world.ctx.notifier = FailingNotifier()  # type: ignore[assignment]
    world.control("POST", f"/tenants/{world.tenant_id()}/revoke")

    with pytest.raises(NeedsReconnect) as caught:
        guarded(world.ctx, world.connection_id)

    assert "disconnected from chaser-bot in Xero" in caught.value.text(TERMINAL)
    assert row(world).status == ConnectionStatus.NEEDS_RECONNECT
    assert any("slack is down" in (r.exc_text or "") or r.exc_info for r in caplog.records)


# The arrows: one decision, narrow dependencies -------------------------------------------------


def _sources(*folders: str) -> list[Path]:
    return sorted({path for folder in folders for path in (BOT / folder).rglob("*.py")})


def test_only_the_guard_moves_a_connection_to_needs_reconnect():
    movers = []
    for path in _sources("chasing", "handlers", "cli", "."):
        text = path.read_text()
        if "ConnectionStatus.NEEDS_RECONNECT" in text and "set_connection_status" in text:
            movers.append(path.relative_to(BOT).as_posix())
    assert movers == ["chasing/connection_guard.py"]


CONCRETE = {"XeroClient", "DbTokenStore", "TokenManager", "XeroOAuth", "Client", "AsyncClient"}


def test_services_build_no_concrete_clients_and_take_no_container():
    """Only the composition root (bot/deps.py, and the CLI's own commands) builds httpx
    clients, token stores and XeroClients; chasing services never see AppDeps."""
    found = []
    for path in _sources("chasing", "handlers"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name in CONCRETE:
                    found.append(f"{path.name}:{node.lineno} builds {name}")
        if path.parent.name == "chasing" and "AppDeps" in path.read_text():
            found.append(f"{path.name} takes the container")
    assert found == []
