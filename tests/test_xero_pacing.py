"""The Pacer keeps a tenant under Xero's limits without real waiting (fake clock)."""

from __future__ import annotations

import threading

from bot.xero.pacing import Pacer, SlidingWindow, TenantPacers, shared_app_window


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def make_pacer(t: FakeTime, **kwargs) -> Pacer:
    app = SlidingWindow(kwargs.pop("app_limit", 9_500), clock=t.clock, sleep=t.sleep)
    return Pacer(clock=t.clock, sleep=t.sleep, app_window=app, **kwargs)


def test_sixty_one_calls_never_put_more_than_sixty_in_any_minute() -> None:
    t = FakeTime()
    pacer = make_pacer(t, per_minute=60)
    starts = []
    for _ in range(121):
        with pacer.slot():
            starts.append(t.now)
    for i, start in enumerate(starts):
        assert sum(1 for s in starts[i:] if s < start + 60) <= 60


def test_calls_under_the_limit_do_not_wait() -> None:
    t = FakeTime()
    pacer = make_pacer(t, per_minute=55)
    for _ in range(55):
        with pacer.slot():
            pass
    assert t.sleeps == [] and pacer.waited_seconds == 0


def test_the_default_tenant_limit_leaves_headroom_under_xeros_sixty() -> None:
    assert make_pacer(FakeTime()).minute.limit < 60


def test_the_app_window_is_shared_across_tenants() -> None:
    t = FakeTime()
    app = SlidingWindow(3, clock=t.clock, sleep=t.sleep)
    tenants = [Pacer(clock=t.clock, sleep=t.sleep, app_window=app) for _ in range(3)]
    for pacer in tenants:
        with pacer.slot():
            pass
    with tenants[0].slot():
        pass
    assert t.sleeps == [60.0]


def test_server_remaining_headers_shrink_our_allowance() -> None:
    t = FakeTime()
    pacer = make_pacer(t, per_minute=55)
    pacer.observe({"X-MinLimit-Remaining": "10"})
    assert pacer.minute.remaining() == 5  # 50 used per Xero, 5 kept in hand


def test_app_remaining_header_reconciles_the_shared_app_window() -> None:
    t = FakeTime()
    pacer = make_pacer(t)
    pacer.observe({"X-AppMinLimit-Remaining": "9000"})
    assert pacer.app.remaining() == 8_500


def test_day_limit_header_is_remembered_for_the_sync_layer() -> None:
    t = FakeTime()
    pacer = make_pacer(t, day_reserve=100)
    pacer.observe({"X-DayLimit-Remaining": "4990"})
    assert pacer.day_remaining == 4990 and not pacer.day_exhausted
    pacer.observe({"X-DayLimit-Remaining": "99"})
    assert pacer.day_exhausted


def test_garbage_limit_headers_are_ignored() -> None:
    pacer = make_pacer(FakeTime())
    pacer.observe({"X-MinLimit-Remaining": "lots", "X-DayLimit-Remaining": ""})
    assert pacer.day_remaining is None and pacer.minute.remaining() == pacer.minute.limit


def test_hold_stops_every_caller_until_retry_after_has_passed() -> None:
    t = FakeTime()
    pacer = make_pacer(t)
    pacer.hold(30)
    with pacer.slot():
        assert t.now >= 30


def test_no_more_than_five_calls_are_in_flight_at_once() -> None:
    pacer = Pacer(app_window=SlidingWindow(1000))
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def call() -> None:
        nonlocal in_flight, peak
        with pacer.slot():
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            release.wait(0.05)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 5



def test_every_client_of_one_tenant_draws_on_one_pacer_and_all_share_the_app_window():
    pacers = TenantPacers()
    first, again, other = (pacers.for_tenant(t) for t in ("tenant-a", "tenant-a", "tenant-b"))
    assert first is again
    assert other is not first
    assert other.app is first.app is shared_app_window()
