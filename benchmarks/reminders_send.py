"""Plan and send 10,000 reminder emails to a real SMTP server on loopback, and count them.

The SMTP server (aiosmtpd) runs in a process of its own, so this process's CPU time is the
bot's alone. Prints the plan time, the send rate over one SMTP connection, and what the server
received: messages, distinct Message-IDs, invoices emailed more than once (goal: 0), and the
ledger's states. A second run over the same books checks that nothing is sent twice.
Figures only: nothing here asserts a timing.

    .venv/bin/python benchmarks/reminders_send.py                 # 10,000 emails, SQLite
    .venv/bin/python benchmarks/reminders_send.py --emails 2000 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bot.chasing.mailer import SmtpMailer  # noqa: E402
from bot.chasing.plan import plan_chase  # noqa: E402
from bot.chasing.reminders import ReminderSender  # noqa: E402
from storage import db  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.models import (  # noqa: E402
    Contact,
    ContactEmail,
    EmailRole,
    EmailSource,
    Invoice,
    Reminder,
)
from storage.repositories import save_connection  # noqa: E402
from storage.settings import update_organisation_settings  # noqa: E402

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=ZoneInfo("Pacific/Auckland"))  # a Tuesday
SINK = r"""
import sys, threading
from aiosmtpd.controller import Controller
seen = []
lock = threading.Lock()
class Sink:
    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        head = content.split(b"\r\n\r\n", 1)[0]
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n") if b": " in line)
        with lock:
            seen.append((fields.get(b"Message-ID", b"").decode(),
                         fields.get(b"Subject", b"").decode()))
        return "250 OK"
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
controller.stop()
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
print(f"{usage.ru_utime + usage.ru_stime:.2f}", flush=True)
with open(sys.argv[2], "w") as out:
    for message_id, subject in seen:
        out.write(f"{message_id}\t{subject}\n")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(url: str, emails: int) -> int:
    """One organisation, `emails` customers each with one invoice a day overdue."""
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    with session_scope(factory) as session:
        connection = save_connection(session, workspace_id=None, tenant_id="bench",
                                     tenant_name="Bench Ltd", country_code="NZ",
                                     timezone="NEWZEALANDSTANDARDTIME", base_currency="NZD")
        connection_id = connection.id
        update_organisation_settings(session, connection_id, by="bench", sender_name="Sam",
                                     sender_email="sam@bench.example")
    with session_scope(factory) as session:
        session.execute(insert(Contact), [
            {"connection_id": connection_id, "xero_contact_id": f"c-{n}",
             "name": f"Customer {n:05d}", "is_customer": True}
            for n in range(emails)
        ])
        ids = dict(session.execute(select(Contact.xero_contact_id, Contact.id)).all())
        session.execute(insert(ContactEmail), [
            {"contact_id": ids[f"c-{n}"], "email": f"ap{n}@customer{n}.example",
             "role": EmailRole.NORMAL, "source": EmailSource.CONTACT, "include_in_emails": True}
            for n in range(emails)
        ])
        due = NOW.date() - timedelta(days=1)
        session.execute(insert(Invoice), [
            {"connection_id": connection_id, "xero_invoice_id": f"i-{n}",
             "invoice_number": f"INV-{n:05d}", "type": "ACCREC", "contact_id": ids[f"c-{n}"],
             "xero_contact_id": f"c-{n}", "date": due, "due_date": due, "status": "AUTHORISED",
             "currency_code": "NZD", "total": Decimal("150.00"), "amount_due": Decimal("150.00")}
            for n in range(emails)
        ])
    engine.dispose()
    return connection_id


def run(url: str, connection_id: int, smtp_url: str) -> dict[str, float | int]:
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    started = time.perf_counter()
    cpu = time.process_time()
    plan = plan_chase(factory, connection_id, NOW)
    planned = time.perf_counter()
    sender = ReminderSender(session_factory=factory, mailer=SmtpMailer(smtp_url),
                            clock=lambda: NOW, actor="bench")
    result = sender.run(plan)
    finished = time.perf_counter()
    figures = {
        "planned_emails": len(plan.emails),
        "plan_seconds": round(planned - started, 2),
        "sent": result.emails_sent,
        "failed": result.failed,
        "send_seconds": round(finished - planned, 2),
        "emails_per_second": round(result.emails_sent / (finished - planned), 1)
        if result.emails_sent else 0,
        "cpu_seconds": round(time.process_time() - cpu, 2),
    }
    with session_scope(factory) as session:
        states = Counter(state.value for state in session.scalars(select(Reminder.state)))
    figures["ledger"] = dict(states)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty database (default: a temp SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
        db.upgrade(url)
        connection_id = seed(url, args.emails)
        port, received_file = free_port(), Path(folder) / "received.tsv"
        sink = subprocess.Popen([sys.executable, "-c", SINK, str(port), str(received_file)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
            smtp_url = f"smtp://127.0.0.1:{port}?starttls=off"
            first = run(url, connection_id, smtp_url)
            second = run(url, connection_id, smtp_url)
        finally:
            assert sink.stdin is not None
            sink.stdin.close()
            sink_cpu = float(sink.stdout.read().strip() or 0)
            sink.wait(timeout=60)
        lines = received_file.read_text().splitlines()
    message_ids = Counter(line.split("\t")[0] for line in lines)
    invoices = Counter(line.split("\t")[1].split()[1] for line in lines)
    print(json.dumps({
        "first_run": first,
        "second_run": {k: second[k] for k in ("planned_emails", "sent", "plan_seconds")},
        "server_received": len(lines),
        "distinct_message_ids": len(message_ids),
        "invoices_emailed_twice": sum(1 for count in invoices.values() if count > 1),
        "smtp_server_cpu_seconds": sink_cpu,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
