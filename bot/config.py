"""Typed settings from the environment and `.env`: the only module that reads os.environ."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigurationError

XERO_LOGIN_URL = "https://login.xero.com"
XERO_IDENTITY_URL = "https://identity.xero.com"
XERO_API_URL = "https://api.xero.com"

GRANULAR_SCOPES = (
    "offline_access accounting.invoices accounting.contacts.read "
    "accounting.settings.read openid profile email"
)
BROAD_SCOPES = (
    "offline_access accounting.transactions accounting.contacts.read "
    "accounting.settings.read openid profile email"
)


def database_url_problem(url: str) -> None:
    """Raise ValueError naming what is wrong with a DATABASE_URL, before anything connects."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except ValueError as exc:
        raise ValueError("the port is not a number") if "int()" in str(exc) else ValueError(
            "cannot be read as a URL"
        ) from None
    except Exception:  # sqlalchemy.exc.ArgumentError and kin
        raise ValueError("cannot be read as a URL") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            # An in-memory database would forget everything when the command ends.
            raise ValueError("names no file: sqlite:/// is followed by the file's path")
        return
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"port {parsed.port} is not from 1 to 65535")
    if not parsed.database:
        raise ValueError("names no database: add /NAME after the host")


class ConfigError(ConfigurationError):
    """A setting is missing or malformed; the message names it and says how to fix it."""


class Settings(BaseSettings):
    """Everything chaser-bot can be configured with, by its environment variable name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        env_ignore_empty=True,  # `LOG_LEVEL=` in .env means unset, not an invalid level
    )

    data_dir: Path = Field(default=Path("data"), alias="CHASER_DATA_DIR")
    database_url: str = Field(default="", alias="DATABASE_URL")

    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    # Slack OAuth v2 (HTTP mode, installable in many workspaces): both set turns it on.
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(default=None, alias="SLACK_CLIENT_SECRET")

    xero_client_id: str | None = Field(default=None, alias="XERO_CLIENT_ID")
    xero_client_secret: SecretStr | None = Field(default=None, alias="XERO_CLIENT_SECRET")
    xero_redirect_uri: str | None = Field(default=None, alias="XERO_REDIRECT_URI")
    xero_base_url: str | None = Field(default=None, alias="XERO_BASE_URL")
    xero_scope_style: Literal["granular", "broad"] = Field(
        default="granular", alias="XERO_SCOPE_STYLE"
    )
    # The signing key Xero shows for the app's webhook (developer portal, Webhooks).
    xero_webhook_key: SecretStr | None = Field(default=None, alias="XERO_WEBHOOK_KEY")

    smtp_url: str | None = Field(default=None, alias="SMTP_URL")
    # The From address of reminder emails; the sender's own address is the Reply-To.
    smtp_from: str | None = Field(default=None, alias="SMTP_FROM")
    secret_key: SecretStr | None = Field(default=None, alias="CHASER_SECRET_KEY")
    public_url: str | None = Field(default=None, alias="PUBLIC_URL")
    port: int = Field(default=3000, ge=1, le=65535, alias="PORT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", alias="LOG_LEVEL"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        if value:
            database_url_problem(value)
        return value  # storage.db.normalize_url picks the driver

    @field_validator("data_dir")
    @classmethod
    def _data_dir_is_a_folder(cls, value: Path) -> Path:
        # The nearest part of the path that exists must be a folder, or nothing can be made in it.
        for part in (value, *value.parents):
            if part.exists():
                if not part.is_dir():
                    where = "" if part == value else f" ({part} is a file)"
                    raise ValueError(f"{value} is not a folder{where}")
                break
        return value

    @field_validator("xero_base_url", "public_url", "slack_api_url", "xero_redirect_uri")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if not value:
            return value
        try:
            parts = urlsplit(value.strip())
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            valid = valid and parts.port != 0  # .port raises on a port that is not a number
        except ValueError:
            valid = False
        if not valid:
            raise ValueError("must be an http:// or https:// URL with a host (and a numeric port)")
        return value.strip()

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str | None) -> str | None:
        if value and ("@" not in value or any(c.isspace() for c in value.strip())):
            raise ValueError("must be an email address")
        return value.strip() if value else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Token rotation gives "xoxe.xoxb-..." bot tokens (docs.slack.dev token rotation).
        if value and not value.get_secret_value().startswith(("xoxb-", "xoxe.xoxb-")):
            raise ValueError("must be a bot token starting with xoxb-")
        return value or None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value or None

    @field_validator("slack_signing_secret", "slack_client_secret")
    @classmethod
    def _empty_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value and value.get_secret_value().strip() else None

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("smtp://", "smtps://")):
            raise ValueError("must look like smtp://user:password@host:port")
        return value

    # Derived values -------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        """The configured database, or a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'chaser.sqlite3').resolve()}"

    @property
    def xero_login_url(self) -> str:
        return (self.xero_base_url or XERO_LOGIN_URL).rstrip("/")

    @property
    def xero_identity_url(self) -> str:
        return (self.xero_base_url or XERO_IDENTITY_URL).rstrip("/")

    @property
    def xero_api_url(self) -> str:
        return (self.xero_base_url or XERO_API_URL).rstrip("/")

    @property
    def resolved_xero_redirect_uri(self) -> str:
        """Where Xero sends the browser back: XERO_REDIRECT_URI, or this machine on PORT."""
        return self.xero_redirect_uri or f"http://127.0.0.1:{self.port}/xero/callback"

    @property
    def xero_scopes(self) -> str:
        return GRANULAR_SCOPES if self.xero_scope_style == "granular" else BROAD_SCOPES

    @property
    def xero_configured(self) -> bool:
        return bool(self.xero_client_id and self.xero_client_secret)

    @property
    def slack_socket_mode(self) -> bool:
        """Socket Mode (no public URL) when an app-level token is set; HTTP mode otherwise."""
        return self.slack_app_token is not None

    @property
    def slack_oauth_enabled(self) -> bool:
        """HTTP mode installable in many workspaces (Slack OAuth v2)."""
        return bool(self.slack_client_id and self.slack_client_secret)

    def check_slack(self) -> None:
        """Raise one ConfigError naming the first Slack variable `chaser serve` lacks."""
        if self.slack_socket_mode:
            if not self.slack_bot_token:
                raise ConfigError("SLACK_BOT_TOKEN is not set: Socket Mode (SLACK_APP_TOKEN) "
                                  "needs the app's bot token (xoxb-...) too.")
            return
        if not self.slack_signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify "
                              "Slack's requests (or set SLACK_APP_TOKEN for Socket Mode).")
        if not self.slack_bot_token and not self.slack_oauth_enabled:
            missing = "SLACK_CLIENT_SECRET" if self.slack_client_id else "SLACK_BOT_TOKEN"
            raise ConfigError(f"{missing} is not set: HTTP mode needs a bot token (xoxb-...) "
                              "for one workspace, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
                              "to be installed in many.")


