"""Organisations connected from the terminal, in Slack: a single bot token's `chaser serve` adopts
them into its workspace (once, however many instances start); OAuth installs say they are not
shown. `chaser connect` runs as a real process against the auto-approving sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.chasing.adoption import adopt_terminal_connections
from bot.chasing.chase_run import chase_organisation
from bot.chasing.receivables import org_today
from bot.chasing.schedule_store import save_schedule
from bot.chasing.schedules import Part, ScheduleSpec, StepSpec
from bot.cli.demo import connect_unattended
from bot.cli.serve import build_runtime, digest_job
from bot.deps import build_digest_poster, escalation_service, reminder_sender
from bot.sandbox.server import SandboxServer
from storage import repositories
from storage.db import make_engine, make_session_factory, session_scope
from storage.models import CLI_WORKSPACE_TEAM_ID, AuditEntry, ConnectionStatus, XeroConnection
from storage.settings import update_organisation_settings
from tests.connect_helpers import free_port
from tests.fakes.servers import BackgroundServer
from tests.fakes.slack_api import BOT_TOKEN, DEFAULT_TEAM, FakeSlack
from tests.fakes.slack_requests import SlackSender
from tests.fixtures.slack import ADMIN, MEMBER, OAUTH, SECRET_KEY, slack_settings

REPO = Path(__file__).resolve().parents[1]
CHANNEL = "C0DIGEST01"
APPROVALS = "C0APPROVE1"


def chaser(sandbox: SandboxServer, database_url: str, tmp_path: Path, *args: str,
           **extra: str) -> subprocess.CompletedProcess[str]:
    """A `chaser` command as a new user runs it: Xero's settings, no Slack unless given."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XERO_", "CHASER_", "DATABASE_URL", "SLACK_"))}
    env |= {"PYTHONPATH": str(REPO), "COLUMNS": "200", "BROWSER": "true",
            "DATABASE_URL": database_url, "CHASER_DATA_DIR": str(tmp_path),
            "CHASER_SECRET_KEY": SECRET_KEY, "XERO_BASE_URL": sandbox.url,
            "XERO_CLIENT_ID": sandbox.config.client_id,
            "XERO_CLIENT_SECRET": sandbox.config.client_secret,
            "XERO_REDIRECT_URI": f"http://127.0.0.1:{free_port()}/xero/callback", **extra}
    run = subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run


def connections(database_url: str) -> list[tuple[str, str]]:
    """(tenant name, Slack team id) of every connection, oldest first."""
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return [(c.tenant_name, c.workspace.slack_team_id)
                    for c in repositories.list_connections(session)]
    finally:
        engine.dispose()


def ask(fake: FakeSlack, send: SlackSender, text: str, user: str = MEMBER) -> str:
    sent = send.command(text, user=user)
    assert sent.response.status_code == 200
    (post,) = fake.wait_for_hook(sent.response_url, 1)
    return str(post.get("blocks")) + post.get("text", "")


