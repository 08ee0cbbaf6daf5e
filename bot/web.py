"""HTTP routes: Slack events and installs (HTTP mode), the Xero callback and webhooks, health."""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot import messages
from bot.chasing.connections import ConnectResult
from bot.errors import UserFacingError
from bot.messages import SLACK, Surface

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_bolt.oauth.callback_options import FailureArgs
    from sqlalchemy.orm import Session, sessionmaker

    from bot.chasing.webhooks import WebhookInbox
    from bot.deps import AppDeps

log = logging.getLogger(__name__)

CALLBACK_PATH = "/xero/callback"
WEBHOOKS_PATH = "/xero/webhooks"
# Xero gives a webhook 5 seconds; past this, answer 503 so Xero retries (the recording may
# still land, and the retry is then a no-op thanks to the event key).
WEBHOOK_ANSWER_WITHIN = 4.0
SLACK_EVENTS_PATH = "/slack/events"
# Threads for Slack dispatch: Bolt's own Starlette adapter dispatches on the event loop, so
# requests queue one behind another; here each waits for its ack in a thread instead.
SLACK_DISPATCH_THREADS = 64

# The most a request to /slack/events or /xero/webhooks may carry. Slack's and Xero's own are
# kilobytes (a modal's state, a batch of events of ~300 bytes each); these paths are public,
# so a body is counted as it arrives and refused past this, before it is all in memory.
MAX_BODY_BYTES = 5 * 1024 * 1024

# A health check: returns None when healthy, else a short reason.
HealthCheck = Callable[[], "str | None"]



@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback showed: a result, or the message of why there is none."""

    result: ConnectResult | None = None
    message: str | None = None
    cancelled: bool = False


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · chaser-bot</title>
<style>
 body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 4rem auto;
        padding: 0 1rem; color: #1d1c1d; }}
 h1 {{ font-size: 1.5rem; }} .ok {{ color: #007a5a; }} .no {{ color: #b3261e; }}
 li {{ margin: .4rem 0; }} .muted {{ color: #616061; font-size: .9rem; }}
</style></head>
<body><h1 class="{tone}">{title}</h1>{body}
<p class="muted">{footer}</p></body></html>
"""


def page_html(title: str, body: str, *, tone: str = "ok", surface: Surface = SLACK) -> str:
    """A small, self-contained result page's HTML; `body` must already be escaped HTML."""
    footer = html.escape(messages.CALLBACK_CLOSE_TAB.render(surface))
    return _PAGE.format(title=html.escape(title), body=body, tone=tone, footer=footer)


def render_page(title: str, body: str, *, tone: str = "ok", status: int = 200,
                surface: Surface = SLACK) -> HTMLResponse:
    """A small, self-contained result page; `body` must already be escaped HTML."""
    return HTMLResponse(page_html(title, body, tone=tone, surface=surface), status_code=status,
                        headers={"Cache-Control": "no-store"})


def slack_install_failed(args: FailureArgs) -> BoltResponse:
    """/slack/oauth_redirect when no installation was made: one line saying why and what to
    do, on our page, instead of Bolt's "Oops, Something Went Wrong!" with an error code.

    Slack sends `error=access_denied` when the person cancels on its consent page
    (docs.slack.dev/authentication/installing-with-oauth); Bolt names a missing or foreign
    state cookie `invalid_browser`, an expired or used state `invalid_state`."""
    install = args.settings.install_path if args.settings else "/slack/install"
    if args.reason == "access_denied":
        text = messages.SLACK_INSTALL_CANCELLED
    elif args.reason in ("invalid_browser", "invalid_state", "missing_code"):
        text = messages.SLACK_INSTALL_LINK_STALE
    else:
        text = messages.slack_install_failed(args.reason)
    body = (f"<p>{html.escape(text)}</p>"
            f'<p><a href="{html.escape(install)}">{html.escape(messages.SLACK_INSTALL_AGAIN)}'
            "</a></p>")
    page = page_html(messages.SLACK_INSTALL_NOT_DONE_TITLE, body,
                     tone="ok" if args.reason == "access_denied" else "no")
    return BoltResponse(status=args.suggested_status_code, body=page,
                        headers={"Content-Type": "text/html; charset=utf-8",
                                 "Cache-Control": "no-store"})


