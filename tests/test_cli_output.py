"""A command's output is its own: log lines stay out unless LOG_LEVEL asks; one event, one line."""

from __future__ import annotations

import os
import subprocess
import sys

ENV_PREFIXES = ("XERO_", "SLACK_", "CHASER_", "DATABASE_URL", "SMTP_", "PUBLIC_URL", "PORT",
                "LOG_LEVEL")


def chaser(args: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    return subprocess.run([sys.executable, "-m", "bot", *args], env={**clean, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def world_env(world, migrated_db, tmp_path) -> dict[str, str]:
    return {
        "DATABASE_URL": migrated_db, "CHASER_DATA_DIR": str(tmp_path),
        "XERO_BASE_URL": world.server.url, "XERO_CLIENT_ID": "chaser-sandbox",
        "XERO_CLIENT_SECRET": "chaser-sandbox-secret",
    }


def test_a_lost_organisation_is_said_once_and_no_log_line_interleaves(
    make_world, migrated_db, tmp_path
):
    world = make_world(orgs=2, contacts=5, invoices=20)
    lost = world.tenant_id(world.connection_ids[1])
    world.control("POST", f"/tenants/{lost}/revoke", revoke_tokens=True)

    done = chaser(["sync"], world_env(world, migrated_db, tmp_path), tmp_path)

    assert done.returncode == 1
    name = world.ledger.organisation(lost).name
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{name} failed:"), done.stderr
    assert "chaser connect" in lines[0]
    assert " WARNING " not in done.stdout + done.stderr
    assert " INFO " not in done.stdout + done.stderr


def test_log_lines_appear_when_log_level_asks_for_them(make_world, migrated_db, tmp_path):
    world = make_world(orgs=1, contacts=5, invoices=20)
    env = {**world_env(world, migrated_db, tmp_path), "LOG_LEVEL": "DEBUG"}

    done = chaser(["sync"], env, tmp_path)

    assert done.returncode == 0, done.stderr
    assert " INFO httpx: HTTP Request: GET " in done.stderr  # each call to Xero, as asked


def test_status_shows_each_organisation_its_last_sync_outcome_and_last_error(
    make_world, migrated_db, tmp_path
):
    import json

    world = make_world(orgs=2, contacts=5, invoices=20)
    env = world_env(world, migrated_db, tmp_path)
    assert chaser(["sync"], env, tmp_path).returncode == 0
    broken = world.tenant_id(world.connection_ids[1])
    world.control("POST", "/faults", kind="503", count=100, tenant_id=broken)
    assert chaser(["sync"], env, tmp_path).returncode == 1

    done = chaser(["status", "--json"], env, tmp_path)

    assert done.returncode == 0, done.stderr
    first, second = json.loads(done.stdout)
    names = [org.name for org in world.ledger.organisations]
    assert (first["organisation"], first["needs_reconnect"], first["last_sync_error"]) == (
        names[0], False, None)
    assert first["last_sync_at"] is not None
    assert second["organisation"] == names[1] and second["last_sync_error"]
    text = chaser(["status"], env, tmp_path).stdout
    assert f"{names[1]}: connected" in text and "failed:" in text and "— ok" in text


def test_a_library_logging_ctrl_c_while_closing_prints_no_traceback(capsys):
    import logging

    from bot.logs import configure_logging

    configure_logging("ERROR")
    root = logging.getLogger()
    handler = logging.StreamHandler()  # stands in for the console handler basicConfig made
    root.addHandler(handler)
    configure_logging("ERROR")  # filters every handler the root has
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            # What SQLAlchemy's pool does when Ctrl-C lands while it closes a connection.
            logging.getLogger("sqlalchemy.pool.impl.QueuePool").error(
                "Exception closing connection", exc_info=True)
        logging.getLogger("bot").error("a real error")
    finally:
        root.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Exception closing connection" not in err and "KeyboardInterrupt" not in err
    assert "a real error" in err
