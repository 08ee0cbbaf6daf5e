"""One instance's morning: sync, digest and chase run for many organisations, Xero's limits on.

A `chaser sandbox` subprocess holds the organisations (Xero's per-tenant 60 calls a minute and
app-wide 10,000 a minute enforced); the jobs are the ones `chaser serve` schedules
(bot/cli/serve.py `job_handlers`), run through the scheduler's leased `run_occurrence` on a
pool as wide as the scheduler's, each organisation's sync then digest then chase run. Emails go
to an SMTP server on loopback, Slack messages to the local fake Slack. Prints wall time, API
calls per organisation, and the busiest minute of API calls app-wide against 10,000 (sampled
from the sandbox's /_sandbox/stats once a second). Figures only: nothing here asserts a timing.

    .venv/bin/python benchmarks/morning.py                  # 50 organisations × 2,000 invoices
    .venv/bin/python benchmarks/morning.py --orgs 5 --invoices 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.sync_full import free_port, peak_rss_mb, start_sandbox  # noqa: E402
from bot.chasing.jobs import (  # noqa: E402
    JobKind,
    job_specs,
    organisation_times,
    previous_fire_time,
)
from bot.chasing.scheduler import build_scheduler  # noqa: E402
from bot.chasing.timezones import org_zone  # noqa: E402
from bot.cli.demo import connect_unattended  # noqa: E402
from bot.cli.serve import job_handlers  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.deps import build_context, build_digest_poster  # noqa: E402
from bot.slack_clients import SlackClients  # noqa: E402
from storage import db  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.models import JobLease, XeroConnection  # noqa: E402
from storage.repositories import get_or_create_workspace  # noqa: E402
from storage.settings import update_organisation_settings  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, DEFAULT_TEAM, FakeSlack  # noqa: E402
from tests.fakes.smtp import SmtpHandler  # noqa: E402

APP_LIMIT_PER_MINUTE = 10_000
DIGEST_CHANNEL = "C0MORNING1"
ORDER = (JobKind.SYNC, JobKind.DIGEST, JobKind.CHASE)


class CallSampler:
    """Samples the sandbox's total call count once a second; the busiest 60 s window."""

    def __init__(self, stats_url: str) -> None:
        self._url = stats_url
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CallSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        total = int(httpx.get(self._url, timeout=10).json()["calls_total"])
        self._samples.append((time.monotonic(), total))

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def busiest_minute(self) -> int:
        """Most calls in any 60-second span between two samples."""
        window: deque[tuple[float, int]] = deque()
        best = 0
        for moment, total in self._samples:
            window.append((moment, total))
            while window and moment - window[0][0] > 60:
                window.popleft()
            best = max(best, total - window[0][1])
        return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--invoices", type=int, default=2000, help="sales invoices per org")
    parser.add_argument("--contacts", type=int, default=400, help="contacts per org")
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel jobs (default: the scheduler's pool)")
    parser.add_argument("--limits", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    port = free_port()
    sandbox = start_sandbox(port, args.contacts, args.invoices, args.limits, orgs=args.orgs)
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="chaser-morning-"))
    url = args.database_url or f"sqlite:///{work / 'morning.sqlite3'}"
    smtp = SmtpHandler()
    mail = Controller(smtp, hostname="127.0.0.1", port=free_port())
    mail.start()
    fake = FakeSlack().start()
    fake.add_channel(DIGEST_CHANNEL, "receivables")
    try:
        db.upgrade(url)
        settings = load_settings(
            XERO_BASE_URL=base, XERO_CLIENT_ID="chaser-sandbox",
            XERO_CLIENT_SECRET="chaser-sandbox-secret", CHASER_DATA_DIR=str(work),
            SMTP_URL=f"smtp://127.0.0.1:{mail.port}?starttls=off", SMTP_FROM="ar@example.com",
            LOG_LEVEL="WARNING",
        )
        ctx = build_context(settings, database_url=url)
        connected = connect_unattended(ctx).connected
        if len(connected) != args.orgs:
            raise SystemExit(f"connected {len(connected)} of {args.orgs} organisations")
        with session_scope(ctx.session_factory) as session:
            workspace = get_or_create_workspace(session, DEFAULT_TEAM)
            session.execute(update(XeroConnection).values(workspace_id=workspace.id))
            now = ctx.clock()
            for org in connected:
                zone = org_zone(session.get(XeroConnection, org.connection_id).timezone)
                due = (now - timedelta(minutes=5)).astimezone(zone).strftime("%H:%M")
                update_organisation_settings(
                    session, org.connection_id, by="benchmark", digest_channel_id=DIGEST_CHANNEL,
                    digest_time=due, chase_time=due, chase_days="1,2,3,4,5,6,7",
                    skip_public_holidays=False, sender_email="ar@example.com",
                )
            times = organisation_times(session)
        clients = SlackClients(base_url=fake.api_url, bot_token=BOT_TOKEN)
        # As `chaser serve` wires them: the digest posts to the fake Slack (and syncs first).
        handlers = job_handlers(ctx, clients, digest=build_digest_poster(ctx, clients.for_team))
        scheduler = build_scheduler(ctx.session_factory, handlers)
        workers = args.workers or scheduler.max_workers
        httpx.post(f"{base}/_sandbox/reset-stats").raise_for_status()

        def morning(org_times) -> tuple[int, float, dict[str, str]]:
            started = time.perf_counter()
            specs = {spec.kind: spec for spec in job_specs(org_times)}
            outcomes = {}
            for kind in ORDER:
                spec = specs[kind]
                fired = previous_fire_time(spec.trigger(), ctx.clock())
                scheduler.run_occurrence(spec, spec.local_day(fired))
                outcomes[kind.value] = "ran"
            return org_times.connection_id, time.perf_counter() - started, outcomes

        wall = time.perf_counter()
        with CallSampler(f"{base}/_sandbox/stats") as sampler, \
                ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(morning, times))
        wall = time.perf_counter() - wall
        stats = httpx.get(f"{base}/_sandbox/stats").json()
        with session_scope(ctx.session_factory) as session:
            tenants = {row.id: row.tenant_id for row in session.execute(
                select(XeroConnection.id, XeroConnection.tenant_id))}
            # "sent 470" and the like count as one outcome: the run finished and sent.
            outcomes = Counter(f"{key.split(':')[0]} {(outcome or '?').split(' ')[0]}"
                               for key, outcome in
                               session.execute(select(JobLease.job_key, JobLease.outcome)))
    finally:
        fake.stop()
        mail.stop()
        sandbox.terminate()
        sandbox.wait(timeout=10)

    per_org_calls = [sum(stats["calls"].get(tenants[cid], {}).values()) for cid, _, _ in results]
    per_org_wall = sorted(seconds for _, seconds, _ in results)
    endpoints: dict[str, int] = {}
    for counts in stats["calls"].values():
        for endpoint, count in counts.items():
            endpoints[endpoint] = endpoints.get(endpoint, 0) + count
    figures = {
        "organisations": args.orgs,
        "invoices_per_org": args.invoices,
        "contacts_per_org": args.contacts,
        "limits": args.limits,
        "database": url.split(":", 1)[0],
        "workers": workers,
        "wall_seconds": round(wall, 1),
        "org_wall_seconds": {"median": round(statistics.median(per_org_wall), 1),
                             "max": round(per_org_wall[-1], 1)},
        "api_calls_total": stats["calls_total"],
        "api_calls_per_org": {"median": statistics.median(per_org_calls),
                              "max": max(per_org_calls)},
        "api_calls_by_endpoint": dict(sorted(endpoints.items())),
        "busiest_minute_calls": sampler.busiest_minute(),
        "app_limit_per_minute": APP_LIMIT_PER_MINUTE,
        "sandbox_429s": stats["rate_limited_by_problem"],
        "emails_sent": len(smtp.received),
        "slack_messages": len(fake.calls_to("chat.postMessage", ok=True)),
        "job_outcomes": dict(sorted(outcomes.items())),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if args.json:
        print(json.dumps(figures))
        return
    f = figures
    print(f"Morning of {f['organisations']} organisations × {f['invoices_per_org']:,} open "
          f"invoices (limits {'on' if f['limits'] else 'off'}, {f['database']}, "
          f"{f['workers']} jobs at a time): sync, digest, chase run")
    print(f"  wall time        {f['wall_seconds']} s "
          f"(per organisation: median {f['org_wall_seconds']['median']} s, "
          f"max {f['org_wall_seconds']['max']} s)")
    print(f"  API calls        {f['api_calls_total']:,} "
          f"(per organisation: median {f['api_calls_per_org']['median']}, "
          f"max {f['api_calls_per_org']['max']})")
    print(f"  by endpoint      {f['api_calls_by_endpoint']}")
    print(f"  busiest minute   {f['busiest_minute_calls']:,} calls app-wide "
          f"(Xero's app limit {APP_LIMIT_PER_MINUTE:,}); sandbox 429s {f['sandbox_429s'] or 0}")
    print(f"  emails sent      {f['emails_sent']:,}; Slack messages {f['slack_messages']}")
    print("  job outcomes     " + ", ".join(f"{name} ×{count}"
                                            for name, count in f["job_outcomes"].items()))
    print(f"  peak RSS         {f['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
