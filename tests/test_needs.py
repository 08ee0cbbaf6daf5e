"""Tests that need PostgreSQL or a spec folder skip locally, fail under CI, fail on a bad path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_CHECK = "tests/test_manifest.py::test_manifest_validates_against_slack_schema"
NEEDS = ("CHASER_TEST_POSTGRES_URL", "XERO_OPENAPI_DIR", "SLACK_MANIFEST_SCHEMA_DIR", "CI")


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in NEEDS}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120,
    )


def test_a_missing_spec_folder_skips_locally_with_the_variable_to_set():
    done = run_pytest(MANIFEST_CHECK)

    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout
    assert "SLACK_MANIFEST_SCHEMA_DIR is unset" in done.stdout


def test_a_missing_spec_folder_fails_under_ci():
    done = run_pytest(MANIFEST_CHECK, CI="true")

    assert done.returncode == 1, done.stdout
    assert "CI=true runs every test" in done.stdout
    assert "1 failed" in done.stdout


def test_a_spec_folder_that_points_nowhere_fails_even_locally(tmp_path):
    done = run_pytest(MANIFEST_CHECK, SLACK_MANIFEST_SCHEMA_DIR=str(tmp_path / "nowhere"))

    assert done.returncode == 1, done.stdout
    assert "has no manifest.schema.1.0.0.json" in done.stdout


def test_the_run_ends_with_pytests_summary_line_and_one_line_per_skip_reason():
    done = run_pytest("-q", "tests/test_storage_types.py")

    lines = done.stdout.strip().splitlines()
    assert " passed" in lines[-1] and " skipped" in lines[-1]  # the summary is the last line
    reasons = [line for line in lines if "CHASER_TEST_POSTGRES_URL is unset" in line]
    assert len(reasons) == 1  # one line for every PostgreSQL skip, with its count
    assert "SKIPPED [" not in done.stdout
