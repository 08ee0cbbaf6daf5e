"""`chaser doctor` checks Xero credentials for real, against the sandbox's token endpoint."""

from __future__ import annotations

import socket

import pytest

from bot.cli.doctor import run_checks
from bot.config import load_settings


@pytest.fixture
def settings_for(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    def make(base_url: str, secret: str = "chaser-sandbox-secret"):
        return load_settings(
            XERO_BASE_URL=base_url, XERO_CLIENT_ID="chaser-sandbox", XERO_CLIENT_SECRET=secret,
            CHASER_DATA_DIR=str(tmp_path / "data"),
        )

    return make


def xero_check(settings):
    return next(check for check in run_checks(settings) if check.name == "xero")


def test_doctor_passes_xero_when_the_token_endpoint_accepts_the_client(sandbox, settings_for):
    check = xero_check(settings_for(sandbox.url))
    assert check.status == "pass", check.detail
    assert "accepts client chaser-sandbox" in check.detail


def test_doctor_fails_xero_with_what_to_do_when_the_secret_is_wrong(sandbox, settings_for):
    check = xero_check(settings_for(sandbox.url, secret="not-the-secret"))
    assert check.status == "fail"
    assert "refused XERO_CLIENT_ID / XERO_CLIENT_SECRET" in check.detail
    assert "not-the-secret" not in check.detail


def test_doctor_fails_xero_in_one_line_when_it_is_unreachable(settings_for):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check = xero_check(settings_for(f"http://127.0.0.1:{port}"))
    assert check.status == "fail"
    assert check.detail.startswith("cannot check the credentials")
    assert "\n" not in check.detail


def test_doctor_skips_xero_without_credentials(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    check = xero_check(load_settings(CHASER_DATA_DIR=str(tmp_path / "data")))
    assert check.status == "skip"
