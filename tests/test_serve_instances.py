"""Two `chaser serve` processes on one database: each digest posted once, each reminder emailed
once, each admin told once that a connection was lost.

Two real processes (HTTP mode, a PORT each) share the database, the fake Slack, the sandbox and
a real SMTP server on loopback. The organisation's digest, forewarn and chase run fell due a
minute before both start, so each instance's catch-up on start fires them at once in both; the
job leases, digest keys, reminder ledger and notices decide. Everything is counted from the
outside: what Slack and the SMTP server received. Run on SQLite (one machine, several processes)
and on PostgreSQL (CHASER_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.chasing.timezones import org_zone
from bot.deps import build_context
from bot.sandbox.ledger import build_ledger
from storage import repositories
from storage.db import session_scope
from storage.models import JobLease, MemberRole
from storage.settings import update_organisation_settings
from tests.connect_helpers import approve
from tests.fakes.slack_api import DEFAULT_TEAM
from tests.fakes.slack_requests import SlackSender
from tests.fixtures.sandbox import FINANCE
from tests.fixtures.slack import ADMIN, MEMBER, OWNER, slack_settings
from tests.served import Served, serve_env

CHANNEL = "C0DIGEST01"
PRIMARY = "U0PRIMARY"  # an admin only Slack's users.list names: neither connector nor in settings
SENDER = "accounts@books.example"
JOBS = ("sync", "digest", "forewarn", "chase")
WAIT = 40.0  # seconds for the catch-up jobs of both instances to finish


def connect_and_make_everything_due(fake_slack, sandbox, database_url: str,
                                    tmp_path: Path) -> str:
    """Connect (ADMIN in Slack), name OWNER an admin in settings, and put the digest time and
    chase time a minute ago on every day, so both instances owe today's runs when they start."""
    deps = build_context(slack_settings(fake_slack, database_url, tmp_path, xero=sandbox))
    try:
        service = deps.connect_service()
        service.complete(*approve(service.start(DEFAULT_TEAM, ADMIN, login_hint=FINANCE)))
        with session_scope(deps.session_factory) as session:
            (connection,) = repositories.list_connections(session)
            repositories.set_workspace_members(session, connection.workspace_id,
                                               MemberRole.ADMIN, [OWNER])
            zone = org_zone(connection.timezone)
            now = datetime.now(zone)
            due = now - timedelta(minutes=1)
            if due.date() != now.date():  # keep today's window open: it starts at midnight
                due = now.replace(hour=0, minute=0)
            update_organisation_settings(
                session, connection.id, by="test", digest_channel_id=CHANNEL,
                digest_time=f"{due:%H:%M}", chase_time=f"{due:%H:%M}",
                chase_days="1,2,3,4,5,6,7", skip_public_holidays=False,
            )
            return connection.tenant_id
    finally:
        deps.close()


def finished_jobs(database_url: str, tmp_path: Path, fake_slack) -> dict[str, list[str]]:
    """Each job key's leases: the outcome of each finished one (None while running)."""
    deps = build_context(slack_settings(fake_slack, database_url, tmp_path))
    try:
        with session_scope(deps.session_factory) as session:
            rows = session.execute(select(JobLease.job_key, JobLease.outcome,
                                          JobLease.finished_at)).all()
    finally:
        deps.close()
    found: dict[str, list[str]] = {}
    for key, outcome, finished in rows:
        found.setdefault(key.split(":")[0], []).append(outcome if finished else None)
    return found


