"""`chaser chase`, `chaser schedule` and the demo's chase, end to end: the sandbox, the CLI,
a real SMTP server on loopback."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.chasing.timezones import org_zone
from bot.cli.app import app
from storage.db import session_scope
from storage.models import AuditEntry, Contact, Reminder, ReminderState, XeroConnection
from storage.settings import update_organisation_settings


def env_for(world, database_url, tmp_path, **extra):
    settings = world.ctx.settings
    return {
        "DATABASE_URL": database_url, "CHASER_DATA_DIR": str(tmp_path),
        "XERO_BASE_URL": settings.xero_base_url, "XERO_CLIENT_ID": "chaser-sandbox",
        "XERO_CLIENT_SECRET": "chaser-sandbox-secret", "LOG_LEVEL": "WARNING", **extra,
    }


def cli(env, *args):
    return CliRunner().invoke(app, list(args), env=env)


def open_window_now(world, *, hours_from_now: int = -1) -> None:
    """Every day a chase day, the chase time an hour ago (open) or later (closed)."""
    with session_scope(world.ctx.session_factory) as session:
        zone = org_zone(session.get(XeroConnection, world.connection_id).timezone)
        start = datetime.now(zone) + timedelta(hours=hours_from_now)
        if start.date() != datetime.now(zone).date():  # keep the window inside today
            start = datetime.now(zone).replace(hour=0, minute=0)
        update_organisation_settings(
            session, world.connection_id, by="test", chase_days="1,2,3,4,5,6,7",
            chase_time=f"{start:%H:%M}", skip_public_holidays=False,
        )


def ledger_count(world, state: ReminderState | None = None) -> int:
    with session_scope(world.ctx.session_factory) as session:
        statement = select(func.count()).select_from(Reminder)
        if state is not None:
            statement = statement.where(Reminder.state == state)
        return int(session.scalar(statement) or 0)


def test_dry_run_prints_the_plan_and_why_each_skipped_invoice_is_and_sends_nothing(
    make_world, migrated_db, tmp_path
):
    world = make_world(contacts=8, invoices=60)
    env = env_for(world, migrated_db, tmp_path)
    assert cli(env, "sync").exit_code == 0
    result = cli(env, "chase", "--dry-run", "--now")
    assert result.exit_code == 0, result.output
    assert "Emails (" in result.stdout and "Not chased (" in result.stdout
    figures = json.loads(cli(env, "chase", "--dry-run", "--now", "--json").stdout)
    plan = figures[0]
    assert plan["emails"] and all(email["to"] for email in plan["emails"])
    for skipped in plan["skipped"]:
        assert skipped["reason"]
    assert ledger_count(world) == 0 and not (tmp_path / "outbox").exists()


def test_chase_now_syncs_then_sends_once_over_smtp_and_a_rerun_sends_nothing(
    make_world, migrated_db, tmp_path, smtp_server
):
    world = make_world(contacts=8, invoices=60)
    server = smtp_server()
    env = env_for(world, migrated_db, tmp_path, SMTP_URL=server.url)
    sender = cli(env, "schedule", "sender", "--name", "Sam", "--email", "sam@books.example")
    assert sender.exit_code == 0, sender.output
    calls_before = world.calls()
    first = cli(env, "chase", "--now", "--json")
    assert first.exit_code == 0, first.output
    assert world.calls() > calls_before  # a sync ran before chasing
    run = json.loads(first.stdout)[0]
    assert run["sent"] == len(run["emails"]) > 0
    assert len(server.received) == run["sent"]
    assert ledger_count(world, ReminderState.SENT) == sum(len(e["invoices"])
                                                          for e in run["emails"])
    again = json.loads(cli(env, "chase", "--now", "--json").stdout)[0]
    assert again["sent"] == 0 and len(server.received) == run["sent"]
    message = server.received[0].message
    assert str(message["Reply-To"]) == "sam@books.example"
    # The sandbox serves Xero's online invoice links; the email carries them.
    assert "https://" in message.get_body(("plain",)).get_content()


def test_chase_sends_only_inside_the_window(make_world, migrated_db, tmp_path, smtp_server):
    world = make_world(contacts=6, invoices=40)
    server = smtp_server()
    env = env_for(world, migrated_db, tmp_path, SMTP_URL=server.url,
                  SMTP_FROM="chaser@books.example")
    open_window_now(world, hours_from_now=2)
    closed = cli(env, "chase")
    assert closed.exit_code == 0, closed.output
    assert "outside the chase window" in closed.stdout and server.received == []
    open_window_now(world, hours_from_now=-1)
    opened = cli(env, "chase")
    assert opened.exit_code == 0, opened.output
    assert "sent" in opened.stdout and len(server.received) > 0


def test_chase_now_says_a_closed_window_is_ignored(make_world, migrated_db, tmp_path):
    world = make_world(contacts=6, invoices=40)
    env = env_for(world, migrated_db, tmp_path)
    open_window_now(world, hours_from_now=2)
    planned = cli(env, "chase", "--dry-run", "--now")
    assert planned.exit_code == 0, planned.output
    assert "chase window closed, ignored (chase now)" in " ".join(planned.stdout.split())
    figures = json.loads(cli(env, "chase", "--dry-run", "--now", "--json").stdout)[0]
    assert figures["window_ignored"] is True
    open_window_now(world, hours_from_now=-1)
    inside = json.loads(cli(env, "chase", "--dry-run", "--now", "--json").stdout)[0]
    assert inside["window_open"] is True and inside["window_ignored"] is False


def test_without_smtp_the_emails_are_eml_files_in_the_outbox(make_world, migrated_db,
                                                             tmp_path):
    world = make_world(contacts=6, invoices=40)
    env = env_for(world, migrated_db, tmp_path, SMTP_FROM="chaser@books.example")
    result = cli(env, "chase", "--now", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)[0]
    assert run["destination"] == f"the folder {(tmp_path / 'outbox').resolve()}"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == run["sent"] > 0


def test_a_run_that_stops_early_says_why_in_its_json_too(make_world, migrated_db, tmp_path):
    # No sender address and no SMTP_FROM: the run stops before its first email; a script
    # reading --json learns why, as a person reading the text does.
    world = make_world(contacts=6, invoices=40)
    env = env_for(world, migrated_db, tmp_path)
    said = cli(env, "chase", "--now")
    assert said.exit_code == 1 and "stopped early: Reminders need an address" in " ".join(
        said.stdout.split())
    result = cli(env, "chase", "--now", "--json")
    assert result.exit_code == 1, result.output
    run = json.loads(result.stdout)[0]
    assert run["sent"] == 0
    assert run["stopped"] and run["stopped"].startswith("Reminders need an address")


def test_a_dry_run_says_when_the_emails_it_lists_cannot_go_yet(make_world, migrated_db,
                                                               tmp_path):
    # No sender address and no SMTP_FROM: the plan lists emails the real run would stop on,
    # so the dry run says so, and what to set; once a sender is set, it says nothing.
    world = make_world(contacts=6, invoices=40)
    env = env_for(world, migrated_db, tmp_path)
    assert cli(env, "sync").exit_code == 0
    planned = cli(env, "chase", "--dry-run", "--now")
    assert planned.exit_code == 0, planned.output
    assert "these emails cannot go yet: Reminders need an address to come from" in " ".join(
        planned.stdout.split())
    figures = json.loads(cli(env, "chase", "--dry-run", "--now", "--json").stdout)[0]
    assert figures["emails"] and figures["cannot_send"].startswith("Reminders need an address")
    assert cli(env, "schedule", "sender", "--email", "sam@books.example").exit_code == 0
    figures = json.loads(cli(env, "chase", "--dry-run", "--now", "--json").stdout)[0]
    assert figures["cannot_send"] is None
    with_from = {**env, "SMTP_FROM": "chaser@books.example"}
    assert "cannot go yet" not in cli(with_from, "chase", "--dry-run", "--now").stdout


def test_schedule_show_set_and_assign(make_world, migrated_db, tmp_path):
    world = make_world(contacts=4, invoices=10)
    env = env_for(world, migrated_db, tmp_path)
    assert cli(env, "sync").exit_code == 0
    shown = cli(env, "schedule", "show")
    assert shown.exit_code == 0, shown.output
    assert "Default (default)" in shown.stdout and "7 days before due" in shown.stdout
    assert "every 7 days, at most 8 times" in shown.stdout
    made = cli(env, "schedule", "set", "Firm", "--no-before", "--overdue", "1",
               "--overdue", "21:escalated,approval,template=final_notice", "--repeat-every",
               "14", "--repeat-cap", "2", "--no-thank-you")
    assert made.exit_code == 0, made.output
    assert "21 days after due — final_notice, grouped, escalated sender, escalated " \
           "recipients, needs approval" in " ".join(made.stdout.split())
    with session_scope(world.ctx.session_factory) as session:
        customer = session.scalars(select(Contact.name).where(
            Contact.connection_id == world.connection_id).order_by(Contact.id)).first()
    assigned = cli(env, "schedule", "assign", customer, "firm")
    assert assigned.exit_code == 0, assigned.output
    assert "Firm schedule" in assigned.stdout
    bad = cli(env, "schedule", "set", "--overdue", "soon")
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "DAYS" in bad.output
    wrong = cli(env, "schedule", "sender", "--email", "sam@")
    assert wrong.exit_code == 2 and "is not an email address" in wrong.output
    assert cli(env, "schedule", "sender", "--name", "Sam").exit_code == 0
    with session_scope(world.ctx.session_factory) as session:  # the CLI's changes, audited
        trail = [(e.action, e.actor, (e.detail or {}).get("schedule")) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(
                ["schedule.saved", "contact.schedule", "settings.sender"]))
            .order_by(AuditEntry.id))]
    assert trail == [("schedule.saved", "cli", "Firm"), ("contact.schedule", "cli", "Firm"),
                     ("settings.sender", "cli", None)]


def test_a_sender_name_too_long_to_keep_is_refused_alike_on_every_database(
    make_world, migrated_db, tmp_path
):
    # SQLite kept 300 characters; PostgreSQL failed with "database error: value too long".
    world = make_world(contacts=4, invoices=10)
    env = env_for(world, migrated_db, tmp_path)
    refused = cli(env, "schedule", "sender", "--name", "x" * 300, "--email", "a@b.example")
    assert refused.exit_code == 2, refused.output
    assert refused.output.strip() == "Error: A sender's name is at most 255 characters (got 300)."
    kept = cli(env, "schedule", "sender", "--name", "x" * 255, "--email", "a@b.example")
    assert kept.exit_code == 0, kept.output


def test_an_unconfirmed_send_is_resolved_by_a_person(make_world, migrated_db, tmp_path):
    world = make_world(contacts=4, invoices=20)
    env = env_for(world, migrated_db, tmp_path, SMTP_FROM="chaser@books.example")
    assert cli(env, "chase", "--now").exit_code == 0
    with session_scope(world.ctx.session_factory) as session:
        row = session.scalars(select(Reminder)).first()
        row.state, message_id = ReminderState.UNCONFIRMED, row.message_id
    missing = cli(env, "chase", "--resolve", "<nope@x>", "--not-delivered")
    assert missing.exit_code == 1 and "No unconfirmed reminder" in missing.output
    resolved = cli(env, "chase", "--resolve", message_id, "--not-delivered")
    assert resolved.exit_code == 0, resolved.output
    assert ledger_count(world, ReminderState.UNCONFIRMED) == 0
    assert ledger_count(world, ReminderState.FAILED) >= 1


def test_demo_shows_the_plan_and_writes_its_emails_to_the_outbox(tmp_path):
    result = CliRunner().invoke(
        app, ["demo", "--json", "--contacts", "6", "--invoices", "40"],
        env={"CHASER_DATA_DIR": str(tmp_path), "LOG_LEVEL": "WARNING", "XERO_BASE_URL": "",
             "SMTP_URL": "smtp://127.0.0.1:9?starttls=off"},  # ignored: the demo never emails
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    sent = sum(org["sent"] for org in figures["chase"])
    assert sent > 0 and figures["outbox"] == str((tmp_path / "outbox").resolve())
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == sent
    text = CliRunner().invoke(app, ["demo", "--contacts", "6", "--invoices", "40"],
                              env={"CHASER_DATA_DIR": str(tmp_path / "again"),
                                   "LOG_LEVEL": "WARNING", "XERO_BASE_URL": ""})
    assert text.exit_code == 0, text.output
    assert "Chase now: wrote" in text.stdout and "outbox" in text.stdout


def test_a_schedule_named_with_spaces_around_it_is_that_schedule(make_world, migrated_db,
                                                                 tmp_path):
    # " Firm" was not found by its name, so it was "new": Chaser's default steps, named
    # "Firm", replaced the existing Firm's before-due steps, repeat and thank-you.
    world = make_world(contacts=4, invoices=10)
    env = env_for(world, migrated_db, tmp_path)
    assert cli(env, "schedule", "set", "Firm", "--before", "3", "--overdue", "5",
               "--no-repeat", "--no-thank-you").exit_code == 0
    edited = cli(env, "schedule", "set", " Firm ", "--overdue", "9")
    assert edited.exit_code == 0, edited.output
    shown = " ".join(cli(env, "schedule", "show").stdout.split())
    assert "3 days before due" in shown and "9 days after due" in shown
    assert "7 days before due — due_soon" not in shown.split("Firm", 1)[1]
    assert "every 7 days" not in shown.split("Firm", 1)[1]
    escaped = cli(env, "schedule", "set", "\x1b[2J\x1b[31mFirm", "--overdue", "1")
    assert escaped.exit_code == 2 and "control characters" in escaped.output
    assert "\x1b" not in cli(env, "schedule", "show").stdout  # it rewrote the terminal
    capped = cli(env, "schedule", "set", "Firm", "--repeat-cap", "3")  # Firm does not repeat
    assert capped.exit_code == 2 and capped.output.strip() == (
        "Error: A cap needs a repeat: set how often the last overdue step repeats too.")


def test_an_invoice_chased_today_is_not_chased_again_today_after_its_schedule_changes(
    make_world, migrated_db, tmp_path
):
    # The step keys follow the schedule: moving the overdue step from day 1 to day 2 gave
    # every invoice just chased a new key, and the next run emailed its customer again.
    world = make_world(contacts=6, invoices=40)
    env = env_for(world, migrated_db, tmp_path, SMTP_FROM="chaser@books.example")
    run = json.loads(cli(env, "chase", "--now", "--json").stdout)[0]
    chased = {number for email in run["emails"] for number in email["invoices"]}
    assert run["sent"] > 0 and chased
    assert cli(env, "schedule", "set", "--overdue", "2").exit_code == 0
    plan = json.loads(cli(env, "chase", "--dry-run", "--now", "--json").stdout)[0]
    assert not chased & {number for email in plan["emails"] for number in email["invoices"]}
    held = {s["invoice"] for s in plan["skipped"] if s["reason"] == "chased_today"}
    assert held and held <= chased
    again = json.loads(cli(env, "chase", "--now", "--json").stdout)[0]
    assert not chased & {number for email in again["emails"] for number in email["invoices"]}
