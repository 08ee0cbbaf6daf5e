"""`chaser demo` end to end, as a user runs it: a subprocess with no credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys

FIGURES = {"contacts", "invoices", "api_calls", "throttled", "seconds"}


def run_demo(tmp_path, *args):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XERO_", "DATABASE_URL", "SLACK_", "CHASER_"))
    }
    env["CHASER_DATA_DIR"] = str(tmp_path / "data")
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
    assert figures["invoices"] > 0 and figures["contacts"] == 16
    assert figures["throttled"] == 0
    org = figures["organisations"][0]
    assert set(org["aging"]) == {"not_yet_due", "1_30", "31_60", "61_90", "90_plus"}
    assert org["overdue_count"] == sum(
        bucket["count"] for name, bucket in org["aging"].items() if name != "not_yet_due"
    )
    held = {example["invoice"]: example["held_in"] for example in figures["write_back"]}
    assert held == {"clean": "xero", "part_paid": "local"}
    assert (tmp_path / "data" / "demo.sqlite3").exists()


def test_demo_prints_a_summary_and_runs_fresh_each_time(tmp_path):
    first = run_demo(tmp_path)
    second = run_demo(tmp_path)

    for done in (first, second):
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
    assert "overdue" in second.stdout and "Most overdue" in second.stdout
    assert "Saved in chaser-bot only" in second.stdout
