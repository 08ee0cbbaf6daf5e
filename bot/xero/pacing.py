"""Client-side pacing that keeps each tenant under Xero's minute, concurrency and app limits."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# Xero's published limits (developer.xero.com/faq/limits): per tenant 60 calls/minute and 5 in
# flight; per app 10,000 calls/minute across tenants. We aim a little under the minute limits
# because Xero counts in fixed windows that reset at times we cannot see.
TENANT_PER_MINUTE = 55
TENANT_CONCURRENT = 5
APP_PER_MINUTE = 9_500
WINDOW_SECONDS = 60.0


class SlidingWindow:
    """At most `limit` acquisitions in any `window` seconds; thread-safe.

    A sliding window is stricter than Xero's fixed window, so staying under it here means
    staying under it there whatever Xero's window boundaries are.
    """

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()

    def try_acquire(self) -> float:
        """Take a slot and return 0, or return how many seconds until one frees up."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            if len(self._stamps) < self.limit:
                self._stamps.append(now)
                return 0.0
            return max(self._stamps[0] + self.window - now, 0.001)

    def acquire(self) -> float:
        """Block (through the injected sleep) until a slot is free; return seconds waited."""
        waited = 0.0
        while (delay := self.try_acquire()) > 0:
            self._sleep(delay)
            waited += delay
        return waited

    def remaining(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return self.limit - len(self._stamps)

    def reconcile(self, server_remaining: int, server_limit: int) -> None:
        """Trust the server when it has counted more calls than we have (other processes).

        Calls we cannot see are recorded as made now; they age out a window later, which is
        conservative because Xero's own window resets no later than that.
        """
        with self._lock:
            now = self._clock()
            self._prune(now)
            # Our limit sits below the server's, so matching its used count keeps the headroom.
            missing = (server_limit - server_remaining) - len(self._stamps)
            for _ in range(max(0, missing)):
                self._stamps.append(now)


_app_window: SlidingWindow | None = None
_app_lock = threading.Lock()


def shared_app_window() -> SlidingWindow:
    """The process-wide window for Xero's per-app limit, shared by every tenant's Pacer."""
    with _app_lock:
        return _app_window_locked()


def _app_window_locked() -> SlidingWindow:
    global _app_window
    if _app_window is None:
        _app_window = SlidingWindow(APP_PER_MINUTE)
    return _app_window


class TenantPacers:
    """One Pacer per tenant, for everything one process (one AppDeps) sends to Xero.

    Xero counts limits per tenant, not per client object: a sync and a write-back for the same
    organisation must draw on one allowance, so every client for a tenant shares its Pacer.
    """

    def __init__(self) -> None:
        self._pacers: dict[str, Pacer] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant_id: str) -> Pacer:
        with self._lock:
            pacer = self._pacers.get(tenant_id)
            if pacer is None:
                pacer = self._pacers[tenant_id] = Pacer()
            return pacer


class Pacer:
    """One tenant's gate: a concurrency cap, its minute window and the shared app window."""

    def __init__(
        self,
        *,
        per_minute: int = TENANT_PER_MINUTE,
        concurrent: int = TENANT_CONCURRENT,
        app_window: SlidingWindow | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        day_reserve: int = 0,
    ) -> None:
        self.minute = SlidingWindow(per_minute, clock=clock, sleep=sleep)
        self.app = app_window if app_window is not None else shared_app_window()
        self.day_remaining: int | None = None
        self.day_reserve = day_reserve
        self.waited_seconds = 0.0
        self._slots = threading.BoundedSemaphore(concurrent)
        self._clock = clock
        self._sleep = sleep
        self._hold_until = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the tenant's concurrent slots and one call from each minute window."""
        with self._slots:
            self._wait_for_hold()
            waited = self.minute.acquire() + self.app.acquire()
            with self._lock:
                self.waited_seconds += waited
            yield

    def hold(self, seconds: float) -> None:
        """Let no call start for `seconds` (a 429's Retry-After applies to the whole tenant)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def _wait_for_hold(self) -> None:
        while True:
            with self._lock:
                delay = self._hold_until - self._clock()
            if delay <= 0:
                return
            self._sleep(delay)
            with self._lock:
                self.waited_seconds += delay

    def observe(self, headers: Mapping[str, str]) -> None:
        """Slow down from Xero's X-*Limit-Remaining headers when they know better than we do."""
        minute = _int_header(headers, "X-MinLimit-Remaining")
        if minute is not None:
            self.minute.reconcile(minute, 60)
        app = _int_header(headers, "X-AppMinLimit-Remaining")
        if app is not None:
            self.app.reconcile(app, 10_000)
        day = _int_header(headers, "X-DayLimit-Remaining")
        if day is not None:
            self.day_remaining = day

    @property
    def day_exhausted(self) -> bool:
        """True when the daily allowance (minus a reserve for people's actions) is used up."""
        return self.day_remaining is not None and self.day_remaining <= self.day_reserve


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
