"""Composes the sandbox: Xero's paths on one port, the API gateway, and a uvicorn runner."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from bot.sandbox.control import (
    BODY_FAULTS,
    RAW_SEND,
    Fault,
    FaultPlan,
    control_routes,
    drop_connection,
    fault_body,
    fault_page,
    truncate,
)
from bot.sandbox.identity import (
    REFRESH_GRACE,
    ClientRegistration,
    IdentityStore,
    TokenRejected,
)
from bot.sandbox.identity_consent import consent_routes
from bot.sandbox.identity_scopes import accepted_scopes
from bot.sandbox.limits import LimitSettings, RateLimiter, SandboxStats
from bot.sandbox.oauth import bearer_grant, identity_routes, xero_problem
from bot.sandbox.webhooks import WebhookDispatcher, WebhookSettings

log = logging.getLogger("chaser.sandbox")
# A status fault of 401 or 403 answers what Xero says then, not a front-end page.
AUTH_PROBLEMS = {401: "TokenExpired: token expired (sandbox fault)",
                 403: "AuthenticationUnsuccessful"}
API_PREFIX = "/api.xro/2.0"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that makes one sandbox differ from another; defaults behave like Xero."""

    client_id: str = SANDBOX_CLIENT_ID
    client_secret: str = SANDBOX_CLIENT_SECRET
    redirect_uris: tuple[str, ...] = ()  # empty: any http://localhost or 127.0.0.1 URI
    auto_approve: bool = False  # GET authorize with login_hint=<user> approves at once
    require_pkce: bool = False  # Xero web apps may skip PKCE; S256 is enforced when sent
    limits: bool = True
    limits_scale: float = 1.0
    minute_window_seconds: float = 60.0
    day_window_seconds: float = 86_400.0
    refresh_grace_seconds: float = REFRESH_GRACE  # 0: strict rotation, no lost-answer retry
    max_page_size: int = 1000  # serve at most this many rows a page, whatever pageSize asks
    webhook_url: str | None = None
    webhook_key: str | None = None
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    public_url: str | None = None  # the URL clients use; token `iss` and webhook resourceUrl
    clock: Callable[[], float] = field(default=time.time, repr=False)