def wait_until(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def two_served():
    started: list[Served] = []
    yield started
    for process in started:  # a failed test still leaves nothing running
        process.kill()


@pytest.mark.timeout(120)
def test_two_serve_processes_post_each_digest_once_email_each_reminder_once_and_dm_each_admin_once(
    migrated_db, make_sandbox, fake_slack, smtp_server, tmp_path, two_served
):
    sandbox = make_sandbox(ledger=build_ledger(seed=3, orgs=1, contacts=8, invoices=60))
    smtp = smtp_server()
    fake_slack.add_channel(CHANNEL, "ar-digest")
    fake_slack.add_user(PRIMARY, is_primary_owner=True)
    tenant_id = connect_and_make_everything_due(fake_slack, sandbox, migrated_db,
                                                               tmp_path)
    xero = {"XERO_CLIENT_ID": sandbox.config.client_id,
            "XERO_CLIENT_SECRET": sandbox.config.client_secret, "XERO_BASE_URL": sandbox.url,
            "SMTP_URL": smtp.url, "SMTP_FROM": SENDER, "LOG_LEVEL": "INFO"}
    for n in range(2):
        folder = tmp_path / f"instance-{n}"
        folder.mkdir()
        two_served.append(Served(serve_env(fake_slack, folder, database=migrated_db, **xero),
                                 folder))
    for process in two_served:
        process.wait_healthy()

    # Both caught up today's sync, digest, forewarn and chase run; one instance ran each.
    leases = wait_until(
        lambda: (found := finished_jobs(migrated_db, tmp_path, fake_slack))
        and all(found.get(job) and None not in found[job] for job in JOBS) and found,
        timeout=WAIT, what="both instances' catch-up jobs")
    assert {job: len(leases[job]) for job in JOBS} == dict.fromkeys(JOBS, 1), leases
    assert leases["digest"] == ["posted"], leases
    # Tomorrow's plan may hold no email (today's run just sent them): then nothing is posted.
    forewarns = 1 if leases["forewarn"] == ["posted"] else 0
    assert leases["chase"][0].startswith("sent "), leases

    in_channel = [c.args["text"] for c in fake_slack.calls_to("chat.postMessage", ok=True)
                  if c.args["channel"] == CHANNEL]
    digests = [text for text in in_channel if text.startswith("Overdue digest for")]
    assert len(digests) == 1, in_channel
    assert len(in_channel) == 1 + forewarns, in_channel
    sent = int(leases["chase"][0].split()[1])
    assert sent > 0
    emails = Counter((str(r.message["Subject"]), tuple(sorted(r.rcpt_tos)))
                     for r in smtp.received)
    assert len(smtp.received) == sent and set(emails.values()) == {1}, emails
    assert len({str(r.message["Message-ID"]) for r in smtp.received}) == sent

    # The connection is lost; both instances are asked to sync at once: one DM per admin.
    httpx.post(f"{sandbox.url}/_sandbox/tenants/{tenant_id}/revoke",
               json={"revoke_tokens": True}, timeout=10).raise_for_status()
    senders = [SlackSender(process.url, fake_slack) for process in two_served]
    try:
        with ThreadPoolExecutor(2) as pool:
            commands = list(pool.map(lambda s: s.command("sync", user=MEMBER), senders))
        for command in commands:
            assert command.response.status_code == 200
            fake_slack.wait_for_hook(command.response_url, timeout=WAIT)
    finally:
        for sender in senders:
            sender.close()
    lost = wait_until(
        lambda: len(found := lost_dms(fake_slack)) >= 3 and found,
        timeout=WAIT, what="the connection-lost DMs")

    # SIGTERM drains both: anything still under way (a second DM, say) would land by now.
    outputs = []
    for process in two_served:
        code, output = process.stop()
        assert code == 0, output
        assert "Traceback" not in output, output
        outputs.append(output)
    # Each job fired in both processes, and the other one's lease said no: the database decided.
    lost_leases = [match.group(1) for output in outputs
                   for match in re.finditer(r"(\w+):\d+ for \S+ is another instance's", output)]
    assert sorted(lost_leases) == sorted(JOBS), outputs
    assert sorted(lost_dms(fake_slack)) == sorted(lost) == [ADMIN, OWNER, PRIMARY]
    assert len(smtp.received) == sent
    assert len([c for c in fake_slack.calls_to("chat.postMessage", ok=True)
                if c.args["channel"] == CHANNEL]) == 1 + forewarns
    assert MEMBER not in {c.args["channel"] for c in fake_slack.calls_to("chat.postMessage")}


def lost_dms(fake_slack) -> list[str]:
    return [c.args["channel"] for c in fake_slack.calls_to("chat.postMessage", ok=True)
            if c.args["channel"].startswith("U") and "needs reconnecting" in c.args["text"]]
