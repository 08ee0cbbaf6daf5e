"""`chaser serve` as a real process for tests: its environment, a run to exit, and a live one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from storage.db import upgrade
from tests.connect_helpers import free_port
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.fixtures.slack import SECRET_KEY


def serve_env(fake: FakeSlack, tmp_path: Path, *, database: str | None = None,
              **extra: str) -> dict[str, str]:
    """The environment of a `chaser serve` in HTTP mode against `fake`, on a free PORT.

    Without `database`, a migrated SQLite file in `tmp_path`; with it, that (migrated) URL."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("XERO_", "SLACK_", "SMTP_"))}
    clean.pop("DATABASE_URL", None)
    if database is None:
        database = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
        upgrade(database)
    return {**clean, "DATABASE_URL": database, "CHASER_DATA_DIR": str(tmp_path),
            "CHASER_SECRET_KEY": SECRET_KEY, "SLACK_API_URL": fake.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "PORT": str(free_port()), "LOG_LEVEL": "WARNING", **extra}


def run_once(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "serve"], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60)


class Served:
    """A `chaser serve` process; `stop()` sends SIGTERM and returns (exit code, output).

    Its output goes to `serve.log` in `cwd` (a pipe nobody reads while it runs could fill and
    stall the process)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.log = cwd / "serve.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env,
                                            cwd=cwd, stdout=output,
                                            stderr=subprocess.STDOUT, text=True)

    def output(self) -> str:
        return self.log.read_text()

    def wait_healthy(self, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.output())
            try:
                answer = httpx.get(f"{self.url}/healthz", timeout=2)
                if answer.status_code == 200:
                    return answer.json()
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("chaser serve never became healthy")

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        return self.process.returncode, self.output()

    def kill(self) -> None:
        """Kill it if it still runs (a failed test's teardown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
