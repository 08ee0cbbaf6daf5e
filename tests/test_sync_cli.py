"""`chaser sync`: one clear line when there is nothing to sync, exact JSON when there is."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bot.cli.app import app


def env_for(world, database_url, tmp_path):
    settings = world.ctx.settings
    return {
        "DATABASE_URL": database_url,
        "CHASER_DATA_DIR": str(tmp_path),
        "XERO_BASE_URL": settings.xero_base_url,
        "XERO_CLIENT_ID": "chaser-sandbox",
        "XERO_CLIENT_SECRET": "chaser-sandbox-secret",
        "LOG_LEVEL": "WARNING",
    }


def test_sync_json_prints_exactly_the_five_figures(make_world, migrated_db, tmp_path):
    world = make_world(orgs=2, contacts=5, invoices=30)
    result = CliRunner().invoke(app, ["sync", "--json"], env=env_for(world, migrated_db, tmp_path))

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == {"contacts", "invoices", "api_calls", "throttled", "seconds",
                            "organisations"}
    assert (figures["contacts"], figures["invoices"], figures["throttled"]) == (10, 60, 0)
    # Per organisation: Organisation, one page of contacts, one page of invoices.
    assert figures["api_calls"] == 6
    assert [(o["organisation"], o["outcome"], o["invoices"]) for o in figures["organisations"]] \
        == [(org.name, "ok", 30) for org in world.ledger.organisations]


def test_sync_json_says_which_organisation_failed_and_why(make_world, migrated_db, tmp_path):
    world = make_world(orgs=2, contacts=5, invoices=30)
    broken = world.tenant_id(world.connection_ids[1])
    # Xero answers this organisation's every call with a 503 until the sync gives up.
    world.control("POST", "/faults", kind="503", count=100, tenant_id=broken)

    result = CliRunner().invoke(app, ["sync", "--json"], env=env_for(world, migrated_db, tmp_path))

    assert result.exit_code == 1
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    first, second = figures["organisations"]
    assert (first["outcome"], first["error"], first["invoices"]) == ("ok", None, 30)
    assert second["outcome"] == "failed" and second["retry_later"] is True
    assert second["code"] == "retry_later" and second["error"]
    assert second["organisation"] == world.ledger.organisation(broken).name
    assert "Traceback" not in result.output


def test_sync_of_one_named_organisation_shows_a_summary_table(make_world, migrated_db, tmp_path):
    world = make_world(orgs=2, contacts=5, invoices=30)
    name = world.ledger.organisations[1].name
    result = CliRunner().invoke(
        app, ["sync", "--org", name], env=env_for(world, migrated_db, tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert name in result.stdout and world.ledger.organisations[0].name not in result.stdout


def test_sync_without_a_migrated_database_says_so_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = CliRunner().invoke(
        app, ["sync", "--json"], env={"DATABASE_URL": url, "CHASER_DATA_DIR": str(tmp_path)}
    )

    assert result.exit_code == 1
    assert "chaser db upgrade" in result.output
    assert "Traceback" not in result.output


def test_sync_with_no_connection_says_connect_first(migrated_db, tmp_path):
    result = CliRunner().invoke(
        app, ["sync"], env={"DATABASE_URL": migrated_db, "CHASER_DATA_DIR": str(tmp_path)}
    )

    assert result.exit_code == 1
    assert "chaser connect" in result.output
