"""`chaser connect` / `chaser disconnect` run as real subprocesses against a running sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.sandbox.server import SandboxServer
from storage.db import upgrade
from storage.models import ConnectionStatus
from tests.connect_helpers import SECRET_KEY, connections, free_port, make_context

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'chaser.sqlite3'}"
    upgrade(url)
    return url


def chaser(sandbox: SandboxServer, database_url: str, tmp_path: Path, *args: str,
           credentials: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XERO_", "CHASER_", "DATABASE_URL", "SLACK_"))}
    env |= {
        "PYTHONPATH": str(REPO), "COLUMNS": "200", "BROWSER": "true",
        "DATABASE_URL": database_url, "CHASER_DATA_DIR": str(tmp_path),
        "CHASER_SECRET_KEY": SECRET_KEY, "XERO_BASE_URL": sandbox.url,
        # A free port per test, so parallel or repeated runs never fight over 3000.
        "XERO_REDIRECT_URI": f"http://127.0.0.1:{free_port()}/xero/callback",
    }
    if credentials:
        env |= {"XERO_CLIENT_ID": sandbox.config.client_id,
                "XERO_CLIENT_SECRET": sandbox.config.client_secret}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_connect_completes_unattended_against_an_auto_approving_sandbox(
    sandbox: SandboxServer, database_url: str, tmp_path: Path
) -> None:
    run = chaser(sandbox, database_url, tmp_path,
                 "connect", "--login-hint", "finance@sandbox.example", "--timeout", "30")

    assert run.returncode == 0, run.stderr
    assert "/identity/connect/authorize?" in run.stdout
    for org in sandbox.ledger.organisations:
        assert f"Connected {org.name}" in run.stdout
    ctx = make_context(sandbox, database_url, tmp_path)
    assert [row.tenant_name for row in connections(ctx)] == [
        org.name for org in sandbox.ledger.organisations]


def test_connect_as_a_read_only_user_says_why_and_fails(
    sandbox: SandboxServer, database_url: str, tmp_path: Path
) -> None:
    run = chaser(sandbox, database_url, tmp_path,
                 "connect", "--login-hint", "readonly@sandbox.example", "--timeout", "30")

    assert run.returncode == 1
    assert "Not connected" in run.stdout and "Standard or Adviser" in run.stdout
    assert "No Xero organisation was connected." in run.stderr


def test_connect_gives_up_after_the_timeout(
    sandbox: SandboxServer, database_url: str, tmp_path: Path
) -> None:
    run = chaser(sandbox, database_url, tmp_path, "connect", "--timeout", "1")

    assert run.returncode == 1
    assert "No answer from Xero within 1 seconds" in run.stderr
    assert "Traceback" not in run.stderr


def test_connect_on_an_unmigrated_database_says_to_upgrade(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = chaser(sandbox, f"sqlite:///{tmp_path / 'empty.sqlite3'}", tmp_path, "connect")

    assert run.returncode == 1
    assert "chaser db upgrade" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_connect_without_xero_credentials_says_how_to_set_them(
    sandbox: SandboxServer, database_url: str, tmp_path: Path
) -> None:
    run = chaser(sandbox, database_url, tmp_path, "connect", credentials=False)

    assert run.returncode == 1
    assert "XERO_CLIENT_ID" in run.stderr and "chaser sandbox" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_disconnect_asks_which_organisation_then_disconnects_only_that_one(
    sandbox: SandboxServer, database_url: str, tmp_path: Path
) -> None:
    connected = chaser(sandbox, database_url, tmp_path,
                       "connect", "--login-hint", "finance@sandbox.example", "--timeout", "30")
    assert connected.returncode == 0, connected.stderr
    first, second = (org.name for org in sandbox.ledger.organisations)

    ambiguous = chaser(sandbox, database_url, tmp_path, "disconnect")
    assert ambiguous.returncode == 1
    assert first in ambiguous.stderr and second in ambiguous.stderr
    assert "--org" in ambiguous.stderr

    run = chaser(sandbox, database_url, tmp_path, "disconnect", "--org", first.upper())

    assert run.returncode == 0, run.stderr
    assert f"Disconnected {first}" in run.stdout
    statuses = {row.tenant_name: row.status
                for row in connections(make_context(sandbox, database_url, tmp_path))}
    assert statuses == {first: ConnectionStatus.DISCONNECTED, second: ConnectionStatus.CONNECTED}
