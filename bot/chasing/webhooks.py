"""Xero webhooks: check and record a delivery fast, then fetch, alert and refresh after answering.

Xero wants an answer "within 5 seconds" or it retries (developer.xero.com/documentation/
webhooks/configuring-your-server), so the request only checks the signature and records the
events (their unique key makes a redelivery a no-op); a worker thread does the Xero and Slack
work afterwards. Recording before answering means a crash after the 200 loses nothing: a
worker picks up events left unprocessed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from bot.xero.webhooks import (
    CONTACT,
    INVOICE,
    WebhookPayloadError,
    decode_delivery,
    signature_valid,
)
from storage import webhooks as store
from storage.db import session_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.chasing.record_fetch import FetchedRecords

log = logging.getLogger(__name__)

# An event still unprocessed this long after it arrived belongs to a process that stopped.
STALE_AFTER = timedelta(minutes=2)
SWEEP_EVERY_SECONDS = 60.0


class Receipt(Enum):
    """How the route answers a delivery: Xero wants 200 (empty body) or 401, nothing else."""

    ACCEPTED = 200
    REJECTED = 401


class Fetcher(Protocol):
    def fetch(
        self, connection_id: int, *, invoice_ids: Sequence[str], contact_ids: Sequence[str]
    ) -> FetchedRecords: ...


class WebhookInbox:
    """The synchronous half: signature, payload, and one row per new event."""

    def __init__(
        self,
        *,
        key: str,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        on_recorded: Callable[[list[int]], None] | None = None,
    ) -> None:
        self._key = key
        self._factory = session_factory
        self._clock = clock
        self._on_recorded = on_recorded

    def receive(self, body: bytes, signature: str | None) -> Receipt:
        """Check and record one delivery; the intent-to-receive handshake is just an empty one."""
        if not signature_valid(body, signature, self._key):
            return Receipt.REJECTED
        try:
            delivery = decode_delivery(body)
        except WebhookPayloadError as exc:
            # Signed by Xero but not understood: answering 401 or 5xx would only make Xero
            # retry the same bytes for 24 hours and then disable the webhook.
            log.warning("ignored a signed webhook delivery that is not Xero's shape: %s", exc)
            return Receipt.ACCEPTED
        # Xero's resourceId and tenantId are GUIDs (xero-webhooks.yaml: format uuid). One that
        # is not would make Xero refuse the whole `IDs` fetch it joins, and strand the rest.
        events = [event for event in delivery.events if event.ids_are_guids]
        if len(events) < len(delivery.events):
            log.warning("ignored %d signed webhook event(s) whose resourceId or tenantId is not "
                        "a GUID", len(delivery.events) - len(events))
        rows = [
            {
                "event_key": event.key,
                "tenant_id": event.tenant_id.lower(),
                "event_category": event.event_category.upper()[:32],
                "event_type": event.event_type.upper()[:32],
                "resource_id": event.resource_id.lower(),
                "event_date_utc": event.occurred_at,
            }
            for event in events
        ]
        if not rows:
            return Receipt.ACCEPTED
        with session_scope(self._factory) as session:
            new_ids = store.record_webhook_events(session, rows, now=self._clock())
        if new_ids and self._on_recorded is not None:
            self._on_recorded(new_ids)
        return Receipt.ACCEPTED


@dataclass
class ProcessReport:
    """What one round of processing did, per connection."""

    events: int = 0
    fetched: list[FetchedRecords] = field(default_factory=list)
    alerts: int = 0
    refreshed: list[int] = field(default_factory=list)


class WebhookProcessor:
    """The asynchronous half: targeted fetch per organisation, then alerts and the digest."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        fetcher: Fetcher,
        after_fetch: Callable[[int, Sequence[Any]], int] | None = None,
        refresh_digest: Callable[[int], object] | None = None,
    ) -> None:
        self._factory = session_factory
        self._clock = clock
        self._fetcher = fetcher
        self._after_fetch = after_fetch
        self._refresh_digest = refresh_digest

    def process(self, event_ids: Sequence[int]) -> ProcessReport:
        """Process these events (those still unprocessed), all organisations, one fetch each."""
        report = ProcessReport()
        with session_scope(self._factory) as session:
            events = store.webhook_events(session, list(event_ids))
            targets = store.connected_ids_by_tenant(session, (e.tenant_id for e in events))
            plan = [(e.id, e.tenant_id, e.event_category, e.resource_id) for e in events]
        report.events = len(plan)
        if not plan:
            return report
        finished: dict[str | None, list[int]] = {
            "no connected organisation for this tenant": [
                event_id for event_id, tenant, _, _ in plan if tenant not in targets
            ]
        }
        for tenant_id, connection_ids in targets.items():
            mine = [p for p in plan if p[1] == tenant_id]
            invoice_ids = [p[3] for p in mine if p[2] == INVOICE]
            contact_ids = [p[3] for p in mine if p[2] == CONTACT]
            outcomes = [self._one(report, connection_id, invoice_ids, contact_ids)
                        for connection_id in connection_ids]
            if any(fetched is not None and fetched.retry_later for fetched in outcomes):
                continue  # a rate limit or outage: left for the sweep to try again
            errors = [f.reason for f in outcomes if f is not None and f.outcome != "ok"]
            finished.setdefault("; ".join(e or "failed" for e in errors) or None, []).extend(
                p[0] for p in mine
            )
        with session_scope(self._factory) as session:
            for error, ids in finished.items():
                store.finish_webhook_events(session, ids, now=self._clock(), error=error)
        return report

    def _one(
        self,
        report: ProcessReport,
        connection_id: int,
        invoice_ids: list[str],
        contact_ids: list[str],
    ) -> FetchedRecords | None:
        """One connection's fetch and follow-ups (None when there was nothing to fetch)."""
        if not invoice_ids and not contact_ids:
            return None  # only categories we leave to the next sync (credit notes…)
        fetched = self._fetcher.fetch(
            connection_id, invoice_ids=invoice_ids, contact_ids=contact_ids
        )
        report.fetched.append(fetched)
        if fetched.outcome != "ok":
            return fetched
        # Each follow-up is on its own: a Slack outage must not stop the other, nor mark the
        # fetch as failed (the records are stored; the next sync or digest shows them).
        if self._after_fetch is not None:
            try:
                report.alerts += self._after_fetch(connection_id, fetched.invoices)
            except Exception:
                log.exception("alerts after a webhook failed for connection %s", connection_id)
        if self._refresh_digest is not None and (fetched.invoices or fetched.contacts):
            try:
                self._refresh_digest(connection_id)
                report.refreshed.append(connection_id)
            except Exception:
                log.exception("digest refresh after a webhook failed for connection %s",
                              connection_id)
        return fetched

    def stale_event_ids(self) -> list[int]:
        """Events a stopped process left unprocessed."""
        with session_scope(self._factory) as session:
            return store.stale_webhook_event_ids(
                session, received_before=self._clock() - STALE_AFTER
            )


