"""From a change in Xero to the posted digest's `chat.update`: how live "live updates" are.

A `chaser sandbox` runs as its own process with webhooks pointed at chaser-bot's real
/xero/webhooks route; Slack is the project's fake Slack Web API (a local HTTP server). The
digest is posted once, then 20 times an overdue invoice is paid in the sandbox's ledger
(`POST /_sandbox/ledger/…/payments`) and the clock runs until the fake Slack records the
digest's `chat.update`. The path in between is the product's: the sandbox's signed, batched
delivery (it waits 0.1 s for more events, as Xero batches), the signature check and recording,
the worker's targeted fetch by ID, the payment alert, and the digest's rebuild and update.
Figures only: nothing here asserts a timing.

    .venv/bin/python benchmarks/webhook_latency.py                 # 20 payments, SQLite
    .venv/bin/python benchmarks/webhook_latency.py --runs 50 --invoices 20000
    .venv/bin/python benchmarks/webhook_latency.py --database-url postgresql://…/empty_db
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bot.cli.demo import connect_unattended  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.deps import build_context, build_digest_poster, build_webhooks  # noqa: E402
from bot.slack_alerts import SlackAlertPoster  # noqa: E402
from bot.slack_clients import SlackClients  # noqa: E402
from bot.web import WEBHOOKS_PATH, create_web_app  # noqa: E402
from storage import db  # noqa: E402
from storage.models import Invoice, XeroConnection  # noqa: E402
from storage.settings import update_organisation_settings  # noqa: E402
from tests.fakes.servers import BackgroundServer  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack  # noqa: E402

KEY = "benchmark-webhook-key-0123456789abcdef"
CHANNEL = "C0DIGEST"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(port: int, webhook_url: str, contacts: int, invoices: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "bot", "sandbox", "--port", str(port), "--orgs", "1",
               "--contacts", str(contacts), "--invoices", str(invoices), "--auto-approve",
               "--no-limits", "--webhook-url", webhook_url, "--webhook-key", KEY]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the sandbox did not start")


def wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    parser.add_argument("--gap", type=float, default=0.5,
                        help="seconds between payments, so each is its own delivery")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="chaser-webhook-bench-"))
    database_url = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    db.upgrade(database_url)
    holder: dict = {}
    arrivals: list[float] = []  # when each webhook delivery reached our route

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("path") == WEBHOOKS_PATH:
            arrivals.append(time.time())
        await holder["app"](scope, receive, send)

    web = BackgroundServer(app, name="chaser-web")
    sandbox_port = free_port()
    sandbox = start_sandbox(sandbox_port, web.url + WEBHOOKS_PATH, args.contacts, args.invoices)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    fake = FakeSlack().start()
    fake.add_channel(CHANNEL, "receivables")
    worker = None
    try:
        settings = load_settings(
            DATABASE_URL=database_url, CHASER_DATA_DIR=str(work), XERO_BASE_URL=sandbox_url,
            XERO_CLIENT_ID="chaser-sandbox", XERO_CLIENT_SECRET="chaser-sandbox-secret",
            XERO_WEBHOOK_KEY=KEY, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=fake.api_url,
            LOG_LEVEL="WARNING",
        )
        ctx = build_context(settings)
        [connection_id] = [c.connection_id for c in connect_unattended(ctx).connected]
        ctx.sync_service().sync(connection_id)
        with db.session_scope(ctx.session_factory) as session:
            update_organisation_settings(session, connection_id, by="benchmark",
                                         digest_channel_id=CHANNEL)
        clients = SlackClients(base_url=fake.api_url, bot_token=BOT_TOKEN)
        digests = build_digest_poster(ctx, clients.for_team, sync_first=False)
        posted = digests.post_digest(connection_id)
        assert posted.outcome == "posted", posted

        inbox, worker = build_webhooks(ctx, poster=SlackAlertPoster(clients.for_team),
                                       refresh_digest=digests.refresh_latest)
        worker.start()
        holder["app"] = create_web_app(ctx, webhooks=inbox)
        web.start()
        httpx.post(f"{sandbox_url}/_sandbox/webhooks/handshake", timeout=30)
        wait(lambda: httpx.get(f"{sandbox_url}/_sandbox/stats").json()["webhook"]["status"]
             == "ok", 30, "the intent-to-receive handshake")

        today = datetime.now(UTC).date()
        with db.session_scope(ctx.session_factory) as session:
            targets = list(session.execute(
                select(Invoice.xero_invoice_id, Invoice.amount_due)
                .where(Invoice.connection_id == connection_id, Invoice.status == "AUTHORISED",
                       Invoice.amount_due > 0, Invoice.due_date < today)
                .order_by(Invoice.due_date).limit(args.runs)))
            tenant_id = session.get(XeroConnection, connection_id).tenant_id
        if len(targets) < args.runs:
            raise SystemExit(f"only {len(targets)} overdue invoices; use more --invoices")

        latencies, deliveries = [], []
        for xero_id, amount_due in targets:
            updates = len(fake.calls_to("chat.update", ok=True))
            arrivals.clear()
            started = time.time()
            httpx.post(f"{sandbox_url}/_sandbox/ledger/{tenant_id}/invoices/{xero_id}/payments",
                       json={"amount": str(amount_due)}, timeout=30).raise_for_status()
            update = wait(lambda n=updates: (calls := fake.calls_to("chat.update", ok=True))[n:]
                          and calls[n], 30, "the digest's chat.update")
            latencies.append(update.at - started)
            deliveries.append(arrivals[0] - started)
            time.sleep(args.gap)

        alerts = [c for c in fake.calls_to("chat.postMessage", ok=True) if "thread_ts" in c.args]
        ms = [value * 1000 for value in latencies]
        engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
        print(f"ledger change → digest chat.update, {len(ms)} payments "
              f"({args.invoices:,} invoices, {engine}, sandbox in its own process):")
        print(f"  median {statistics.median(ms):.0f} ms   worst {max(ms):.0f} ms   "
              f"best {min(ms):.0f} ms")
        print(f"  of which the sandbox's delivery (its 100 ms batching window included): "
              f"median {statistics.median(deliveries) * 1000:.0f} ms")
        print(f"  payment alerts posted: {len(alerts)} (one per payment)")
        print("  Chaser: sync, then wait 10–15 minutes")
    finally:
        if worker is not None:
            worker.stop()
        web.stop()
        fake.stop()
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
