"""Connect/token test helpers: a real context on a real database, consent via the sandbox."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from bot.chasing.connection_guard import ConnectionGuard
from bot.chasing.connections import ConnectResult
from bot.chasing.ports import RecordingNotifier
from bot.config import Settings
from bot.deps import AppDeps, build_context, utc_now
from bot.sandbox.server import SandboxServer
from bot.xero.auth import TokenSet
from storage.db import session_scope
from storage.models import XeroConnection

SECRET_KEY = "test-secret-key-for-connect-tests-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_for(sandbox: SandboxServer, database_url: str, data_dir: Path,
                 redirect_uri: str | None = None, base_url: str | None = None) -> Settings:
    """Settings pointing at the sandbox, built without reading any .env file."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=database_url,
        CHASER_DATA_DIR=data_dir,
        CHASER_SECRET_KEY=SECRET_KEY,
        XERO_CLIENT_ID=sandbox.config.client_id,
        XERO_CLIENT_SECRET=sandbox.config.client_secret,
        XERO_BASE_URL=base_url or sandbox.url,
        XERO_REDIRECT_URI=redirect_uri or "http://127.0.0.1:3000/xero/callback",
    )


def make_context(sandbox: SandboxServer, database_url: str, data_dir: Path, *,
                 clock: Callable[[], datetime] = utc_now,
                 base_url: str | None = None) -> AppDeps:
    settings = settings_for(sandbox, database_url, data_dir, base_url=base_url)
    return build_context(settings, notifier=RecordingNotifier(), clock=clock)


def approve(authorize_url: str) -> tuple[str, str]:
    """Follow an auto-approved authorize URL: the (state, code) Xero sends back."""
    response = httpx.get(authorize_url)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["state"][0], query["code"][0]


def connect(ctx: AppDeps, user: str = "finance@sandbox.example", *,
            team_id: str = "T-TEAM", slack_user_id: str | None = "U-ADMIN") -> ConnectResult:
    """The whole consent as a person would do it, against the auto-approving sandbox."""
    service = ctx.connect_service()
    state, code = approve(service.start(team_id, slack_user_id, login_hint=user))
    return service.complete(state, code)


def guarded(ctx: AppDeps, connection_id: int,
            call: Callable[[Any], Any] = lambda client: client.organisation().name) -> Any:
    """Make a Xero call for a stored connection the way every service does: through the
    gateway, inside the connection's guard (which decides what a failure means)."""
    guard = ConnectionGuard(connection_id, session_factory=ctx.session_factory,
                            clock=ctx.clock, notifier=ctx.notifier)
    with guard, ctx.xero.connection(connection_id) as client:
        return call(client)


def connections(ctx: AppDeps) -> list[XeroConnection]:
    with session_scope(ctx.session_factory) as session:
        return list(session.scalars(select(XeroConnection).order_by(XeroConnection.id)))


def stored_tokens(ctx: AppDeps, connection_id: int) -> TokenSet:
    with session_scope(ctx.session_factory) as session:
        row = session.get(XeroConnection, connection_id)
        assert row is not None and row.token_ciphertext
        return TokenSet.from_json(ctx.box.decrypt(row.token_ciphertext))


def age_tokens(ctx: AppDeps, expires_at: datetime) -> None:
    """Make every stored token set look as if it expires at `expires_at` (Xero still accepts it)."""
    with session_scope(ctx.session_factory) as session:
        for row in session.scalars(select(XeroConnection)):
            if row.token_ciphertext:
                tokens = TokenSet.from_json(ctx.box.decrypt(row.token_ciphertext))
                aged = dataclasses.replace(tokens, expires_at=expires_at)
                row.token_ciphertext = ctx.box.encrypt(aged.to_json())
                row.token_expires_at = expires_at


def sandbox_stats(sandbox: SandboxServer) -> dict:
    return httpx.get(f"{sandbox.url}/_sandbox/stats").json()
