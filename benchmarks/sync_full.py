"""Full then incremental sync from a `chaser sandbox` subprocess, with Xero's limits on.

Prints API calls against the lower bound, 429s, wall time, the bot's CPU time (the sandbox
runs in its own process, so this process's CPU time is the bot's alone; waiting on the network
or the pacer costs no CPU), and peak memory. Figures only: nothing here asserts a timing.

    .venv/bin/python benchmarks/sync_full.py     # 100,000 invoices, 20,000 contacts
    .venv/bin/python benchmarks/sync_full.py --invoices 5000 --contacts 1000 --no-limits
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.chasing.sync import INVOICES, SyncProgress  # noqa: E402
from bot.cli.demo import connect_unattended  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.deps import build_context  # noqa: E402
from storage import db  # noqa: E402

PAGE = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(port: int, contacts: int, invoices: int, limits: bool,
                  orgs: int = 1) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "bot",
        "sandbox",
        "--port",
        str(port),
        "--orgs",
        str(orgs),
        "--contacts",
        str(contacts),
        "--invoices",
        str(invoices),
        "--auto-approve",
        "--limits" if limits else "--no-limits",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                raise SystemExit("the sandbox exited before it was ready") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the sandbox did not start within 2 minutes")


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--limits", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    port = free_port()
    sandbox = start_sandbox(port, args.contacts, args.invoices, args.limits)
    work = Path(tempfile.mkdtemp(prefix="chaser-bench-"))
    url = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    ctx = None
    try:
        db.upgrade(url)
        settings = load_settings(
            XERO_BASE_URL=f"http://127.0.0.1:{port}",
            XERO_CLIENT_ID="chaser-sandbox",
            XERO_CLIENT_SECRET="chaser-sandbox-secret",
            CHASER_DATA_DIR=str(work),
            LOG_LEVEL="WARNING",
        )
        ctx = build_context(settings, database_url=url)
        connection_id = connect_unattended(ctx).connected[0].connection_id
        httpx.post(f"http://127.0.0.1:{port}/_sandbox/reset-stats").raise_for_status()

        marks: dict[str, float] = {}

        def progress(event: SyncProgress) -> None:
            # CPU at the last contacts page ≈ where invoice work starts.
            if event.entity != INVOICES:
                marks["contacts_done_cpu"] = time.process_time()

        service = ctx.sync_service()
        wall, cpu = time.perf_counter(), time.process_time()
        full = service.sync(connection_id, full=True, progress=progress)
        full_wall, full_cpu = time.perf_counter() - wall, time.process_time() - cpu
        invoice_cpu = time.process_time() - marks.get("contacts_done_cpu", cpu)
        stats = httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats").json()

        wall, cpu = time.perf_counter(), time.process_time()
        incremental = service.sync(connection_id)
        inc_wall, inc_cpu = time.perf_counter() - wall, time.process_time() - cpu
        stats_after = httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats").json()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
        if ctx is not None:
            ctx.close()
        shutil.rmtree(work, ignore_errors=True)  # the 100,000-invoice SQLite file

    if full.outcome != "ok":
        raise SystemExit(f"full sync {full.outcome}: {full.reason}")
    # What Xero returns for Type=="ACCREC" (the ledger also holds bills), plus /Organisation.
    lower_bound = math.ceil(full.invoices / PAGE) + math.ceil(full.contacts / PAGE) + 1
    per_k = 1000 / max(full.invoices, 1)
    figures = {
        "invoices_in_ledger": args.invoices,
        "contacts_in_ledger": args.contacts,
        "limits": args.limits,
        "database": url.split(":", 1)[0],
        "full": {
            **full.figures(),
            "api_calls_lower_bound": lower_bound,
            "sandbox_429s": stats["rate_limited"],
            "wall_seconds": round(full_wall, 1),
            "bot_cpu_seconds": round(full_cpu, 2),
            "bot_cpu_ms_per_1000_invoices_all_work": round(full_cpu * 1000 * per_k, 1),
            "bot_cpu_ms_per_1000_invoices_invoice_pass": round(invoice_cpu * 1000 * per_k, 1),
        },
        "incremental_no_changes": {
            **incremental.figures(),
            "api_calls_goal": 2,
            "sandbox_429s": stats_after["rate_limited"] - stats["rate_limited"],
            "wall_seconds": round(inc_wall, 2),
            "bot_cpu_seconds": round(inc_cpu, 3),
        },
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if args.json:
        print(json.dumps(figures))
        return
    f, i = figures["full"], figures["incremental_no_changes"]
    print(
        f"Full sync of {full.invoices:,} invoices and {full.contacts:,} contacts "
        f"(limits {'on' if args.limits else 'off'}, {figures['database']}):"
    )
    print(
        f"  API calls      {f['api_calls']} (lower bound {lower_bound}), 429s: client "
        f"{f['throttled']}, sandbox {f['sandbox_429s']}"
    )
    print(f"  wall time      {f['wall_seconds']} s")
    print(
        f"  bot CPU        {f['bot_cpu_seconds']} s = "
        f"{f['bot_cpu_ms_per_1000_invoices_all_work']} ms per 1,000 invoices (all work), "
        f"{f['bot_cpu_ms_per_1000_invoices_invoice_pass']} ms (invoice pass only)"
    )
    print(f"  peak RSS       {figures['peak_rss_mb']} MB")
    print(
        "  (bot CPU = time.process_time() of this process: user + system time of all its "
        "threads; the sandbox is a separate process and waits on it cost no CPU)"
    )
    print(
        f"Incremental sync, no changes: {i['api_calls']} API calls (goal 2), "
        f"{i['sandbox_429s']} 429s, {i['wall_seconds']} s, CPU {i['bot_cpu_seconds']} s"
    )


if __name__ == "__main__":
    main()