_HINTS = {
    "DATABASE_URL": "e.g. sqlite:///data/chaser.sqlite3 or postgresql://user@host:5432/db",
    "CHASER_DATA_DIR": "a folder chaser-bot may create and write in, e.g. data",
    "PORT": "a whole number from 1 to 65535",
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    "XERO_BASE_URL": "e.g. http://127.0.0.1:5050 for `chaser sandbox`, or unset for api.xero.com",
    "XERO_REDIRECT_URI": "e.g. http://127.0.0.1:3000/xero/callback, as in your Xero app",
    "PUBLIC_URL": "where Slack and Xero reach this server, e.g. https://chaser.example.com",
    "XERO_SCOPE_STYLE": "granular (apps created from March 2026) or broad (older apps)",
    "SMTP_URL": "smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465",
    "SMTP_FROM": "e.g. accounts@yourcompany.com",

    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token from your Slack app's OAuth & Permissions",
    "SLACK_APP_TOKEN": "create one with connections:write under Basic Information",
    "SLACK_API_URL": "unset for slack.com, or a local fake's URL ending in /api/",
}


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning any validation failure into one ConfigError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "setting"
        field = Settings.model_fields.get(name)
        variable = (field.alias if field and field.alias else name).upper()
        hint = _HINTS.get(variable, "fix it in the environment or .env")
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{variable} is invalid: {message} ({hint}).") from None