class PortUnavailable(OSError):
    """The sandbox could not listen on host:port (busy, privileged or not an address here)."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        super().__init__(error.errno, error.strerror)
        self.host, self.port = host, port
        self.in_use = error.errno == errno.EADDRINUSE


class _Gateway:
    """What stands in front of Xero's Accounting API: auth, tenant, scope, limits, faults."""

    def __init__(self, store: IdentityStore, limiter: RateLimiter, stats: SandboxStats,
                 faults: FaultPlan) -> None:
        self.store, self.limiter, self.stats, self.faults = store, limiter, stats, faults

    async def accounting(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        # Order matters: token, tenant and scope are checked before the rate limiter, so 401 and
        # 403 answers carry no X-*Limit-Remaining headers and use none of the budget. Xero counts
        # limits per connection (tenant + app), which is only known once the token and tenant
        # check out. Xero documents the headers on "every response" but shows none on its
        # 401/403 examples; this ordering is our reading, not a documented fact.
        request = Request(scope)
        try:
            grant = bearer_grant(request, self.store)
        except TokenRejected as rejected:
            await xero_problem(401, rejected.detail)(scope, receive, send)
            return
        tenant_id = request.headers.get("xero-tenant-id", "").strip().lower()
        if not tenant_id or not self.store.is_connected(grant, tenant_id):
            await xero_problem(403, "AuthenticationUnsuccessful")(scope, receive, send)
            return
        accepted = accepted_scopes(request.method, request.url.path)
        if accepted is not None and not accepted.intersection(grant.scopes):
            await xero_problem(401, "AuthorizationUnsuccessful")(scope, receive, send)
            return
        admission = self.limiter.acquire(tenant_id)
        if not admission.allowed:
            self.stats.bump("rate_limited", admission.problem)
            await Response(status_code=429, headers=admission.headers)(scope, receive, send)
            return
        try:
            self.stats.count_call(tenant_id, request.method, request.url.path)
            fault = self.faults.take("accounting", tenant_id, request.url.path)
            if fault is not None:
                self.stats.bump("faults_injected", fault.kind)
                if fault.kind == "drop":
                    await drop_connection(scope)
                    return
                if fault.kind == "status" and fault.status in AUTH_PROBLEMS:
                    # Xero's own refusal, in its JSON: 401 TokenExpired, 403 revoked tenant.
                    problem = xero_problem(fault.status, AUTH_PROBLEMS[fault.status])
                    await problem(scope, receive, send)
                    return
                if fault.kind == "status":
                    await PlainTextResponse(fault_body(fault.status), fault.status,
                                            headers=admission.headers)(scope, receive, send)
                    return
                if fault.kind in BODY_FAULTS:
                    await _edge_answer(fault, admission.headers)(scope, receive, send)
                    return
                if fault.kind == "delay":
                    await asyncio.sleep(fault.delay_ms / 1000)
            state = scope.setdefault("state", {})
            state.update(tenant_id=tenant_id, grant=grant, xero_userid=grant.xero_userid)

            async def send_with_limits(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers += [(k.lower().encode(), v.encode())
                                for k, v in admission.headers.items()]
                    message = {**message, "headers": headers}
                await send(message)

            if fault is not None and fault.kind == "truncated":
                await app(scope, receive, _truncating(send_with_limits))
            else:
                await app(scope, receive, send_with_limits)
        finally:
            self.limiter.release(tenant_id)

    async def token(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        fault = self.faults.take("token")
        if fault is None:
            await app(scope, receive, send)
            return
        self.stats.bump("faults_injected", f"token-{fault.kind}")
        if fault.kind == "status":
            await PlainTextResponse(fault_body(fault.status), fault.status)(scope, receive, send)
        elif fault.kind in BODY_FAULTS:
            await _edge_answer(fault, {})(scope, receive, send)
        elif fault.kind == "truncated":
            await app(scope, receive, _truncating(send))
        elif fault.kind == "delay":
            await asyncio.sleep(fault.delay_ms / 1000)
            await app(scope, receive, send)
        else:
            # The answer is lost *after* the server acted: exactly what Xero's 30-minute refresh
            # grace exists for. Run the grant, swallow its response, then drop the socket.
            async def swallow(message: Message) -> None:
                return None

            await app(scope, receive, swallow)
            await drop_connection(scope)


def _edge_answer(fault: Fault, headers: dict[str, str]) -> Response:
    """An answer from Xero's front end, not the API: an HTML page, plain text or nothing."""
    body, content_type = fault_page(fault.kind, fault.status)
    return Response(body, fault.status, headers=headers, media_type=content_type)


def _truncating(send: Send) -> Send:
    """Buffer the real answer, then send it as a 200 whose JSON stops two thirds of the way."""
    start: list[Message] = []
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.append(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = truncate(b"".join(chunks))
        headers = [(k, v) for k, v in start[0].get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start[0], "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


class SandboxApp(Starlette):
    """A Starlette app whose Accounting and token paths pass through the gateway first."""

    gateway: _Gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope[RAW_SEND] = send
        path, started = scope["path"], time.perf_counter()
        status: list[int] = []

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        inner = super().__call__
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            await self.gateway.accounting(scope, receive, observe, inner)
        elif path == "/connect/token":
            await self.gateway.token(scope, receive, observe, inner)
        else:
            await inner(scope, receive, observe)
        # Method and path only: query strings and bodies may carry codes or tokens.
        log.info("%s %s %s %.0fms", scope["method"], path, status[0] if status else "dropped",
                 (time.perf_counter() - started) * 1000)


def create_sandbox_app(config: SandboxConfig, ledger: Any) -> Starlette:
    """The whole local Xero for one ledger: identity, consent, Accounting API, control, webhooks."""
    from bot.sandbox.accounting import accounting_routes

    client = ClientRegistration(config.client_id, config.client_secret, config.redirect_uris)
    store = IdentityStore(ledger, client, config.clock,
                          refresh_grace_seconds=config.refresh_grace_seconds)
    stats, faults = SandboxStats(), FaultPlan()
    limiter = RateLimiter(LimitSettings(config.limits, config.limits_scale,
                                        config.minute_window_seconds, config.day_window_seconds),
                          config.clock)
    dispatcher = None
    if config.webhook_url and config.webhook_key:
        dispatcher = WebhookDispatcher(
            WebhookSettings(config.webhook_url, config.webhook_key, config.webhook_retry_delays),
            stats=stats, api_base=config.public_url or "http://127.0.0.1")
        ledger.subscribe(dispatcher.listener)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if dispatcher:
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher:
                await asyncio.to_thread(dispatcher.stop)

    routes = [
        *consent_routes(store, auto_approve=config.auto_approve, require_pkce=config.require_pkce),
        *identity_routes(store, stats, config.public_url),
        *control_routes(store=store, ledger=ledger, stats=stats, faults=faults,
                        on_handshake=dispatcher.request_handshake if dispatcher else None),
        Mount(API_PREFIX, routes=accounting_routes(ledger, max_page_size=config.max_page_size)),
    ]
    app = SandboxApp(routes=routes, lifespan=lifespan)
    app.gateway = _Gateway(store, limiter, stats, faults)
    app.state.config, app.state.ledger, app.state.identity = config, ledger, store
    app.state.stats, app.state.faults, app.state.limiter = stats, faults, limiter
    app.state.webhooks = dispatcher
    return app


def _uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    # h11 keeps the dropped-connection fault exact; our own access log never shows queries.
    return uvicorn.Config(app, http="h11", lifespan="on", access_log=False, log_level="warning",
                          proxy_headers=False, timeout_graceful_shutdown=2)


class SandboxServer:
    """The sandbox on 127.0.0.1 in a background thread: for tests, the demo and the CLI."""

    def __init__(self, config: SandboxConfig | None = None, ledger: Any = None, *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this. asyncio sets it only on sockets made with
        # proto=IPPROTO_TCP, not this one (proto 0): without it each answer on a kept-alive
        # connection waited ~40 ms for the client's delayed ACK (Nagle's algorithm).
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._socket.bind((host, port))
        except (OSError, OverflowError) as exc:
            self._socket.close()
            error = exc if isinstance(exc, OSError) else OSError(errno.EINVAL, str(exc))
            raise PortUnavailable(host, port, error) from exc
        self._socket.listen(128)  # early callers queue until uvicorn's loop is up
        self.port = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = config or SandboxConfig()
        self.config = replace(config, public_url=config.public_url or self.url)
        if ledger is None:
            from bot.sandbox.ledger import build_ledger

            ledger = build_ledger(orgs=2, contacts=10, invoices=40)
        self.ledger = ledger
        self.app = create_sandbox_app(self.config, ledger)
        self._server = uvicorn.Server(_uvicorn_config(self.app))
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> SandboxStats:
        return self.app.state.stats

    @property
    def identity(self) -> IdentityStore:
        return self.app.state.identity

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns once the port accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut down uvicorn (and the webhook worker) and release the port."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(config: SandboxConfig, ledger: Any, *, host: str = "127.0.0.1", port: int = 5050,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until Ctrl-C, then return quietly (no traceback)."""
    sandbox = SandboxServer(config, ledger, host=host, port=port)
    if on_ready:
        on_ready(sandbox.url)
    server = sandbox._server
    try:
        # uvicorn handles SIGINT itself, shuts down gracefully, then re-raises the signal.
        server.run(sockets=[sandbox._socket])
    except KeyboardInterrupt:
        pass
    finally:
        sandbox._socket.close()