def result_page(result: ConnectResult, surface: Surface = SLACK) -> HTMLResponse:
    """Connected organisations, and the ones not kept with the reason and what to do."""
    parts = []
    if result.connected:
        items = "".join(
            f"<li><strong>{html.escape(org.tenant_name)}</strong>"
            + (" (reconnected)" if org.reconnected else "")
            + "".join(f" · {html.escape(v)}" for v in (org.country_code, org.base_currency) if v)
            + "</li>"
            for org in result.connected
        )
        parts.append(f"<p>{html.escape(messages.CALLBACK_CONNECTED_INTRO)}</p><ul>{items}</ul>")
    if result.refused:
        items = "".join(
            f"<li><strong>{html.escape(org.tenant_name)}</strong> "
            f"{html.escape(messages.CALLBACK_NOT_KEPT)} "
            f"{html.escape(org.reason)} {html.escape(org.what_to_do.render(surface))}</li>"
            for org in result.refused
        )
        parts.append(f"<ul>{items}</ul>")
    if result.connected:
        return render_page(messages.CALLBACK_CONNECTED_TITLE, "".join(parts), surface=surface)
    return render_page(messages.CALLBACK_NOT_CONNECTED_TITLE, "".join(parts), tone="no",
                       status=403, surface=surface)


def message_page(message: str, *, status: int, surface: Surface = SLACK) -> HTMLResponse:
    """Why nothing was connected, as a page."""
    return render_page(messages.CALLBACK_NOT_CONNECTED_TITLE, f"<p>{html.escape(message)}</p>",
                       tone="no", status=status, surface=surface)


async def capped_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The raw body, or None (answer 413) once it is longer than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class SlackEndpoint:
    """Bolt's Starlette adapter (its request/response conversion), dispatching in a thread.

    A POST's signature is checked here, on the raw bytes, before anything parses the body:
    Bolt parses first and verifies later, so an unsigned body that is not a JSON object, or a
    timestamp that is not a number, would be a 500 or an error reply instead of Slack's 401.
    """

    def __init__(self, app: App, signing_secret: str | None) -> None:
        self.app = app
        self.limiter = anyio.CapacityLimiter(SLACK_DISPATCH_THREADS)
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def handle(self, request: Request) -> Response:
        body = await capped_body(request)
        if body is None:
            return Response(status_code=413)
        if request.method == "POST" and not self._signed(body, request):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            bolt_request = to_bolt_request(request, body)
        except (ValueError, TypeError, AttributeError):  # signed, but no Slack payload in it
            return JSONResponse({"error": "invalid request"}, status_code=400)
        bolt_response = await anyio.to_thread.run_sync(
            self._dispatch, request.method, request.url.path, bolt_request, limiter=self.limiter)
        return to_starlette_response(bolt_response)

    def _signed(self, body: bytes, request: Request) -> bool:
        """Slack's v0 signature over the raw body, within 5 minutes (../shared/reference/
        slack-platform.md, "Verifying requests"); no secret: Bolt decides, as configured."""
        if self.verifier is None:
            return True
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not (timestamp.isascii() and timestamp.isdigit()):
            return False
        try:
            return self.verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:  # Slack signs UTF-8 text; these bytes are not
            return False

    def _dispatch(self, method: str, path: str, request: BoltRequest) -> BoltResponse:
        flow = self.app.oauth_flow
        if method == "GET" and flow is not None:
            if path == flow.install_path:
                return flow.handle_installation(request)
            if path == flow.redirect_uri_path:
                return flow.handle_callback(request)
        if method == "POST":
            return self.app.dispatch(request)
        return BoltResponse(status=404, body="Not found")


def slack_routes(app: App) -> list[Route]:
    """/slack/events, plus /slack/install and /slack/oauth_redirect when OAuth is on."""
    endpoint = SlackEndpoint(app, app.signing_secret)
    routes = [Route(SLACK_EVENTS_PATH, endpoint.handle, methods=["POST"])]
    if app.oauth_flow is not None:
        routes += [
            Route(app.oauth_flow.install_path, endpoint.handle, methods=["GET"]),
            Route(app.oauth_flow.redirect_uri_path, endpoint.handle, methods=["GET"]),
        ]
    return routes


def database_check(session_factory: sessionmaker[Session]) -> HealthCheck:
    """Healthy when the database answers SELECT 1."""

    def check() -> str | None:
        try:
            with session_factory() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure is the answer, not a crash of /healthz
            return f"unreachable: {type(exc).__name__}"
        return None

    return check


