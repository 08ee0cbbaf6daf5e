"""The `chaser` CLI: commands exist, fail with one clear line, and never print a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("command", ["serve", "digest", "chase"])
def test_commands_from_later_releases_say_so_and_exit_non_zero(command, tmp_path):
    result = run_chaser(command, cwd=tmp_path)
    assert result.returncode != 0
    assert "not built yet" in result.stderr
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
