"""Which bot token speaks for which Slack workspace: one SLACK_BOT_TOKEN, or OAuth v2 installs."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

if TYPE_CHECKING:
    from slack_bolt.oauth.oauth_settings import OAuthSettings
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from bot.config import Settings
    from bot.secrets import SecretBox

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
OAUTH_STATE_SECONDS = 600
# The bot scopes the app uses; app_manifest.yaml lists exactly these (tests check it) and an
# OAuth install asks for them.
BOT_SCOPES = ("chat:write", "commands", "im:write", "users:read", "users:read.email")
_TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


class UnknownWorkspace(LookupError):
    """No installation (or bot token) is stored for that Slack team."""


class SealedInstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's SQLAlchemy store on our database, with every token encrypted at rest.

    Its tables come from our Alembic migration 0004, never from `create_tables()`. Slack's
    tokens all start with "xox", our ciphertexts never do, so a value is sealed exactly once.
    """

    def __init__(self, client_id: str, engine: Engine, box: SecretBox) -> None:
        super().__init__(client_id=client_id, engine=engine)
        self.box = box

    def _seal(self, entity: Any) -> Any:
        sealed = copy.copy(entity)
        for name in _TOKEN_FIELDS:
            value = getattr(sealed, name, None)
            if isinstance(value, str) and value.startswith("xox"):
                setattr(sealed, name, self.box.encrypt(value))
        return sealed

    def _open(self, entity: Any) -> Any:
        for name in _TOKEN_FIELDS:
            value = getattr(entity, name, None)
            if isinstance(value, str) and value and not value.startswith("xox"):
                setattr(entity, name, self.box.decrypt(value))
        return entity

    def save(self, installation: Installation) -> None:
        super().save(self._seal(installation))

    def save_bot(self, bot: Bot) -> None:
        super().save_bot(self._seal(bot))

    def build_installation_entity(self, row: Any) -> Installation:  # type: ignore[override]
        return self._open(super().build_installation_entity(row))

    def build_bot_entity(self, row: Any) -> Bot:  # type: ignore[override]
        return self._open(super().build_bot_entity(row))


@dataclass
class SlackClients:
    """Builds a WebClient for a team: the single bot token, or the team's stored installation."""

    base_url: str
    bot_token: str | None = None
    installation_store: SealedInstallationStore | None = None
    oauth_settings: OAuthSettings | None = None

    @classmethod
    def from_settings(cls, settings: Settings, session_factory: sessionmaker[Session],
                      box: SecretBox | None = None) -> SlackClients:
        """Single-workspace when only SLACK_BOT_TOKEN is set; OAuth installs when the client
        id and secret are set (then a bot token, if also set, is stored as one installation)."""
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        if not settings.slack_oauth_enabled:
            return cls(base_url=settings.slack_api_url, bot_token=token)
        from slack_bolt.oauth.callback_options import CallbackOptions
        from slack_bolt.oauth.oauth_settings import OAuthSettings

        from bot.web import slack_install_failed

        if box is None:
            raise ValueError("OAuth installs need the SecretBox to seal tokens")
        engine = session_factory.kw["bind"]
        client_id = settings.slack_client_id or ""
        store = SealedInstallationStore(client_id, engine, box)
        secret = settings.slack_client_secret.get_secret_value() if settings.slack_client_secret \
            else ""
        oauth = OAuthSettings(
            client_id=client_id,
            client_secret=secret,
            scopes=list(BOT_SCOPES),
            installation_store=store,
            state_store=SQLAlchemyOAuthStateStore(expiration_seconds=OAUTH_STATE_SECONDS,
                                                  engine=engine),
            install_path=INSTALL_PATH,
            # Bolt's own success page; a failure gets ours (one line, what to do).
            callback_options=CallbackOptions(success=lambda args: args.default.success(args),
                                             failure=slack_install_failed),
            redirect_uri_path=REDIRECT_PATH,
            redirect_uri=(settings.public_url.rstrip("/") + REDIRECT_PATH
                          if settings.public_url else None),
        )
        return cls(base_url=settings.slack_api_url, bot_token=token,
                   installation_store=store, oauth_settings=oauth)

    @property
    def multi_workspace(self) -> bool:
        return self.installation_store is not None

    def for_team(self, team_id: str | None, enterprise_id: str | None = None) -> WebClient:
        """A client holding the bot token for `team_id` (UnknownWorkspace if none is stored)."""
        if self.installation_store is None:
            if not self.bot_token:
                raise UnknownWorkspace(team_id or "")
            return WebClient(token=self.bot_token, base_url=self.base_url)
        bot = self.installation_store.find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise UnknownWorkspace(team_id or "")
        return WebClient(token=bot.bot_token, base_url=self.base_url)

    def single_team(self) -> tuple[str, str | None] | None:
        """(team id, name) of the one workspace a single SLACK_BOT_TOKEN speaks for, as
        auth.test names it; None with OAuth installs (any workspace may install: nobody can
        tell which one a terminal's connection is for), without a token, or when Slack does not
        answer. Organisations connected from the terminal belong to this workspace."""
        if self.multi_workspace or not self.bot_token:
            return None
        from slack_sdk.errors import SlackApiError

        try:
            who = WebClient(token=self.bot_token, base_url=self.base_url).auth_test()
        except (SlackApiError, OSError) as exc:
            log.warning("Slack's auth.test did not name SLACK_BOT_TOKEN's workspace: %s", exc)
            return None
        team_id = who.get("team_id")
        return (str(team_id), who.get("team")) if team_id else None

    def adopt_bot_token(self) -> str | None:
        """In OAuth mode, store SLACK_BOT_TOKEN's own workspace as an installation, so a bot that
        ran on one token keeps working unchanged after OAuth is turned on. Returns its team."""
        if self.installation_store is None or not self.bot_token:
            return None
        client = WebClient(token=self.bot_token, base_url=self.base_url)
        who = client.auth_test()
        team_id = who.get("team_id")
        if self.installation_store.find_bot(enterprise_id=None, team_id=team_id) is None:
            self.installation_store.save(Installation(
                app_id=who.get("app_id") or "", team_id=team_id, team_name=who.get("team"),
                bot_token=self.bot_token, bot_id=who.get("bot_id"),
                bot_user_id=who.get("user_id"), bot_scopes=list(BOT_SCOPES),
                user_id=who.get("user_id") or "", is_enterprise_install=False,
            ))
            log.info("Stored SLACK_BOT_TOKEN as the installation of workspace %s", team_id)
        return team_id
