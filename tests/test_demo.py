"""`chaser demo` end to end, as a user runs it: a subprocess with no credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from bot.cli.demo import DEMO_ORGS
from bot.sandbox.ledger import build_ledger
from bot.sandbox.server import SandboxConfig, SandboxServer

FIGURES = {"contacts", "invoices", "api_calls", "throttled", "seconds"}


def run_demo(tmp_path, *args, env_extra=None):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XERO_", "DATABASE_URL", "SLACK_", "CHASER_"))
    }
    env["CHASER_DATA_DIR"] = str(tmp_path / "data")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_demo_json_reports_sync_figures_aging_and_write_back(tmp_path):
    done = run_demo(tmp_path, "--json", "--contacts", "8", "--invoices", "60")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    figures = json.loads(done.stdout)
    assert figures.keys() >= FIGURES
    assert figures["invoices"] == DEMO_ORGS * 60 and figures["contacts"] == DEMO_ORGS * 8
    assert figures["throttled"] == 0
    org = figures["organisations"][0]
    assert set(org["aging"]) == {"not_yet_due", "1_30", "31_60", "61_90", "90_plus"}
    assert org["overdue_count"] == sum(
        bucket["count"] for name, bucket in org["aging"].items() if name != "not_yet_due"
    )
    held = {example["invoice"]: example["held_in"] for example in figures["write_back"]}
    assert held == {"clean": "xero", "part_paid": "local"}
    assert (tmp_path / "data" / "demo.sqlite3").exists()
    digest = figures["digest"][0]  # the demo ends with the digest as Slack would show it
    assert digest["organisation"] == org["name"]
    assert digest["text"].startswith(f"Overdue digest for {org['name']}: ")
    assert 0 < digest["blocks"] <= 50 and digest["top_overdue"]


def test_demo_prints_a_summary_and_runs_fresh_each_time(tmp_path):
    first = run_demo(tmp_path)
    second = run_demo(tmp_path)

    for done in (first, second):
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
    assert "overdue" in second.stdout and "Most overdue" in second.stdout
    assert "Saved in chaser-bot only" in second.stdout
    assert "The digest as it would be posted in Slack" in second.stdout
    assert second.stdout.rstrip().endswith("[Show more]")


def test_demo_counts_are_per_sandbox_organisation_and_report_exactly_the_sales_invoices(tmp_path):
    done = run_demo(tmp_path, "--json", "--contacts", "20", "--invoices", "50")

    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert len(figures["organisations"]) == DEMO_ORGS
    # Every generated contact is synced, the archived duplicate too (the sync asks for archived
    # contacts so it can stop chasing them); bills are generated but are not sales invoices.
    assert figures["contacts"] == DEMO_ORGS * 20
    assert figures["invoices"] == DEMO_ORGS * 50


def test_demo_reuses_the_sandbox_that_xero_base_url_points_at(tmp_path):
    ledger = build_ledger(seed=5, orgs=1, contacts=7, invoices=33)
    tenant = ledger.organisations[0]
    with SandboxServer(SandboxConfig(auto_approve=True), ledger) as sandbox:
        # Only the URL: the demo brings the sandbox's well-known client id and secret itself.
        done = run_demo(tmp_path, "--json", env_extra={"XERO_BASE_URL": sandbox.url})
        stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()

    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["sandbox"] == sandbox.url
    assert [org["name"] for org in figures["organisations"]] == [tenant.name]
    assert figures["contacts"] == 7 and figures["invoices"] == 33  # not the demo's own 40 / 400
    calls = stats["calls"][tenant.organisation_id]
    assert calls["GET /Contacts"] >= 1 and calls["GET /Invoices"] >= 1
    assert sum(calls.values()) == stats["calls_total"] >= figures["api_calls"]
    assert stats["token_exchanges"] == 1


def test_demo_with_an_unreachable_sandbox_says_so_in_one_line_naming_its_url(tmp_path):
    done = run_demo(tmp_path, env_extra={"XERO_BASE_URL": "http://127.0.0.1:9"})

    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "could not reach the sandbox at http://127.0.0.1:9" in lines[0]
