"""A sandbox Xero whose webhooks reach our real /xero/webhooks route, on a migrated database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.chasing.ports import AlertPoster, RecordingNotifier
from bot.chasing.webhooks import ProcessReport, WebhookInbox, WebhookWorker
from bot.cli.demo import connect_unattended
from bot.config import load_settings
from bot.deps import AppDeps, build_context, build_webhooks
from bot.sandbox.ledger import Ledger, build_ledger
from bot.sandbox.server import SandboxConfig, SandboxServer
from bot.web import WEBHOOKS_PATH, create_web_app
from storage import repositories
from storage.db import session_scope
from tests.fakes.servers import BackgroundServer

WEBHOOK_KEY = "test-webhook-signing-key-0123456789abcdef"


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "it") -> Any:
    """Poll until `condition()` is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@dataclass
class WebhookWorld:
    """The sandbox, our served web app with its webhook worker, and the connected orgs."""

    sandbox: SandboxServer
    ledger: Ledger
    ctx: AppDeps
    bot_url: str
    inbox: WebhookInbox
    worker: WebhookWorker
    connection_ids: list[int]
    reports: list[ProcessReport] = field(default_factory=list)

    @property
    def connection_id(self) -> int:
        return self.connection_ids[0]

    def tenant_id(self, connection_id: int | None = None) -> str:
        with session_scope(self.ctx.session_factory) as session:
            connection = repositories.get_connection(session, connection_id or self.connection_id)
            assert connection is not None
            return connection.tenant_id

    def control(self, method: str, path: str, **body: object) -> Any:
        response = httpx.request(method, f"{self.sandbox.url}/_sandbox{path}",
                                 json=body or None, timeout=30)
        response.raise_for_status()
        return response.json()

    def webhook_status(self) -> dict:
        return self.control("GET", "/stats")["webhook"]

    def processed_events(self) -> int:
        return sum(report.events for report in self.reports)


@contextmanager
def webhook_world(
    database_url: str,
    data_dir: Path,
    *,
    orgs: int = 1,
    contacts: int = 8,
    invoices: int = 40,
    poster: AlertPoster | None = None,
    refresh_digest: Callable[[int], object] | None = None,
    ledger: Ledger | None = None,
    configure: Callable[[AppDeps, list[int]], None] | None = None,
    settings: dict[str, object] | None = None,
) -> Iterator[WebhookWorld]:
    """Everything running, synced once, the intent-to-receive handshake passed.

    `configure(ctx, connection_ids)` runs after the first sync, before webhooks flow;
    `settings` adds environment variables (e.g. Slack's) by name.
    """
    book = ledger or build_ledger(seed=5, orgs=orgs, contacts=contacts, invoices=invoices)
    holder: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)  # the real app, once it is built

    web = BackgroundServer(app, name="chaser-web")  # bound now: its URL goes to the sandbox
    bot_base = web.url
    sandbox = SandboxServer(
        SandboxConfig(auto_approve=True, limits=False, webhook_url=bot_base + WEBHOOKS_PATH,
                      webhook_key=WEBHOOK_KEY, webhook_retry_delays=(0.2, 0.5)),
        book,
    ).start()
    worker: WebhookWorker | None = None
    try:
        settings = load_settings(
            XERO_BASE_URL=sandbox.url,
            XERO_CLIENT_ID="chaser-sandbox",
            XERO_CLIENT_SECRET="chaser-sandbox-secret",
            XERO_WEBHOOK_KEY=WEBHOOK_KEY,
            CHASER_DATA_DIR=str(data_dir),
            LOG_LEVEL="WARNING",
            **(settings or {}),
        )
        ctx = build_context(settings, database_url=database_url, notifier=RecordingNotifier())
        result = connect_unattended(ctx)
        ids = sorted(item.connection_id for item in result.connected)
        assert ids, result
        for connection_id in ids:
            report = ctx.sync_service().sync(connection_id)
            assert report.outcome == "ok", report
        if configure is not None:
            configure(ctx, ids)
        reports: list[ProcessReport] = []
        inbox, worker = build_webhooks(ctx, poster=poster, refresh_digest=refresh_digest,
                                       on_processed=reports.append)
        worker.start()
        holder["app"] = create_web_app(ctx, webhooks=inbox)
        web.start()
        world = WebhookWorld(sandbox, book, ctx, bot_base, inbox, worker, ids, reports)
        # The sandbox's first handshake may have run before we served: ask for another.
        if world.webhook_status()["status"] != "ok":
            world.control("POST", "/webhooks/handshake")
        wait_for(lambda: world.webhook_status()["status"] == "ok", what="the handshake")
        yield world
    finally:
        web.stop()
        if worker is not None:
            worker.stop()
        sandbox.stop()
