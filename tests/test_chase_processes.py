"""Exactly once across processes: a run killed between the SMTP send and the commit, and two
runs at once, each counted by what a real SMTP server on loopback received."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.chasing.mailer import SmtpMailer
from bot.chasing.plan import plan_chase
from bot.chasing.policy import SkipReason
from bot.chasing.reminders import ReminderSender
from storage.db import session_scope
from storage.models import Invoice, Reminder
from tests.chasing_world import IN_WINDOW, TODAY, make_books

ROOT = Path(__file__).resolve().parent.parent
PROCESS_TIMEOUT = 90


def start_run(db_url: str, server, connection_id: int, go_file: Path | None = None):
    args = [sys.executable, "-m", "tests.chase_process", db_url, server.url, str(connection_id),
            IN_WINDOW.isoformat()]
    if go_file is not None:
        args.append(str(go_file))
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def books_with_overdue_customers(session_factory, count: int):
    books = make_books(session_factory)
    for n in range(count):
        customer = books.customer(f"Customer {n:03d}", f"ap{n}@customer{n}.example")
        books.invoice(customer, f"INV-{n:03d}", TODAY - timedelta(days=1))
    return books


def invoice_numbers_received(server) -> Counter[str]:
    # One overdue invoice per customer: the subject names it.
    return Counter(str(r.message["Subject"]).split()[1] for r in server.received)


def ledger_states(session_factory) -> Counter[str]:
    with session_scope(session_factory) as session:
        return Counter(state.value for state in session.scalars(select(Reminder.state)))


def test_a_run_killed_between_send_and_commit_never_sends_that_email_twice(
    db_url, migrated_db, session_factory, smtp_server
):
    server = smtp_server()
    books = books_with_overdue_customers(session_factory, 5)
    process = start_run(migrated_db, server, books.connection_id)

    def kill_on_third(received) -> None:
        if len(server.received) == 3:
            # The server has the third email; its sender dies before hearing 250 or committing.
            os.kill(process.pid, signal.SIGKILL)

    server.handler.on_data = kill_on_third
    process.wait(timeout=PROCESS_TIMEOUT)
    assert process.returncode == -signal.SIGKILL
    assert len(server.received) == 3
    assert ledger_states(session_factory) == {"sent": 2, "sending": 1}

    # Rerun at once: the claim is fresh (maybe still sending somewhere), so it is left alone.
    clock = [IN_WINDOW]
    sender = ReminderSender(session_factory=session_factory, mailer=SmtpMailer(server.url),
                            clock=lambda: clock[0])
    first = sender.run(plan_chase(session_factory, books.connection_id, clock[0]))
    assert first.emails_sent == 2
    # Later: the dead run's claim becomes unconfirmed, is shown as such, and never resent.
    clock[0] = IN_WINDOW + timedelta(minutes=20)
    later_plan = plan_chase(session_factory, books.connection_id, clock[0])
    assert [s.reason for s in later_plan.skipped] == [SkipReason.UNCONFIRMED]
    later = sender.run(later_plan)
    assert later.emails_sent == 0 and later.unconfirmed == 1
    assert ledger_states(session_factory) == {"sent": 4, "unconfirmed": 1}
    received = invoice_numbers_received(server)
    assert len(received) == 5 and set(received.values()) == {1}


def test_two_processes_chasing_at_once_send_each_email_exactly_once(
    db_url, migrated_db, session_factory, smtp_server, tmp_path
):
    server = smtp_server()
    books = books_with_overdue_customers(session_factory, 40)
    go = tmp_path / "go"
    runs = [start_run(migrated_db, server, books.connection_id, go) for _ in range(2)]
    lines = [run.stdout.readline() for run in runs]
    assert all(lines), [run.communicate(timeout=PROCESS_TIMEOUT)[1] for run in runs]
    planned = [json.loads(line)["planned"] for line in lines]
    assert planned == [40, 40]  # both planned every email before either sent one
    go.touch()
    results = []
    for run in runs:
        out, err = run.communicate(timeout=PROCESS_TIMEOUT)
        assert run.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["sent"] for r in results) == 40
    assert sum(r["already_claimed"] for r in results) == 40
    received = invoice_numbers_received(server)
    assert len(received) == 40 and set(received.values()) == {1}
    assert ledger_states(session_factory) == {"sent": 40}
    with session_scope(session_factory) as session:
        assert session.scalar(select(Invoice.id).limit(1)) is not None