def test_serve_with_one_bot_token_adopts_what_chaser_connect_connected(
        migrated_db: str, sandbox: SandboxServer, fake_slack: FakeSlack, tmp_path: Path):
    chaser(sandbox, migrated_db, tmp_path, "connect", "--login-hint", "finance@sandbox.example",
           "--timeout", "30")
    names = [org.name for org in sandbox.ledger.organisations]
    assert connections(migrated_db) == [(name, CLI_WORKSPACE_TEAM_ID) for name in names]

    settings = slack_settings(fake_slack, migrated_db, tmp_path, xero=sandbox)
    runtime = build_runtime(settings)  # what `chaser serve` starts with
    server = BackgroundServer(runtime.web, name="serve").start()
    send = SlackSender(server.url, fake_slack)
    try:
        assert connections(migrated_db) == [(name, DEFAULT_TEAM) for name in names]
        # The terminal's commands still see every organisation.
        synced = chaser(sandbox, migrated_db, tmp_path, "sync")
        status = chaser(sandbox, migrated_db, tmp_path, "status")
        for name in names:
            assert name in synced.stdout and name in status.stdout

        answer = ask(fake_slack, send, "status")
        assert all(name in answer for name in names), answer
        assert "No Xero organisation" not in answer
        overdue = ask(fake_slack, send, "overdue")
        assert "No Xero organisation" not in overdue and "days overdue" in overdue, overdue

        # The digest job posts for it, in the channel picked for it.
        fake_slack.add_channel(CHANNEL, "ar-digest")
        factory = runtime.deps.session_factory
        with session_scope(factory) as session:
            connection = session.scalars(select(XeroConnection).order_by(XeroConnection.id)
                                         ).first()
            connection_id, timezone = connection.id, connection.timezone
            update_organisation_settings(session, connection_id, by="test",
                                         digest_channel_id=CHANNEL)
        job = digest_job(build_digest_poster(runtime.deps, runtime.clients.for_team))
        assert job(connection_id, org_today(runtime.deps.clock(), timezone)) == "posted"
        (post,) = fake_slack.calls_to("chat.postMessage", ok=True)
        assert post.args["channel"] == CHANNEL

        # An escalated step held for approval gets its card in the workspace.
        fake_slack.add_channel(APPROVALS, "approvals")
        with session_scope(factory) as session:
            save_schedule(session, connection_id, ScheduleSpec("Default", (StepSpec(
                Part.OVERDUE, 1, "final_notice", grouped=True, escalated_sender=True,
                escalated_recipients=True, needs_approval=True),)), by="test",
                now=runtime.deps.clock())
            update_organisation_settings(session, connection_id, by="test",
                                         approvals_channel_id=APPROVALS,
                                         escalated_sender_name="Alex Boss",
                                         escalated_sender_email="alex@kiwi.example")
        escalations = escalation_service(runtime.deps, runtime.clients)
        with reminder_sender(runtime.deps, outbox_only=True) as sender:
            outcome = chase_organisation(
                connection_id, session_factory=factory, clock=runtime.deps.clock,
                sender=sender, sync=None, ignore_window=True, hold=escalations.hold)
        held = outcome.result.held_for_approval
        assert held >= 1 and outcome.result.emails_sent == 0
        cards = [c for c in fake_slack.calls_to("chat.postMessage", ok=True)
                 if c.args["channel"] == APPROVALS]
        assert len(cards) == held

        # Starting again (or a second instance) adopts nothing twice.
        runtime.stop()
        runtime = build_runtime(settings)
        with session_scope(factory) as session:
            adopted = session.scalars(select(AuditEntry.connection_id).where(
                AuditEntry.action == "connection.adopted")).all()
        assert len(adopted) == len(set(adopted)) == len(names)
    finally:
        server.stop()
        send.close()
        runtime.stop()


def test_chaser_connect_with_the_bot_token_set_connects_in_its_workspace(
        migrated_db: str, sandbox: SandboxServer, fake_slack: FakeSlack, tmp_path: Path):
    chaser(sandbox, migrated_db, tmp_path, "connect", "--login-hint", "finance@sandbox.example",
           "--timeout", "30", SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=fake_slack.api_url)
    assert connections(migrated_db) == [
        (org.name, DEFAULT_TEAM) for org in sandbox.ledger.organisations]


