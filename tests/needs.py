"""What some tests need from outside the repository, and the one rule for when it is missing.

Locally a missing PostgreSQL server or spec folder skips the tests that need it, with the
variable to set. Under CI (`CI=true`) every test must run, so a missing one fails instead; and a
variable that is set but points nowhere always fails: that is a broken setup, not an absent one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

POSTGRES_URL = "CHASER_TEST_POSTGRES_URL"
XERO_OPENAPI_DIR = "XERO_OPENAPI_DIR"
SLACK_MANIFEST_SCHEMA_DIR = "SLACK_MANIFEST_SCHEMA_DIR"

# What each variable is for, as the skip line says it.
PURPOSE = {
    POSTGRES_URL: "PostgreSQL tests (e.g. postgresql://postgres@127.0.0.1:5432/test)",
    XERO_OPENAPI_DIR: "checks against Xero's OpenAPI specs (a Xero-OpenAPI checkout)",
    SLACK_MANIFEST_SCHEMA_DIR: "the manifest check against Slack's schema (its JSON schema folder)",
}


def in_ci() -> bool:
    """Whether this run is CI's, where nothing may be skipped for want of a service or spec."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(variable: str) -> None:
    """Skip (or under CI fail) the current test: `variable` is unset."""
    if in_ci():
        pytest.fail(
            f"{variable} is unset, and CI=true runs every test: set it for {PURPOSE[variable]}",
            pytrace=False,
        )
    pytest.skip(f"{variable} is unset: {PURPOSE[variable]} skipped")


def env_value(variable: str) -> str:
    """The variable's value; skips (fails under CI) when it is unset."""
    value = os.environ.get(variable, "").strip()
    if not value:
        missing(variable)
    return value


def folder_file(variable: str, name: str) -> Path:
    """A file in the folder the variable names; a set variable with no such file always fails."""
    path = Path(env_value(variable)) / name
    if not path.is_file():
        pytest.fail(f"{variable}={os.environ[variable]} has no {name}: fix the path", pytrace=False)
    return path