_STOP = object()


class WebhookWorker:
    """One background thread that processes recorded events as they arrive, then sweeps.

    Events that arrive while a round runs are merged into the next round, so a burst of
    changes costs one fetch per organisation, not one per event.
    """

    def __init__(
        self,
        processor: WebhookProcessor,
        *,
        sweep_every: float = SWEEP_EVERY_SECONDS,
        on_processed: Callable[[ProcessReport], None] | None = None,
    ) -> None:
        self._processor = processor
        self._sweep_every = sweep_every
        self._on_processed = on_processed
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None

    def submit(self, event_ids: Iterable[int]) -> None:
        """Queue newly recorded events (the inbox's on_recorded)."""
        self._queue.put(list(event_ids))

    def start(self) -> WebhookWorker:
        if self._thread is None:
            self._queue.put(None)  # a first sweep picks up what a stopped process left
            self._thread = threading.Thread(target=self._run, name="xero-webhooks", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the events already queued, then stop (SIGTERM drains in-flight work)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._sweep_every)
            except queue.Empty:
                item = None
            ids: list[int] = []
            stopping = item is _STOP
            sweep = item is None
            if isinstance(item, list):
                ids += item
            while not stopping:  # merge everything already waiting into this round
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                elif more is None:
                    sweep = True
                else:
                    ids += more  # type: ignore[arg-type]
            try:
                if sweep:
                    ids += self._processor.stale_event_ids()
                if ids:
                    report = self._processor.process(sorted(set(ids)))
                    if self._on_processed is not None:
                        self._on_processed(report)
            except Exception:  # the worker must outlive one bad round; the sweep retries it
                log.exception("processing Xero webhook events failed")
            if stopping:
                return
