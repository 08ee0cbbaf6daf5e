"""A wrong CHASER_SECRET_KEY: one line per organisation, by name; `chaser doctor` says so."""

from __future__ import annotations

import os

import pytest

from bot.cli.app import run

ENV_PREFIXES = ("XERO_", "SLACK_", "CHASER_", "DATABASE_URL", "SMTP_", "PUBLIC_URL", "PORT",
                "LOG_LEVEL")


@pytest.fixture
def cli(monkeypatch, tmp_path, capsys):
    """Run `chaser ...` in this process with exactly these settings; (code, out, err)."""

    def invoke(args: list[str], **env: str) -> tuple[int, str, str]:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIXES):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        code = run(args)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def settings_of(world, migrated_db, tmp_path) -> dict[str, str]:
    return {
        "DATABASE_URL": migrated_db, "CHASER_DATA_DIR": str(tmp_path),  # the world's key file
        "XERO_BASE_URL": world.server.url, "XERO_CLIENT_ID": "chaser-sandbox",
        "XERO_CLIENT_SECRET": "chaser-sandbox-secret",
    }


def test_sync_with_the_wrong_key_says_one_line_per_organisation_by_name(
    make_world, migrated_db, tmp_path, cli
):
    world = make_world(orgs=2, contacts=5, invoices=10)
    settings = settings_of(world, migrated_db, tmp_path)

    code, out, err = cli(["sync"], **settings, CHASER_SECRET_KEY="not the key it was saved with")

    assert code == 1
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    names = [org.name for org in world.ledger.organisations]
    assert len(lines) == 2
    for name, line in zip(names, lines, strict=True):
        assert line.startswith(f"{name} failed:") and "CHASER_SECRET_KEY" in line


def test_doctor_fails_the_key_and_each_connection_it_cannot_open(
    make_world, migrated_db, tmp_path, cli
):
    world = make_world(orgs=2, contacts=5, invoices=10)
    settings = settings_of(world, migrated_db, tmp_path)
    names = [org.name for org in world.ledger.organisations]

    code, out, _ = cli(["doctor"], **settings, CHASER_SECRET_KEY="not the key it was saved with")

    assert code == 1
    assert f"FAIL secret key: CHASER_SECRET_KEY (or data/secret.key) does not decrypt the " \
           f"stored Xero tokens of {names[0]}, {names[1]}" in out
    for name in names:
        assert f"FAIL organisation {name}: connected: its stored tokens do not decrypt" in out


def test_doctor_lists_every_connection_and_fails_when_one_needs_reconnecting(
    make_world, migrated_db, tmp_path, cli
):
    world = make_world(orgs=2, contacts=5, invoices=10)
    settings = settings_of(world, migrated_db, tmp_path)
    names = [org.name for org in world.ledger.organisations]

    code, out, _ = cli(["doctor"], **settings)
    assert code == 0, out
    assert "PASS secret key: decrypts the stored Xero tokens of 2 organisation(s)" in out
    assert all(f"PASS organisation {name}: connected" in out for name in names)

    lost = world.tenant_id(world.connection_ids[1])
    world.control("POST", f"/tenants/{lost}/revoke", revoke_tokens=True)
    cli(["sync"], **settings)  # Xero refuses the organisation: it now needs reconnecting

    code, out, _ = cli(["doctor"], **settings)
    assert code == 1
    assert f"PASS organisation {names[0]}: connected" in out
    assert f"FAIL organisation {names[1]}: {names[1]} needs reconnecting" in out
    assert "chaser connect" in out


@pytest.mark.parametrize("args", [["chase", "--dry-run"], ["chase", "--now"], ["status"],
                                  ["disconnect", "--org", "{name}"], ["digest"]])
def test_every_command_with_the_wrong_key_names_the_organisation_in_one_line(
    make_world, migrated_db, tmp_path, cli, args
):
    world = make_world(orgs=2, contacts=5, invoices=10)
    settings = settings_of(world, migrated_db, tmp_path)
    names = [org.name for org in world.ledger.organisations]
    args = [arg.format(name=names[0]) for arg in args]

    code, out, err = cli(args, **settings, CHASER_SECRET_KEY="not the key it was saved with")

    assert "Traceback" not in out + err
    assert code in (0, 1, 2), (code, out, err)
    for line in (line for line in err.splitlines() if line.strip()):
        assert any(name in line for name in names), line
