"""Xero's rate limits (per-tenant minute/day/concurrent, app-wide minute) and the call counters."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

# Xero's published numbers (https://developer.xero.com/faq/limits): 60/minute, 5,000/day and
# 5 concurrent per tenant, 10,000/minute across the app. "Can I get my rate limits increased? No."
PER_MINUTE = 60
PER_DAY = 5_000
CONCURRENT = 5
APP_PER_MINUTE = 10_000

_ID_SEGMENT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class LimitSettings:
    """How strictly the sandbox counts; `scale` shrinks the volume limits for fast tests."""

    enabled: bool = True
    scale: float = 1.0
    minute_window_seconds: float = 60.0
    day_window_seconds: float = 86_400.0

    def scaled(self, limit: int) -> int:
        return max(1, math.floor(limit * self.scale))

    @property
    def per_minute(self) -> int:
        return self.scaled(PER_MINUTE)

    @property
    def per_day(self) -> int:
        return self.scaled(PER_DAY)

    @property
    def app_per_minute(self) -> int:
        return self.scaled(APP_PER_MINUTE)

    @property
    def concurrent(self) -> int:
        # Concurrency is about parallelism, not volume, so scaling leaves it at Xero's 5.
        return CONCURRENT


class _FixedWindow:
    """A counter that resets `length` seconds after the first call of each window."""

    def __init__(self, length: float) -> None:
        self.length = length
        self.started: float | None = None
        self.used = 0

    def roll(self, now: float) -> None:
        # Xero: "Requests are counted against a fixed window which will reset at different times
        # for each tenant" — so each window opens with its first call, not on the clock minute.
        if self.started is None or now >= self.started + self.length:
            self.started, self.used = now, 0

    def seconds_left(self, now: float) -> int:
        if self.started is None:
            return 0
        return max(1, math.ceil(self.started + self.length - now))


@dataclass
class Admission:
    """The limiter's answer for one call: allowed or refused, and the headers to send either way."""

    allowed: bool
    headers: dict[str, str]
    problem: str | None = None
    retry_after: int | None = None


@dataclass
class _Tenant:
    minute: _FixedWindow
    day: _FixedWindow
    in_flight: int = 0


class RateLimiter:
    """Admits or refuses Accounting calls exactly as Xero's fixed windows would."""

    def __init__(self, settings: LimitSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._tenants: dict[str, _Tenant] = {}
        self._app_minute = _FixedWindow(settings.minute_window_seconds)

    def _tenant(self, tenant_id: str) -> _Tenant:
        if tenant_id not in self._tenants:
            self._tenants[tenant_id] = _Tenant(
                _FixedWindow(self.settings.minute_window_seconds),
                _FixedWindow(self.settings.day_window_seconds),
            )
        return self._tenants[tenant_id]

    def acquire(self, tenant_id: str) -> Admission:
        """Count one call for the tenant, or refuse it; call `release` after an allowed call."""
        s = self.settings
        with self._lock:
            now = self._clock()
            tenant = self._tenant(tenant_id)
            for window in (tenant.minute, tenant.day, self._app_minute):
                window.roll(now)
            problem, wait = None, None
            if s.enabled:
                if tenant.day.used >= s.per_day:
                    problem, wait = "day", tenant.day.seconds_left(now)
                elif tenant.minute.used >= s.per_minute:
                    problem, wait = "minute", tenant.minute.seconds_left(now)
                elif self._app_minute.used >= s.app_per_minute:
                    problem, wait = "appminute", self._app_minute.seconds_left(now)
                elif tenant.in_flight >= s.concurrent:
                    # Xero documents Retry-After for minute/day breaches only; a second is an
                    # honest hint for a concurrency breach and harmless to clients that ignore it.
                    problem, wait = "concurrent", 1
            if problem is None:
                tenant.minute.used += 1
                tenant.day.used += 1
                self._app_minute.used += 1
                tenant.in_flight += 1
            headers = {
                "X-DayLimit-Remaining": str(max(0, s.per_day - tenant.day.used)),
                "X-MinLimit-Remaining": str(max(0, s.per_minute - tenant.minute.used)),
                "X-AppMinLimit-Remaining": str(max(0, s.app_per_minute - self._app_minute.used)),
            }
        if problem is None:
            return Admission(True, headers)
        headers |= {"Retry-After": str(wait), "X-Rate-Limit-Problem": problem}
        return Admission(False, headers, problem, wait)

    def release(self, tenant_id: str) -> None:
        """End an allowed call, freeing its concurrency slot."""
        with self._lock:
            tenant = self._tenant(tenant_id)
            tenant.in_flight = max(0, tenant.in_flight - 1)


def endpoint_name(method: str, path: str) -> str:
    """`GET /Invoices/{id}` for `GET /api.xro/2.0/Invoices/<uuid>`: the key stats count under."""
    path = path.removeprefix("/api.xro/2.0")
    parts = ["{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/")]
    return f"{method.upper()} {'/'.join(parts) or '/'}"


@dataclass
class SandboxStats:
    """Thread-safe counters behind `GET /_sandbox/stats`."""

    calls: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    rate_limited: Counter[str] = field(default_factory=Counter)
    token_exchanges: int = 0
    refreshes: int = 0
    refresh_failures: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    webhook: dict[str, object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_call(self, tenant_id: str, method: str, path: str) -> None:
        with self._lock:
            self.calls[tenant_id][endpoint_name(method, path)] += 1

    def bump(self, name: str, key: str | None = None) -> None:
        """Add one to a scalar counter, or to `key` of a Counter attribute."""
        with self._lock:
            if key is None:
                setattr(self, name, getattr(self, name) + 1)
            else:
                getattr(self, name)[key] += 1

    def set_webhook(self, **values: object) -> None:
        with self._lock:
            self.webhook.update(values)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            calls = {tenant: dict(counts) for tenant, counts in self.calls.items()}
            return {
                "calls": calls,
                "calls_total": sum(sum(counts.values()) for counts in calls.values()),
                "rate_limited": sum(self.rate_limited.values()),
                "rate_limited_by_problem": dict(self.rate_limited),
                "token_exchanges": self.token_exchanges,
                "refreshes": self.refreshes,
                "refresh_failures": self.refresh_failures,
                "faults_injected": dict(self.faults_injected),
                "webhook": dict(self.webhook),
            }

    def reset(self) -> None:
        """Zero the counters; the webhook status describes state, so it survives."""
        with self._lock:
            self.calls.clear()
            self.rate_limited.clear()
            self.faults_injected.clear()
            self.token_exchanges = self.refreshes = self.refresh_failures = 0
