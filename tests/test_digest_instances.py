"""Two chaser-bot instances on one database: each digest is posted once, each DM sent once.

Each instance is a whole app (its own engine, Bolt app, web server and services) against the
same fake Slack; both fire at the same moment, as two schedulers would. The database's unique
keys decide, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bot.chasing.ports import ConnectionLost
from bot.cli.demo import connect_unattended
from bot.deps import build_digest_poster
from bot.sandbox.ledger import build_ledger
from bot.slack_notifier import SlackNotifier
from storage import repositories
from storage.db import session_scope
from storage.models import CLI_WORKSPACE_TEAM_ID, DigestMessage, MemberRole
from storage.settings import update_organisation_settings
from tests.fixtures.slack import ADMIN, OWNER

CHANNEL = "C0DIGEST01"
ROUNDS = 5


def two_instances(make_sandbox, make_slack_world, migrated_db):
    sandbox = make_sandbox(ledger=build_ledger(seed=3, orgs=1, contacts=8, invoices=60))
    first = make_slack_world(database_url=migrated_db, xero=sandbox)
    second = make_slack_world(database_url=migrated_db, xero=sandbox)
    first.fake.add_channel(CHANNEL, "ar-digest")
    (connected,) = connect_unattended(first.deps).connected
    (report,) = first.deps.sync_service().sync_all()
    assert report.outcome == "ok"
    with session_scope(first.deps.session_factory) as session:
        update_organisation_settings(session, connected.connection_id, by="test",
                                     digest_channel_id=CHANNEL)
    return first, second, connected.connection_id


def at_once(*calls):
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(run, call) for call in calls]]


def test_two_instances_post_each_digest_once(make_sandbox, make_slack_world, migrated_db):
    first, second, connection_id = two_instances(make_sandbox, make_slack_world, migrated_db)
    posters = [build_digest_poster(world.deps, world.app.clients.for_team, sync_first=False)
               for world in (first, second)]
    outcomes = at_once(*(lambda p=p: p.post_digest(connection_id).outcome for p in posters))
    assert sorted(outcomes) == ["already_posted", "posted"]
    for _ in range(ROUNDS):  # and however often they fire again that day
        assert at_once(*(lambda p=p: p.post_digest(connection_id).outcome
                         for p in posters)) == ["already_posted", "already_posted"]
    assert len(first.fake.calls_to("chat.postMessage", ok=True)) == 1
    with session_scope(first.deps.session_factory) as session:
        assert session.query(DigestMessage).count() == 1


def test_two_instances_send_each_connection_lost_dm_once(make_sandbox, make_slack_world,
                                                         migrated_db):
    first, second, connection_id = two_instances(make_sandbox, make_slack_world, migrated_db)
    with session_scope(first.deps.session_factory) as session:
        cli = repositories.workspace_by_team_id(session, CLI_WORKSPACE_TEAM_ID)
        repositories.set_workspace_members(session, cli.id, MemberRole.ADMIN, [ADMIN, OWNER])
        connection = repositories.get_connection(session, connection_id)
        event = ConnectionLost(team_id=CLI_WORKSPACE_TEAM_ID, workspace_id=cli.id,
                               connection_id=connection_id, tenant_id=connection.tenant_id,
                               tenant_name=connection.tenant_name, reason="revoked",
                               at=first.deps.clock())
    notifiers = [SlackNotifier(world.app.clients.for_team, world.deps.session_factory,
                               world.deps.clock) for world in (first, second)]
    for _ in range(ROUNDS):
        at_once(*(lambda n=n: n.connection_lost(event) for n in notifiers))
    dms = [c.args["channel"] for c in first.fake.calls_to("chat.postMessage", ok=True)]
    assert sorted(dms) == [ADMIN, OWNER]
