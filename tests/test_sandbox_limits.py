"""The sandbox enforces Xero's rate limits with Xero's headers, fast enough to test."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bot.sandbox.limits import LimitSettings, RateLimiter
from tests.fixtures.sandbox import FakeClock, api, obtain_tokens, tenant_ids, web

LIMIT_HEADERS = ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining")


def test_every_accounting_response_carries_the_remaining_limit_headers(make_sandbox):
    sandbox = make_sandbox(limits=True)
    tokens = obtain_tokens(sandbox)
    tenant = tenant_ids(sandbox)[0]
    first = api(sandbox, tokens, "Invoices", tenant_id=tenant)
    second = api(sandbox, tokens, "Contacts", tenant_id=tenant)
    assert [first.headers[h] for h in LIMIT_HEADERS] == ["59", "4999", "9999"]
    assert [second.headers[h] for h in LIMIT_HEADERS] == ["58", "4998", "9998"]


def test_headers_are_sent_even_when_limits_are_relaxed(sandbox):
    tokens = obtain_tokens(sandbox)
    response = api(sandbox, tokens, "Organisation", tenant_id=tenant_ids(sandbox)[0])
    assert all(h in response.headers for h in LIMIT_HEADERS)


def test_minute_limit_answers_429_with_retry_after_and_problem_then_reopens(make_sandbox):
    clock = FakeClock()
    sandbox = make_sandbox(limits=True, limits_scale=0.1, clock=clock)  # 6 calls a minute
    tokens = obtain_tokens(sandbox)
    tenant, other = tenant_ids(sandbox)
    for _ in range(6):
        assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 200
    clock.advance(20)
    refused = api(sandbox, tokens, "Invoices", tenant_id=tenant)
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert refused.headers["Retry-After"] == "40"
    assert refused.headers["X-MinLimit-Remaining"] == "0"
    # Limits are per tenant: the other organisation is unaffected.
    assert api(sandbox, tokens, "Invoices", tenant_id=other).status_code == 200
    clock.advance(40)
    assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 200


def test_a_short_minute_window_reopens_in_real_time(make_sandbox):
    sandbox = make_sandbox(limits=True, limits_scale=0.05, minute_window_seconds=0.3)
    tokens = obtain_tokens(sandbox)
    tenant = tenant_ids(sandbox)[0]
    statuses = [api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    time.sleep(0.35)
    assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 200


def test_day_limit_answers_429_day_with_seconds_until_the_window_resets(make_sandbox):
    clock = FakeClock()
    sandbox = make_sandbox(limits=True, limits_scale=0.001, clock=clock)  # 1/minute, 5/day
    tokens = obtain_tokens(sandbox)
    tenant = tenant_ids(sandbox)[0]
    for _ in range(5):
        assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 200
        clock.advance(61)
    refused = api(sandbox, tokens, "Invoices", tenant_id=tenant)
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "day"
    assert refused.headers["Retry-After"] == str(86_400 - 5 * 61)
    assert refused.headers["X-DayLimit-Remaining"] == "0"


def test_app_minute_limit_spans_all_tenants():
    clock = FakeClock()
    limiter = RateLimiter(LimitSettings(scale=0.001), clock)  # 1/minute per tenant, 10 app-wide
    for n in range(10):
        admission = limiter.acquire(f"tenant-{n}")
        assert admission.allowed
        limiter.release(f"tenant-{n}")
    refused = limiter.acquire("tenant-10")
    assert (refused.allowed, refused.problem) == (False, "appminute")
    assert refused.headers["X-AppMinLimit-Remaining"] == "0"
    assert refused.headers["Retry-After"] == "60"


def test_sixth_concurrent_call_gets_429_concurrent(make_sandbox):
    sandbox = make_sandbox(limits=True)
    tokens = obtain_tokens(sandbox)
    tenant = tenant_ids(sandbox)[0]
    web.post(f"{sandbox.url}/_sandbox/faults",
               json={"kind": "delay", "delay_ms": 600, "count": 6})

    def call(_: int) -> httpx.Response:
        return api(sandbox, tokens, "Organisation", tenant_id=tenant, timeout=10)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(call, range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 200, 200, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert int(refused.headers["Retry-After"]) >= 1


def test_refused_calls_are_counted_in_stats_but_not_against_the_limits(make_sandbox):
    sandbox = make_sandbox(limits=True, limits_scale=0.05)  # 3 a minute
    tokens = obtain_tokens(sandbox)
    tenant = tenant_ids(sandbox)[0]
    statuses = [api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    stats = web.get(f"{sandbox.url}/_sandbox/stats").json()
    assert stats["rate_limited"] == 2 and stats["rate_limited_by_problem"] == {"minute": 2}
    assert stats["calls"][tenant] == {"GET /Invoices": 3}


@pytest.mark.parametrize(("scale", "minute", "day", "app"), [
    (1.0, 60, 5000, 10_000), (0.1, 6, 500, 1000), (0.0001, 1, 1, 1),
])
def test_scaling_shrinks_the_volume_limits_but_never_below_one(scale, minute, day, app):
    settings = LimitSettings(scale=scale)
    assert (settings.per_minute, settings.per_day, settings.app_per_minute) == (minute, day, app)
    assert settings.concurrent == 5


def test_auth_failures_are_answered_before_rate_limiting_and_use_none_of_the_budget(make_sandbox):
    sandbox = make_sandbox(limits=True)
    tokens = obtain_tokens(sandbox)
    tenant = tenant_ids(sandbox)[0]
    unauthorised = api(sandbox, "garbage", "Invoices", tenant_id=tenant)
    forbidden = api(sandbox, tokens, "Invoices", tenant_id="00000000-0000-0000-0000-000000000000")
    assert (unauthorised.status_code, forbidden.status_code) == (401, 403)
    for refused in (unauthorised, forbidden):
        assert not any(h in refused.headers for h in LIMIT_HEADERS)
    first = api(sandbox, tokens, "Invoices", tenant_id=tenant)
    assert [first.headers[h] for h in LIMIT_HEADERS] == ["59", "4999", "9999"]
