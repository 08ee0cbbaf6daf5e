"""Job leases: exactly one claimant per occurrence, takeover only of crashed runs, on both DBs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from storage.db import make_engine, make_session_factory, session_scope
from storage.leases import claim_lease, finish_lease, get_lease, prune_leases, renew_lease

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)


def _claim(factory, owner: str, now: datetime = T0, key: str = "chase:1") -> bool:
    with session_scope(factory) as session:
        return claim_lease(session, key, "2026-03-02", owner=owner, now=now, ttl=TTL)


def test_concurrent_claims_of_one_occurrence_have_exactly_one_winner(migrated_db):
    claimants = 6
    engines = [make_engine(migrated_db) for _ in range(claimants)]
    barrier = threading.Barrier(claimants)
    results: dict[str, bool] = {}
    errors: list[BaseException] = []

    def claim(index: int) -> None:
        try:
            factory = make_session_factory(engines[index])
            barrier.wait()
            results[f"owner-{index}"] = _claim(factory, f"owner-{index}")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(claimants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()

    assert errors == []
    winners = [owner for owner, won in results.items() if won]
    assert len(results) == claimants
    assert len(winners) == 1


def test_an_expired_unfinished_lease_is_taken_over_by_one_claimant(session_factory):
    assert _claim(session_factory, "crashed")
    assert not _claim(session_factory, "early", now=T0 + TTL - timedelta(seconds=1))
    assert _claim(session_factory, "rescuer", now=T0 + TTL + timedelta(seconds=1))
    assert not _claim(session_factory, "late", now=T0 + TTL + timedelta(seconds=2))
    with session_scope(session_factory) as session:
        assert get_lease(session, "chase:1", "2026-03-02").owner == "rescuer"
        # The crashed holder can no longer finish or renew what it lost.
        assert not finish_lease(session, "chase:1", "2026-03-02", owner="crashed",
                                now=T0 + TTL, outcome="ok")
        assert not renew_lease(session, "chase:1", "2026-03-02", owner="crashed", now=T0 + TTL)


def test_a_finished_lease_is_never_taken_over(session_factory):
    assert _claim(session_factory, "first")
    with session_scope(session_factory) as session:
        assert finish_lease(session, "chase:1", "2026-03-02", owner="first",
                            now=T0 + timedelta(seconds=3), outcome="ok")
    assert not _claim(session_factory, "second", now=T0 + timedelta(days=1))


def test_renewing_keeps_a_slow_run_from_being_taken_over(session_factory):
    assert _claim(session_factory, "slow")
    with session_scope(session_factory) as session:
        assert renew_lease(session, "chase:1", "2026-03-02", owner="slow",
                           now=T0 + timedelta(minutes=4), ttl=TTL)
    assert not _claim(session_factory, "other", now=T0 + TTL + timedelta(seconds=1))


def test_other_occurrences_and_jobs_are_separate_leases(session_factory):
    assert _claim(session_factory, "a", key="chase:1")
    assert _claim(session_factory, "b", key="chase:2")
    assert _claim(session_factory, "c", key="digest:1")


def test_prune_deletes_only_old_finished_leases(session_factory):
    assert _claim(session_factory, "a", key="old")
    assert _claim(session_factory, "a", key="running")
    with session_scope(session_factory) as session:
        finish_lease(session, "old", "2026-03-02", owner="a", now=T0, outcome="ok")
        assert prune_leases(session, before=T0 + timedelta(days=1)) == 1
        assert get_lease(session, "old", "2026-03-02") is None
        assert get_lease(session, "running", "2026-03-02") is not None