def health_endpoint(checks: Mapping[str, HealthCheck]) -> Callable[[Request], object]:
    """GET /healthz: 200 with each check "ok", or 503 naming what is wrong."""

    def run_checks() -> dict[str, str]:
        return {name: check() or "ok" for name, check in checks.items()}

    async def healthz(_request: Request) -> Response:
        results = await anyio.to_thread.run_sync(run_checks)
        healthy = all(value == "ok" for value in results.values())
        return JSONResponse({"status": "ok" if healthy else "unhealthy", "checks": results},
                            status_code=200 if healthy else 503)

    return healthz


def create_web_app(
    ctx: AppDeps,
    *,
    callback_path: str = CALLBACK_PATH,
    on_callback: Callable[[CallbackOutcome], None] | None = None,
    surface: Surface = SLACK,
    webhooks: WebhookInbox | None = None,
    slack_app: App | None = None,
    health_checks: Mapping[str, HealthCheck] | None = None,
) -> Starlette:
    """The HTTP app; `on_callback` hears every callback outcome (the CLI waits on it).

    `surface` is where the person who started connecting types commands: the callback page
    tells them what to run next in their own words (Slack, or the terminal for the CLI).
    With `webhooks`, POST /xero/webhooks takes Xero's webhook deliveries.
    With `slack_app` (HTTP mode) it also serves Slack's request URL and OAuth install routes;
    /healthz runs the database check plus `health_checks` (scheduler, Socket Mode...).
    """
    service = ctx.connect_service()

    def report(outcome: CallbackOutcome) -> None:
        if on_callback is not None:
            on_callback(outcome)

    # A plain function: Starlette runs it in a worker thread, off the event loop, because
    # completing consent makes blocking calls to Xero and the database.
    def xero_callback(request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            service.abandon(params.get("state"))
            if params["error"] == "access_denied":
                cancelled = messages.CONNECT_CANCELLED.render(surface)
                report(CallbackOutcome(message=cancelled, cancelled=True))
                return message_page(cancelled, status=200, surface=surface)
            said = params.get("error_description") or params["error"]
            message = messages.connect_refused_by_xero(said).render(surface)
            report(CallbackOutcome(message=message))
            return message_page(message, status=400, surface=surface)
        state, code = params.get("state"), params.get("code")
        if not state or not code:
            incomplete = messages.CONNECT_INCOMPLETE.render(surface)
            return message_page(incomplete, status=400, surface=surface)
        try:
            result = service.complete(state, code)
        except UserFacingError as exc:
            report(CallbackOutcome(message=exc.text(surface)))
            return message_page(exc.text(surface), status=400, surface=surface)
        except Exception:
            # The browser never sees a traceback: a short reference ties it to the log.
            reference = secrets.token_hex(4)
            log.exception("Xero callback failed (ref %s)", reference)
            message = messages.connect_crashed(reference).render(surface)
            report(CallbackOutcome(message=message))
            return message_page(message, status=500, surface=surface)
        report(CallbackOutcome(result=result))
        return result_page(result, surface)

    checks = {"database": database_check(ctx.session_factory), **(health_checks or {})}
    routes = [
        Route(callback_path, xero_callback, methods=["GET"]),
        Route("/healthz", health_endpoint(checks), methods=["GET"]),
    ]
    if webhooks is not None:
        routes.append(Route(WEBHOOKS_PATH, webhook_endpoint(webhooks), methods=["POST"]))
    if slack_app is not None:
        routes += slack_routes(slack_app)
    return Starlette(routes=routes)


def webhook_endpoint(inbox: WebhookInbox) -> Callable[[Request], Awaitable[Response]]:
    """POST /xero/webhooks: the raw body and its signature to the inbox, then 200 or 401.

    Xero: answer 200 with no body for a correctly signed payload (the intent-to-receive
    handshake included) and 401 for any other; no cookies (developer.xero.com/documentation/
    webhooks/configuring-your-server). The work itself happens after the answer.
    """

    async def endpoint(request: Request) -> Response:
        body = await capped_body(request)  # the raw bytes: the signature covers them exactly
        if body is None:
            return Response(status_code=413)
        signature = request.headers.get("x-xero-signature")
        try:
            receipt = await asyncio.wait_for(
                run_in_threadpool(inbox.receive, body, signature), WEBHOOK_ANSWER_WITHIN
            )
        except TimeoutError:
            log.warning("recording a Xero webhook delivery took too long; Xero will retry")
            return Response(status_code=503)
        except Exception:
            log.exception("could not record a Xero webhook delivery; Xero will retry")
            return Response(status_code=500)
        return Response(status_code=receipt.value)

    return endpoint
