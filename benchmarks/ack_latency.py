"""Slash-command acknowledgement latency in HTTP mode: chaser-bot against a bare Bolt floor.

Fires rounds of 50 concurrent signed `/chaser status` requests (`--text` picks another), as
Slack sends them, at:
  - floor: a bare Bolt App whose only listener acks, dispatched in a thread pool (bot/web.py's
    SlackEndpoint, the same transport chaser-bot uses);
  - stock: the same bare App behind Bolt's own Starlette adapter (dispatch on the event loop);
  - chaser-bot: `chaser serve` itself, against a local fake Slack, on a migrated SQLite file.
Each server runs in its own process; this process runs the fake Slack and the load. Prints p50
and p99 per target and chaser-bot's p99 over the floor's (goal: at most 1.3).

    .venv/bin/python benchmarks/ack_latency.py [--rounds 6] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.db import upgrade  # noqa: E402
from tests.connect_helpers import free_port  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack  # noqa: E402
from tests.fakes.slack_requests import command_payload  # noqa: E402
from tests.fakes.slack_signing import signed_headers  # noqa: E402

USER = "U0BENCH"


def run_floor(port: int, api_url: str, stock: bool) -> None:
    """The floor server (run in a child process): Bolt, one listener that only acks."""
    import uvicorn
    from slack_bolt import App
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from starlette.routing import Route

    from bot.web import SlackEndpoint

    app = App(client=WebClient(token=BOT_TOKEN, base_url=api_url),
              signing_secret=SIGNING_SECRET)
    app.command("/chaser")(lambda ack: ack())
    if stock:
        handler = SlackRequestHandler(app)

        async def endpoint(request):
            return await handler.handle(request)
    else:
        endpoint = SlackEndpoint(app, SIGNING_SECRET).handle
    web = Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read()}")
        try:
            httpx.post(f"http://127.0.0.1:{port}/slack/events", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def fake_slack_process(pipe: Connection) -> None:
    """The fake Slack in a process of its own, so its work never slows the load's timing."""
    with FakeSlack() as fake:
        fake.add_user(USER)
        pipe.send(fake.url)
        pipe.recv()  # until the benchmark is done


class Hooks:
    """Enough of FakeSlack for building payloads in this process: fresh response URLs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api_url = f"{url}/api/"

    def response_url(self) -> str:
        return f"{self.url}/hooks/{uuid.uuid4().hex}"

    def new_trigger_id(self) -> str:
        return f"1.{int(time.time())}.{uuid.uuid4().hex}"


async def one_round(url: str, fake: Hooks, concurrency: int, text: str = "status"
                    ) -> list[float]:
    bodies = []
    for _ in range(concurrency):
        body = urlencode(command_payload(fake, text, user=USER))
        bodies.append((body, signed_headers(SIGNING_SECRET, body)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        # Open the connections first, so each timing is the request, not a TCP handshake.
        await asyncio.gather(*(client.get(url.replace("/slack/events", "/nothing"))
                               for _ in range(concurrency)))

        async def send(body: str, headers: dict[str, str]) -> float:
            started = time.perf_counter()
            answer = await client.post(url, content=body.encode(), headers=headers)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200:
                raise SystemExit(f"{url} answered {answer.status_code}: {answer.text[:200]}")
            return elapsed

        return list(await asyncio.gather(*(send(b, h) for b, h in bodies)))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--text", default="status", help="what follows /chaser")
    parser.add_argument("--floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        run_floor(args.floor, args.api_url, args.stock)
        return

    results: dict[str, dict[str, float]] = {}
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=fake_slack_process, args=(theirs,), daemon=True)
    server.start()
    fake = Hooks(ours.recv())
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "XERO_"))}
        env.pop("DATABASE_URL", None)
        database = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(database)
        targets = {
            "floor (bare Bolt, thread pool)": ["benchmarks/ack_latency.py", "--floor"],
            "stock (bare Bolt, Bolt's Starlette adapter)": ["benchmarks/ack_latency.py",
                                                            "--floor", "--stock"],
            "chaser-bot (chaser serve)": ["-m", "bot", "serve"],
        }
        processes, urls = [], {}
        try:
            for name, command in targets.items():
                port = free_port()
                if command[0] == "-m":
                    child_env = {**env, "DATABASE_URL": database, "CHASER_DATA_DIR": tmp,
                                 "CHASER_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
                                 "SLACK_BOT_TOKEN": BOT_TOKEN,
                                 "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                                 "SLACK_API_URL": fake.api_url, "PORT": str(port),
                                 "LOG_LEVEL": "WARNING"}
                    argv = command
                else:
                    child_env = env
                    argv = [*command[:2], str(port), "--api-url", fake.api_url, *command[2:]]
                processes.append(start(argv, child_env, port))
                urls[name] = f"http://127.0.0.1:{port}/slack/events"
            # Rounds take turns between the targets, so a busy moment on the machine lands
            # on all of them alike rather than on whichever ran then.
            samples: dict[str, list[float]] = {name: [] for name in urls}
            for url in urls.values():
                asyncio.run(one_round(url, fake, args.concurrency))  # warm-up, not counted
            for _ in range(args.rounds):
                for name, url in urls.items():
                    samples[name] += asyncio.run(one_round(url, fake, args.concurrency, args.text))
                    time.sleep(0.3)  # let the round's after-ack work finish
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=60)
        for name, taken in samples.items():
            results[name] = {"p50_ms": round(statistics.median(taken) * 1000, 1),
                             "p99_ms": round(percentile(taken, 0.99) * 1000, 1),
                             "requests": len(taken)}
    ours.send("done")
    server.join(timeout=10)
    floor = results["floor (bare Bolt, thread pool)"]["p99_ms"]
    ours = results["chaser-bot (chaser serve)"]["p99_ms"]
    for name, figures in results.items():
        print(f"{name:46} p50 {figures['p50_ms']:7.1f} ms   p99 {figures['p99_ms']:7.1f} ms"
              f"   ({figures['requests']} requests, {args.concurrency} at a time)")
    print(f"chaser-bot p99 / floor p99 = {ours / floor:.2f} (goal ≤ 1.30)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
