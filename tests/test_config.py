"""Settings: names people already use, safe defaults, one-line errors for bad values."""

from __future__ import annotations

import pytest

from bot.config import GRANULAR_SCOPES, ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "PORT", "LOG_LEVEL", "XERO_BASE_URL", "SMTP_URL",
                 "XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "CHASER_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_default_database_is_a_sqlite_file_in_the_data_directory(tmp_path):
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'chaser.sqlite3'}"


def test_postgres_urls_use_the_psycopg3_driver(monkeypatch):
    from storage.db import make_engine

    monkeypatch.setenv("DATABASE_URL", "postgres://u@db:5432/chaser")
    engine = make_engine(load_settings().resolved_database_url)  # builds, does not connect
    try:
        assert engine.url.render_as_string() == "postgresql+psycopg://u@db:5432/chaser"
    finally:
        engine.dispose()


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("XERO_CLIENT_ID=from-dotenv\nLOG_LEVEL=debug\n")
    settings = load_settings()
    assert settings.xero_client_id == "from-dotenv"
    assert settings.log_level == "DEBUG"


def test_one_base_url_points_every_xero_host_at_a_sandbox(monkeypatch):
    monkeypatch.setenv("XERO_BASE_URL", "http://127.0.0.1:5050/")
    settings = load_settings()
    assert settings.xero_login_url == settings.xero_identity_url == settings.xero_api_url
    assert settings.xero_api_url == "http://127.0.0.1:5050"


def test_real_xero_hosts_by_default():
    settings = load_settings()
    assert settings.xero_login_url == "https://login.xero.com"
    assert settings.xero_identity_url == "https://identity.xero.com"
    assert settings.xero_api_url == "https://api.xero.com"
    assert settings.xero_scopes == GRANULAR_SCOPES


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://x"),
        ("XERO_BASE_URL", "localhost:5050"),
        ("SMTP_URL", "mail.example.com"),
    ],
)
def test_malformed_setting_raises_one_line_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable} is invalid")
    assert "\n" not in message


def test_secrets_do_not_show_in_repr(monkeypatch):
    monkeypatch.setenv("XERO_CLIENT_SECRET", "very-secret-value")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    text = repr(load_settings())
    assert "very-secret-value" not in text
    assert "xoxb-secret-token" not in text
