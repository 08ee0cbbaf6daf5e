"""The /xero/callback page: connected organisations, refusals, cancels and errors, never a trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.cli.connect import serve_callback
from bot.deps import AppDeps
from bot.sandbox.server import SandboxServer
from tests.connect_helpers import connections, free_port, make_context


@pytest.fixture
def ctx(sandbox: SandboxServer, migrated_db: str, tmp_path: Path) -> AppDeps:
    return make_context(sandbox, migrated_db, tmp_path)


@pytest.fixture
def web(ctx: AppDeps) -> Iterator[httpx.Client]:
    """The web app served for real by uvicorn on a free port."""
    base = f"http://127.0.0.1:{free_port()}"
    with serve_callback(ctx, f"{base}/xero/callback", lambda outcome: None), \
            httpx.Client(base_url=base, timeout=30) as client:
        yield client


def xero_redirect(ctx: AppDeps, user: str = "finance@sandbox.example") -> str:
    """The callback path and query the sandbox sends the browser back to."""
    authorize_url = ctx.connect_service().start("T-TEAM", "U-ADMIN", login_hint=user)
    location = httpx.get(authorize_url).headers["location"]
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def test_callback_shows_the_connected_organisations(
    web: httpx.Client, ctx: AppDeps, sandbox: SandboxServer
) -> None:
    page = web.get(xero_redirect(ctx))

    assert page.status_code == 200
    assert "Xero connected" in page.text
    for org in sandbox.ledger.organisations:
        assert org.name.replace("&", "&amp;") in page.text
    assert len(connections(ctx)) == 2


def test_callback_for_a_readonly_user_says_why_and_what_to_do(
    web: httpx.Client, ctx: AppDeps
) -> None:
    page = web.get(xero_redirect(ctx, "readonly@sandbox.example"))

    assert page.status_code == 403
    assert "Read only" in page.text
    assert "Standard or Adviser" in page.text
    assert "ask your Xero admin" in page.text.lower() or "Ask your Xero admin" in page.text
    assert connections(ctx) == []


def test_callback_after_cancelling_at_xero_is_polite_and_uses_up_the_link(
    web: httpx.Client, ctx: AppDeps, sandbox: SandboxServer
) -> None:
    authorize_url = ctx.connect_service().start("T-TEAM", "U-ADMIN")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    # The person presses Cancel on Xero's consent page.
    answer = httpx.post(f"{sandbox.url}/identity/connect/authorize",
                        data={**query, "decision": "cancel"})
    location = urlsplit(answer.headers["location"])
    assert "error=access_denied" in location.query

    page = web.get(f"{location.path}?{location.query}")

    assert page.status_code == 200
    assert "You cancelled connecting Xero" in page.text
    retry = web.get(f"{location.path}?state={query['state']}&code=anything")
    assert "This link has expired — run `chaser connect` again." in retry.text


def test_callback_with_a_used_link_says_it_expired(web: httpx.Client, ctx: AppDeps) -> None:
    redirect = xero_redirect(ctx)
    assert web.get(redirect).status_code == 200

    page = web.get(redirect)

    assert page.status_code == 400
    assert "This link has expired — run `chaser connect` again." in page.text


def test_callback_without_code_or_state_is_an_incomplete_link(web: httpx.Client) -> None:
    page = web.get("/xero/callback")

    assert page.status_code == 400
    assert "incomplete" in page.text


def test_unexpected_failures_show_a_reference_and_no_traceback(
    web: httpx.Client, ctx: AppDeps
) -> None:
    redirect = xero_redirect(ctx)

    def broken(code: str, code_verifier: str) -> None:
        raise RuntimeError("secret internals")

    ctx.oauth.exchange_code = broken  # type: ignore[method-assign]
    page = web.get(redirect)

    assert page.status_code == 500
    assert "reference" in page.text
    assert "Traceback" not in page.text and "secret internals" not in page.text


def test_healthz_answers_ok(web: httpx.Client) -> None:
    assert web.get("/healthz").json() == {"status": "ok", "checks": {"database": "ok"}}
