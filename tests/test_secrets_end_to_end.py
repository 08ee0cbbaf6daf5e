"""Through a real connect, refresh and sync, no token, code or secret reaches a log or a table."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import inspect, make_url, text

from bot.chasing.tokens import DbTokenStore
from bot.logs import REDACTED, install_redaction
from bot.xero.auth import TokenManager, TokenSet
from storage.models import CLI_WORKSPACE_TEAM_ID, XeroConnection

SANDBOX_SECRET = "chaser-sandbox-secret"


def stored_tokens(ctx, connection_id: int) -> TokenSet:
    with ctx.session_factory() as session:
        row = session.get(XeroConnection, connection_id)
        return TokenSet.from_json(ctx.box.decrypt(row.token_ciphertext))


def every_stored_value(ctx) -> str:
    """Every value of every table, as text: what a database dump would show."""
    engine = ctx.session_factory.kw["bind"]
    parts = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def raw_sqlite_bytes(url: str) -> bytes:
    database = Path(make_url(url).database)
    files = [database, database.with_name(database.name + "-wal")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def test_tokens_codes_and_client_secret_never_reach_logs_or_the_database(
    make_world, migrated_db, caplog
):
    install_redaction()  # as every chaser command does when it sets up logging
    caplog.set_level(logging.DEBUG)
    world = make_world(orgs=1, invoices=60)
    ctx = world.ctx

    # Consent once more by hand, so the one-time code is known to look for afterwards.
    service = ctx.connect_service()
    url = service.start(CLI_WORKSPACE_TEAM_ID, None, login_hint="finance@sandbox.example")
    location = httpx.get(url, follow_redirects=False).headers["location"]
    query = parse_qs(urlsplit(location).query)
    code = query["code"][0]
    service.complete(query["state"][0], code)
    before_refresh = stored_tokens(ctx, world.connection_id)

    # Refresh as a process whose clock says the access token is about to expire.
    def later():
        return ctx.clock() + timedelta(minutes=29)

    store = DbTokenStore(ctx.session_factory, ctx.box, world.connection_id, clock=later)
    TokenManager(ctx.oauth, store, later).access_token()
    after_refresh = stored_tokens(ctx, world.connection_id)
    assert after_refresh.refresh_token != before_refresh.refresh_token

    report = ctx.sync_service().sync(world.connection_id)
    assert report.invoices > 0

    secrets = {
        "authorization code": code,
        "client secret": SANDBOX_SECRET,
        "old access token": before_refresh.access_token,
        "old refresh token": before_refresh.refresh_token,
        "new access token": after_refresh.access_token,
        "new refresh token": after_refresh.refresh_token,
        "id token": after_refresh.id_token or "",
    }
    logs = caplog.text
    dump = every_stored_value(ctx)
    raw = raw_sqlite_bytes(migrated_db) if migrated_db.startswith("sqlite") else b""
    assert REDACTED in logs, "nothing was scrubbed: the check would be empty"
    for name, value in secrets.items():
        assert value, name
        assert value not in logs, f"{name} appears in the logs"
        assert value not in dump, f"{name} appears in a table"
        assert value.encode() not in raw, f"{name} appears in the SQLite file"


def test_redaction_scrubs_codes_tokens_and_auth_headers_but_keeps_the_rest():
    from bot.logs import redact

    line = ('GET /xero/callback?code=abc123&state=s1 Authorization: Bearer tok.en-1 '
            '{"refresh_token": "r-1", "expires_in": 1800} Basic Y2xpZW50OnNlY3JldA== '
            'id eyJhbGciOi.eyJzdWIiOiIxIn0.c2lnbmF0dXJl')
    clean = redact(line)
    for secret in ("abc123", "s1", "tok.en-1", "r-1", "Y2xpZW50OnNlY3JldA==", "c2lnbmF0dXJl"):
        assert secret not in clean
    assert "/xero/callback?code=[redacted]" in clean
    assert '"expires_in": 1800' in clean