def test_two_instances_adopting_at_once_move_each_connection_once(migrated_db: str):
    tenants = [f"tenant-{n}" for n in range(6)]
    engines = [make_engine(migrated_db) for _ in range(2)]
    factories = [make_session_factory(engine) for engine in engines]
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with session_scope(factories[0]) as session:
        for tenant in tenants:
            repositories.save_connection(session, workspace_id=None, tenant_id=tenant,
                                         tenant_name=tenant.title(), now=now)
    start = threading.Barrier(2)
    results: list[object] = []

    def adopt(factory) -> None:
        start.wait()
        results.append(adopt_terminal_connections(factory, lambda: now, DEFAULT_TEAM))

    threads = [threading.Thread(target=adopt, args=(factory,)) for factory in factories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert len(results) == 2, "an adopter failed"
        adopted = [name for result in results for name in result.adopted]
        assert sorted(adopted) == sorted(t.title() for t in tenants)
        with session_scope(factories[0]) as session:
            workspace = repositories.workspace_by_team_id(session, DEFAULT_TEAM)
            assert {c.tenant_id for c in repositories.list_connections(
                session, workspace.id)} == set(tenants)
            audited = session.scalars(select(AuditEntry.connection_id).where(
                AuditEntry.action == "connection.adopted")).all()
            assert len(audited) == len(set(audited)) == len(tenants)
    finally:
        for engine in engines:
            engine.dispose()


ADOPTED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def factory(migrated_db: str):
    engine = make_engine(migrated_db)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def both_ways(factory, *, ours: ConnectionStatus) -> None:
    """t1 connected in the bot's workspace (in status `ours`) and from the terminal; t2 only
    from the terminal."""
    with session_scope(factory) as session:
        workspace = repositories.get_or_create_workspace(session, DEFAULT_TEAM, now=ADOPTED_AT)
        repositories.save_connection(session, workspace_id=workspace.id, tenant_id="t1",
                                     tenant_name="Both", status=ours, now=ADOPTED_AT)
        repositories.save_connection(session, workspace_id=None, tenant_id="t1",
                                     tenant_name="Both", now=ADOPTED_AT)
        repositories.save_connection(session, workspace_id=None, tenant_id="t2",
                                     tenant_name="Terminal only", now=ADOPTED_AT)


def test_a_tenant_the_workspace_already_has_stays_with_the_terminal(factory):
    both_ways(factory, ours=ConnectionStatus.CONNECTED)
    now = ADOPTED_AT
    result = adopt_terminal_connections(factory, lambda: now, DEFAULT_TEAM)
    assert (result.adopted, result.left) == (("Terminal only",), ("Both",))
    # Both copies live would each sync and chase t1: the terminal's is retired, audited.
    with session_scope(factory) as session:
        statuses = session.execute(
            select(XeroConnection.workspace_id, XeroConnection.status)
            .where(XeroConnection.tenant_id == "t1")
            .order_by(XeroConnection.id)).all()
        assert [status for _w, status in statuses] == [ConnectionStatus.CONNECTED,
                                                       ConnectionStatus.DISCONNECTED]
        retired = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "connection.duplicate_retired")).all()
        assert [entry.connection_id for entry in retired] == [2]
    again = adopt_terminal_connections(factory, lambda: now, DEFAULT_TEAM)
    assert again.adopted == ()
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "connection.duplicate_retired")) == 1


def test_a_terminal_copy_stays_live_while_the_workspaces_needs_reconnecting(factory):
    both_ways(factory, ours=ConnectionStatus.NEEDS_RECONNECT)
    adopt_terminal_connections(factory, lambda: ADOPTED_AT, DEFAULT_TEAM)
    with session_scope(factory) as session:
        assert session.scalars(select(XeroConnection.status).where(
            XeroConnection.tenant_id == "t1").order_by(XeroConnection.id)).all() == [
                ConnectionStatus.NEEDS_RECONNECT, ConnectionStatus.CONNECTED]


def test_with_oauth_installs_status_and_connect_say_terminal_organisations_are_not_shown(
        make_slack_world, sandbox: SandboxServer):
    world = make_slack_world(xero=sandbox, **OAUTH)
    assert world.app.clients.multi_workspace
    before = ask(world.fake, world.send, "status")
    assert "connected from the terminal" not in before  # nothing to mention yet
    connect_unattended(world.deps)

    status = ask(world.fake, world.send, "status")
    assert "No Xero organisation is connected yet" in status
    assert "connected from the terminal (`chaser connect`) are not shown here" in status
    assert "/chaser connect" in status
    connect = ask(world.fake, world.send, "connect", user=ADMIN)
    assert "are not shown here" in connect
    with session_scope(world.deps.session_factory) as session:
        teams = {c.workspace.slack_team_id for c in repositories.list_connections(session)}
    assert teams == {CLI_WORKSPACE_TEAM_ID}
