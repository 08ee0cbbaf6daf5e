"""The `chaser` CLI: commands exist, fail with one clear line, and never print a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

EXPECTED_COMMANDS = [
    "demo", "serve", "sandbox", "connect", "disconnect", "sync", "digest", "chase", "db", "doctor",
]


def run_chaser(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "SLACK_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True, text=True, env={**clean, **(env or {})}, cwd=cwd, timeout=120,
    )


def test_help_lists_every_command():
    result = run_chaser("--help")
    assert result.returncode == 0
    for command in EXPECTED_COMMANDS:
        assert f" {command} " in result.stdout, command


def test_digest_before_the_database_is_ready_says_what_to_run_in_one_line(tmp_path):
    result = run_chaser("digest", cwd=tmp_path)
    assert result.returncode != 0
    assert "chaser db upgrade" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_setting_stops_with_one_line_naming_the_variable(tmp_path):
    result = run_chaser("doctor", env={"PORT": "eighty"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_db_upgrade_then_doctor_passes_on_embedded_sqlite(tmp_path):
    env = {"CHASER_DATA_DIR": str(tmp_path / "data")}
    upgraded = run_chaser("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "data" / "chaser.sqlite3").exists()
    doctor = run_chaser("doctor", env=env, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "PASS migrations" in doctor.stdout


def test_doctor_fails_migrations_before_db_upgrade(tmp_path):
    doctor = run_chaser("doctor", env={"CHASER_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    assert doctor.returncode == 1
    assert "FAIL migrations" in doctor.stdout
    assert "chaser db upgrade" in doctor.stdout


def test_db_upgrade_against_unreachable_database_is_one_line(tmp_path):
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = run_chaser("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "could not migrate" in result.stderr
    assert "Traceback" not in result.stderr


def _busy_port():
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    return held, held.getsockname()[1]


def test_sandbox_on_a_busy_port_says_so_in_one_line_without_a_traceback(tmp_path):
    held, port = _busy_port()
    with held:
        result = run_chaser("sandbox", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Port {port} is in use" in lines[0] and "--port" in lines[0]


@pytest.mark.parametrize("port", ["0", "99999", "-1"])
def test_sandbox_refuses_ports_outside_1_to_65535_without_a_traceback(port, tmp_path):
    result = run_chaser("sandbox", "--port", port, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout and "--port" in result.stderr


def test_sandbox_help_lists_client_redirect_and_limit_flags():
    result = run_chaser("sandbox", "--help", env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.returncode == 0
    for flag in ("--client-id", "--client-secret", "--redirect-uri", "--limits-scale",
                 "--limits", "--no-limits"):
        assert flag in result.stdout, flag


def test_sandbox_serves_with_the_client_and_redirect_uris_it_was_given(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "SLACK_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", str(port), "--client-id", "x",
         "--client-secret", "s3cret", "--redirect-uri", "http://localhost:9/a,http://localhost:9/b",
         "--redirect-uri", "http://127.0.0.1:9/c", "--limits-scale", "2", "--invoices", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean, cwd=tmp_path,
    )
    try:
        lines = [process.stdout.readline().strip() for _ in range(6)]
        settings = dict(line.split("=", 1) for line in lines if line.startswith("XERO_"))
        assert settings["XERO_CLIENT_ID"] == "x"
        assert settings["XERO_CLIENT_SECRET"] == "s3cret"
        assert settings["XERO_REDIRECT_URI"] == "http://localhost:9/a"
        assert settings["XERO_BASE_URL"] == f"http://127.0.0.1:{port}"
        authorize = f"http://127.0.0.1:{port}/identity/connect/authorize"
        params = {"response_type": "code", "client_id": "x", "scope": "openid", "state": "s"}
        for uri, allowed in (("http://localhost:9/b", True), ("http://127.0.0.1:9/c", True),
                             ("http://localhost:9/other", False)):
            answer = httpx.get(authorize, params=params | {"redirect_uri": uri})
            assert (answer.status_code == 200) is allowed, (uri, answer.status_code)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert "Traceback" not in out + err


def test_a_secret_key_file_that_is_not_a_key_is_one_line_saying_what_to_do(tmp_path):
    env = {"CHASER_DATA_DIR": str(tmp_path / "data")}
    assert run_chaser("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    key_file = tmp_path / "data" / "secret.key"
    key_file.write_text("not a key\n")
    key_file.chmod(0o600)

    result = run_chaser("sync", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "does not hold a Fernet key" in result.stderr
    assert "chaser connect" in result.stderr


def _failing_command(error: BaseException):
    import typer
    from typer.testing import CliRunner

    from bot.cli.app import friendly

    one = typer.Typer()

    @one.command()
    @friendly
    def fail() -> None:
        raise error

    return CliRunner().invoke(one, [])


def _user_facing_error():
    from bot.errors import UserFacingError

    return UserFacingError("Acme Ltd needs reconnecting.", detail="internal detail")


def _needs_reconnect():
    from bot import messages
    from bot.errors import NeedsReconnect

    return NeedsReconnect(messages.needs_reconnect("Acme Ltd", "revoked"), detail="internal detail")


def _key_mismatch():
    from cryptography.fernet import Fernet

    from bot.secrets import SecretBox, SecretError

    ciphertext = SecretBox(Fernet.generate_key()).encrypt("tokens")
    try:
        SecretBox(Fernet.generate_key()).decrypt(ciphertext)
    except SecretError as exc:
        return exc
    raise AssertionError("a different key decrypted the ciphertext")


def _database_locked():
    import sqlite3

    from sqlalchemy.exc import OperationalError

    return OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))


@pytest.mark.parametrize(
    ("make_error", "says"),
    [
        (_user_facing_error, "Acme Ltd needs reconnecting."),
        # The terminal's own command, not Slack's `/chaser connect` (issue 7, point 10).
        (_needs_reconnect, "an admin runs `chaser connect` again"),
        (_key_mismatch, "Restore the old key, or reconnect Xero"),
        (_database_locked, "database is locked"),
    ],
    ids=["user-facing", "command-for-the-terminal", "secret-key-changed", "database-locked"],
)
def test_expected_failures_become_one_line_and_exit_1(make_error, says):
    result = _failing_command(make_error())

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    output = result.output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output
    assert says in output
    assert "internal detail" not in output
    assert "/chaser" not in output
