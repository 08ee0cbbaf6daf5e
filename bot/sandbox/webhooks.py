"""Xero-style webhooks: intent-to-receive handshake, then signed, batched, retried deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import random
import secrets
import string
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.sandbox.limits import SandboxStats

log = logging.getLogger("chaser.sandbox.webhooks")
_RESOURCES = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}
_HANDSHAKE = object()
_STOP = object()


def sign(body: bytes, key: str) -> str:
    """`x-xero-signature`: base64(HMAC-SHA256(raw body, signing key))."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def event_date(moment: datetime) -> str:
    """Webhook eventDateUtc as Xero writes it: 2024-06-21T01:15:39.902 (UTC, milliseconds)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


def _body(events: list[dict[str, Any]], first: int, last: int) -> bytes:
    payload = {"events": events, "firstEventSequence": first, "lastEventSequence": last,
               "entropy": _entropy()}
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    key: str
    retry_delays: Sequence[float] = (1.0, 5.0, 30.0)
    handshake_rounds: int = 4
    batch_seconds: float = 0.1
    timeout: float = 5.0  # Xero: the receiver must answer "within 5 seconds"


class WebhookDispatcher:
    """Turns ledger ChangeEvents into webhook deliveries on a background thread."""

    def __init__(self, settings: WebhookSettings, *, stats: SandboxStats, api_base: str) -> None:
        self.settings = settings
        self._stats = stats
        self._api_base = api_base.rstrip("/")
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._enabled = False
        self._sequence = 0
        self._counts = {"delivered": 0, "failed": 0, "attempts": 0, "dropped": 0}
        stats.set_webhook(url=settings.url, status="pending", **self._counts)

    # Lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker; its first job is the intent-to-receive handshake."""
        if self._thread is None:
            self._queue.put(_HANDSHAKE)
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def request_handshake(self) -> None:
        """Re-run the handshake, as Xero does when a webhook is re-enabled."""
        self._stats.set_webhook(status="pending")
        self._queue.put(_HANDSHAKE)

    def listener(self, change: Any) -> None:
        """Ledger subscriber: never blocks the mutation that produced the change."""
        self._queue.put(change)

    # Worker ----------------------------------------------------------------------------------

    def _run(self) -> None:
        with httpx.Client(timeout=self.settings.timeout) as http:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if item is _HANDSHAKE:
                    self._handshake(http)
                    continue
                batch, control = [item], None
                # Xero batches events that happen together into one payload.
                while control is None:
                    try:
                        more = self._queue.get(timeout=self.settings.batch_seconds)
                    except queue.Empty:
                        break
                    if more is _STOP or more is _HANDSHAKE:
                        control = more
                    else:
                        batch.append(more)
                self._deliver(http, batch)
                if control is _STOP:
                    return
                if control is _HANDSHAKE:
                    self._handshake(http)

    def _post(self, http: httpx.Client, body: bytes, signature: str) -> int | str:
        try:
            response = http.post(self.settings.url, content=body, headers={
                "Content-Type": "application/json", "x-xero-signature": signature})
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return response.status_code

    def _handshake(self, http: httpx.Client) -> None:
        """Intent to receive: empty payloads, some signed right (expect 200), some wrong (401)."""
        rounds = max(2, self.settings.handshake_rounds)
        plan = [True, False] + [random.random() < 0.5 for _ in range(rounds - 2)]
        random.shuffle(plan)
        results = []
        for correct in plan:
            body = json.dumps({"events": [], "lastEventSequence": 0, "firstEventSequence": 0,
                               "entropy": _entropy()}, separators=(",", ":")).encode()
            key = self.settings.key if correct else secrets.token_urlsafe(32)
            got = self._post(http, body, sign(body, key))
            results.append({"signed": correct, "expected": 200 if correct else 401, "got": got})
        self._enabled = all(r["got"] == r["expected"] for r in results)
        status = "ok" if self._enabled else "failed"
        log.info("webhook intent-to-receive %s for %s", status, self.settings.url)
        self._stats.set_webhook(status=status, handshake=results)

    def _event(self, change: Any) -> dict[str, Any]:
        category = str(change.category).upper()
        resource = _RESOURCES.get(category, category.title() + "s")
        return {"resourceUrl": f"{self._api_base}/api.xro/2.0/{resource}/{change.resource_id}",
                "resourceId": str(change.resource_id), "eventDateUtc": event_date(change.at),
                "eventType": str(change.event_type).upper(), "eventCategory": category,
                "tenantId": str(change.tenant_id), "tenantType": "ORGANISATION"}

    def _deliver(self, http: httpx.Client, batch: list[Any]) -> None:
        if not self._enabled:
            # Xero sends nothing to a webhook that has not passed intent-to-receive.
            self._count(dropped=len(batch))
            return
        first = self._sequence + 1
        self._sequence += len(batch)
        body = _body([self._event(change) for change in batch], first, self._sequence)
        signature = sign(body, self.settings.key)
        delays = [0.0, *self.settings.retry_delays]
        for attempt, delay in enumerate(delays):
            if delay and self._wait(delay):
                break  # stopping: give up the retries
            self._count(attempts=1)
            got = self._post(http, body, signature)
            if got == 200:
                self._count(delivered=len(batch))
                return
            log.warning("webhook delivery attempt %d got %s", attempt + 1, got)
            self._stats.set_webhook(last_error=str(got))
        self._count(failed=len(batch))

    def _wait(self, seconds: float) -> bool:
        """Sleep between retries; True when the dispatcher is stopping."""
        return self._stopping.wait(seconds)

    def _count(self, **increments: int) -> None:
        for name, value in increments.items():
            self._counts[name] += value
        self._stats.set_webhook(**self._counts)
