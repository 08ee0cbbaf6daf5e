"""app_manifest.yaml is valid against Slack's published manifest schema (v1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_manifest() -> dict:
    return yaml.safe_load((ROOT / "app_manifest.yaml").read_text())


def test_manifest_validates_against_slack_schema():
    folder = os.environ.get("SLACK_MANIFEST_SCHEMA_DIR")
    if not folder:
        pytest.skip("SLACK_MANIFEST_SCHEMA_DIR is unset: Slack's manifest schema is not available")
    schema = json.loads((Path(folder) / "manifest.schema.1.0.0.json").read_text())
    jsonschema.validate(load_manifest(), schema)


def test_manifest_declares_the_chaser_command_and_socket_mode():
    manifest = load_manifest()
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/chaser"]
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]
