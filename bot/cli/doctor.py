"""`chaser doctor`: one pass/fail/skip line per thing chaser-bot needs to run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot import messages
from bot.cli.support import describe_db_error, redact_url
from bot.config import Settings
from bot.messages import TERMINAL


@dataclass(frozen=True)
class Check:
    name: str
    status: Literal["pass", "fail", "skip"]
    detail: str


def run_checks(settings: Settings) -> Iterator[Check]:
    """Yield each check as it completes."""
    yield Check("configuration", "pass", "settings loaded")
    migrated = False
    for check in _database_checks(settings):
        migrated = check.name == "migrations" and check.status == "pass"
        yield check
    if migrated:
        yield from _key_and_connection_checks(settings)
    yield _slack_check(settings)
    yield _xero_check(settings)


def _database_checks(settings: Settings) -> Iterator[Check]:
    from storage import db

    url = settings.resolved_database_url
    try:
        engine = db.make_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except SQLAlchemyError as exc:
        yield Check("database", "fail", f"{redact_url(url)}: {describe_db_error(exc)}")
        return
    yield Check("database", "pass", f"{redact_url(url)} is reachable")
    current, head = db.current_revision(url), db.head_revision()
    if current == head:
        yield Check("migrations", "pass", f"at head ({head})")
    else:
        yield Check("migrations", "fail", f"at {current or 'no revision'}, head is {head}. "
                    + messages.DB_NOT_MIGRATED.render(TERMINAL))


def _key_and_connection_checks(settings: Settings) -> Iterator[Check]:
    """Whether the key opens the stored tokens, then one line per connection with its state."""
    from bot.secrets import SecretBox, SecretError, existing_key
    from storage import db, repositories
    from storage.models import ConnectionStatus

    engine = db.make_engine(settings.resolved_database_url)
    try:
        # Read-only: a check never waits behind a writer (a sync, a token refresh).
        with db.session_scope(db.make_session_factory(engine), read_only=True) as session:
            rows = [(c.tenant_name or c.tenant_id, c.status, c.status_reason, c.token_ciphertext)
                    for c in repositories.list_connections(session)]
    finally:
        engine.dispose()
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    key_problem: str | None = None
    try:
        key = existing_key(secret, settings.data_dir)
    except SecretError as exc:  # a key file that holds no key
        key, key_problem = None, exc.text(TERMINAL)
    box = SecretBox(key) if key else None
    stored = [name for name, _, _, token in rows if token]
    unreadable = set(stored) if box is None else set()
    for name, _, _, token in rows:
        if token and box is not None:
            try:
                box.decrypt(token)
            except SecretError:
                unreadable.add(name)
    if key_problem:
        yield Check("secret key", "fail", key_problem)
    elif not stored:
        yield Check("secret key", "skip", messages.DOCTOR_KEY_NO_TOKENS.render(TERMINAL))
    elif box is None:
        yield Check("secret key", "fail", messages.DOCTOR_KEY_MISSING.render(TERMINAL))
    elif unreadable:
        names = [name for name in stored if name in unreadable]
        yield Check("secret key", "fail", messages.doctor_key_fails(names).render(TERMINAL))
    else:
        yield Check("secret key", "pass",
                    messages.doctor_key_decrypts(len(stored)).render(TERMINAL))
    for name, status, reason, token in rows:
        check = f"organisation {name}"
        if status == ConnectionStatus.NEEDS_RECONNECT:
            yield Check(check, "fail", messages.needs_reconnect(name, reason).render(TERMINAL))
        elif status == ConnectionStatus.DISCONNECTED:
            yield Check(check, "skip", messages.doctor_connection("disconnected").render(TERMINAL))
        elif token and name in unreadable:
            yield Check(check, "fail", messages.doctor_connection(
                "connected", "its stored tokens do not decrypt with this key").render(TERMINAL))
        else:
            yield Check(check, "pass", messages.doctor_connection("connected").render(TERMINAL))


def _slack_check(settings: Settings) -> Check:
    if not settings.slack_bot_token:
        return Check("slack", "skip", "SLACK_BOT_TOKEN is not set (needed for `chaser serve`)")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        return Check("slack", "fail",
                     "set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
    mode = "Socket Mode" if settings.slack_app_token else "HTTP mode"
    return Check("slack", "pass", f"bot token set, {mode}")


def _xero_check(settings: Settings) -> Check:
    if not settings.xero_configured:
        return Check("xero", "skip",
                     "XERO_CLIENT_ID / XERO_CLIENT_SECRET are not set "
                     "(`chaser sandbox` prints settings for a local Xero)")
    from bot.deps import xero_oauth
    from bot.xero.errors import XeroError

    target = settings.xero_base_url or "api.xero.com"
    try:
        with xero_oauth(settings) as oauth:
            oauth.verify_client()
    except XeroError as exc:
        if getattr(exc, "reason", None) == "invalid_client":
            return Check("xero", "fail", f"{target} refused XERO_CLIENT_ID / XERO_CLIENT_SECRET: "
                         "copy them again from your Xero app")
        return Check("xero", "fail", f"cannot check the credentials at {target}: {exc}")
    return Check("xero", "pass", f"{target} accepts client {settings.xero_client_id}")
