"""`chaser connect` and `chaser disconnect`: Xero consent from a terminal, like `gh auth login`."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import uvicorn
from rich.console import Console
from rich.markup import escape

from bot import messages
from bot.chasing.connections import ConnectResult
from bot.cli.support import CommandError, choose_connections, migrated_context
from bot.config import Settings
from bot.deps import AppDeps
from bot.messages import TERMINAL
from bot.secrets import SecretError
from bot.web import CallbackOutcome, create_web_app
from storage import repositories
from storage.db import session_scope
from storage.models import CLI_WORKSPACE_TEAM_ID, ConnectionStatus


def prepared_context(settings: Settings) -> AppDeps:
    """The context for a CLI command, after checking Xero credentials and the schema."""
    if not settings.xero_configured:
        raise CommandError(messages.XERO_CREDENTIALS_MISSING)
    return migrated_context(settings)


def terminal_team(settings: Settings) -> str:
    """The workspace a connection made here belongs to: the single SLACK_BOT_TOKEN's own when
    set (`chaser serve` would adopt it there anyway), else the CLI workspace."""
    from bot.slack_clients import SlackClients

    if not settings.slack_bot_token or settings.slack_oauth_enabled:
        return CLI_WORKSPACE_TEAM_ID
    token = settings.slack_bot_token.get_secret_value()
    team = SlackClients(base_url=settings.slack_api_url, bot_token=token).single_team()
    return team[0] if team is not None else CLI_WORKSPACE_TEAM_ID


def _bind(uri: str) -> socket.socket:
    parts = urlsplit(uri)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CommandError(
            f"Cannot listen on {host}:{port} for Xero's redirect ({exc.strerror}). Stop what "
            "uses that port, or set XERO_REDIRECT_URI to another localhost port (and add it "
            "to your Xero app's redirect URIs)."
        ) from exc
    sock.listen(128)  # a browser that is quicker than uvicorn's start waits in the queue
    return sock


@contextlib.contextmanager
def serve_callback(ctx: AppDeps, uri: str,
                   on_callback: Callable[[CallbackOutcome], None]) -> Iterator[None]:
    """Serve the callback route on the redirect URI's host and port while the block runs."""
    sock = _bind(uri)
    app = create_web_app(ctx, callback_path=urlsplit(uri).path or "/",
                         on_callback=on_callback, surface=TERMINAL)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def run_connect(settings: Settings, console: Console, *, login_hint: str | None = None,
                timeout: float = 300.0, open_browser: bool = True) -> ConnectResult:
    """Print the consent URL, wait for Xero to come back, print what was connected."""
    ctx = prepared_context(settings)
    uri = settings.resolved_xero_redirect_uri
    outcomes: list[CallbackOutcome] = []
    done = threading.Event()

    def heard(outcome: CallbackOutcome) -> None:
        outcomes.append(outcome)
        done.set()

    with serve_callback(ctx, uri, heard):
        url = ctx.connect_service().start(terminal_team(settings), None, login_hint=login_hint)
        console.print("Open this link to connect Xero (waiting for you to approve):")
        console.print(url, soft_wrap=True, markup=False)
        # A local sandbox started with --auto-approve redirects straight to our callback:
        # follow it ourselves so the command also completes unattended (CI, demos).
        followed = bool(settings.xero_base_url and login_hint) and _follow(url, uri)
        if not followed and open_browser:
            with contextlib.suppress(Exception):
                webbrowser.open(url)
        if not done.wait(timeout):
            raise CommandError(messages.connect_timed_out(timeout))
    outcome = outcomes[0]
    if outcome.result is None:
        raise CommandError(outcome.message or "Xero was not connected.")
    _print_result(console, outcome.result)
    if not outcome.result.connected:
        raise CommandError("No Xero organisation was connected.")
    return outcome.result


def follow_auto_approval(url: str) -> str | None:
    """The callback URL (carrying code and state, or error) an authorize URL redirects to.

    A local sandbox started with --auto-approve approves at once for a login_hint user; the
    callback itself is not requested. None when the redirects end elsewhere (a login page:
    a person has to approve). httpx errors are the caller's to handle.
    """
    with httpx.Client(follow_redirects=False, timeout=30.0) as http:
        response = http.get(url)
        for _ in range(10):
            if not response.is_redirect:
                return None
            location = urljoin(str(response.url), response.headers["location"])
            query = parse_qs(urlsplit(location).query)
            if ("code" in query and "state" in query) or "error" in query:
                return location
            response = http.get(location)
    return None


def _follow(url: str, callback_uri: str) -> bool:
    """Follow the authorize URL; True when it led straight back to our callback."""
    try:
        location = follow_auto_approval(url)
        if location is None or urlsplit(location).path != urlsplit(callback_uri).path:
            return False
        httpx.get(location, timeout=30.0)  # hand the code to our own callback server
    except httpx.HTTPError:
        return False  # not auto-approving after all: the person can still open the link
    return True


def _print_result(console: Console, result: ConnectResult) -> None:
    for org in result.connected:
        extras = ", ".join(v for v in (org.short_code, org.country_code, org.base_currency) if v)
        verb = "Reconnected" if org.reconnected else "Connected"
        console.print(f"[green]{verb}[/green] {escape(org.tenant_name)}"
                      + (f" ({escape(extras)})" if extras else ""))
    for org in result.refused:
        console.print(f"[red]Not connected[/red] {escape(org.tenant_name)}: "
                      f"{escape(org.reason)} {escape(org.what_to_do.render(TERMINAL))}")


def run_disconnect(settings: Settings, console: Console, *, org: str | None = None) -> None:
    """Disconnect one organisation (by name or short code), keeping all local history."""
    ctx = prepared_context(settings)
    live = [ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_RECONNECT]
    with session_scope(ctx.session_factory) as session:
        chosen = choose_connections(repositories.list_connections(session, statuses=live), org)
        rows = [(c.id, c.tenant_name or c.tenant_id) for c in chosen]
    if len(rows) > 1:
        names = "; ".join(name for _, name in rows)
        raise CommandError(f"Several organisations are connected ({names}): "
                           "choose one with --org NAME.")
    connection_id, name = rows[0]
    try:
        result = ctx.connect_service().disconnect(connection_id, actor="cli")
    except SecretError as exc:  # say which organisation's tokens the key cannot open
        raise CommandError(messages.about_organisation(name, exc.message)) from exc
    console.print(messages.disconnected_done(name).render(TERMINAL), markup=False)
    if result.xero_warning:
        warning = result.xero_warning.render(TERMINAL)
        console.print(f"[yellow]Warning:[/yellow] {escape(warning)}")
