"""The scheduler: jobs at each organisation's local times, leased runs, misfires and coalescing."""

from __future__ import annotations

import threading
import time as clock_time
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.chasing.scheduler import (
    ChaseScheduler,
    JobKind,
    JobSpec,
    OrganisationTimes,
    build_scheduler,
    job_specs,
    previous_fire_time,
)
from storage.db import make_engine, make_session_factory, session_scope
from storage.models import ConnectionStatus, JobLease
from storage.repositories import save_connection, set_connection_status
from storage.settings import update_organisation_settings

ALL_DAYS = "1,2,3,4,5,6,7"
DEADLINE_S = 30


def _times(**overrides) -> OrganisationTimes:
    values = dict(connection_id=7, zone="Pacific/Auckland", digest_enabled=True,
                  digest_time=time(9, 0), chase_time=time(10, 0), chase_days=(1, 2, 3, 4, 5))
    values.update(overrides)
    return OrganisationTimes(**values)


def _spec(specs: list[JobSpec], kind: JobKind) -> JobSpec:
    return next(spec for spec in specs if spec.kind is kind)


# Pure planning ---------------------------------------------------------------------------


def test_an_organisation_gets_sync_digest_forewarn_and_chase_jobs():
    specs = {spec.kind: spec for spec in job_specs(_times())}
    assert specs[JobKind.SYNC] == JobSpec(JobKind.SYNC, 7, "Pacific/Auckland", time(8, 30),
                                          (1, 2, 3, 4, 5, 6, 7))
    assert specs[JobKind.DIGEST].at == time(9, 0)
    assert specs[JobKind.DIGEST].days == (1, 2, 3, 4, 5)
    assert specs[JobKind.CHASE].at == time(10, 0)
    # The day before each chase day: Sunday (7) to Thursday (4).
    assert specs[JobKind.FOREWARN].days == (1, 2, 3, 4, 7)
    assert specs[JobKind.FOREWARN].at == time(10, 0)


def test_a_disabled_digest_or_no_chase_days_plans_fewer_jobs():
    assert JobKind.DIGEST not in {s.kind for s in job_specs(_times(digest_enabled=False))}
    assert {s.kind for s in job_specs(_times(chase_days=()))} == {JobKind.SYNC}


def test_the_sync_before_an_early_digest_runs_the_evening_before():
    sync = _spec(job_specs(_times(digest_time=time(0, 10))), JobKind.SYNC)
    assert sync.at == time(23, 40)


def test_the_chase_fires_at_the_organisations_local_time():
    chase = _spec(job_specs(_times()), JobKind.CHASE)
    # Friday 2026-03-06 12:00 UTC is already Saturday 01:00 in Auckland (NZDT, UTC+13):
    # the next chase is Monday 10:00 NZDT, Sunday 21:00 UTC.
    now = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    fire = chase.trigger().get_next_fire_time(None, now)
    assert fire.astimezone(UTC) == datetime(2026, 3, 8, 21, 0, tzinfo=UTC)
    assert chase.local_day(fire) == date(2026, 3, 9)


def test_the_local_time_holds_across_a_daylight_saving_change():
    chase = _spec(job_specs(_times(zone="Europe/London", chase_days=tuple(range(1, 8)))),
                  JobKind.CHASE)
    trigger = chase.trigger()
    # The UK clocks go forward on 2026-03-29: 10:00 GMT before, 10:00 BST (09:00 UTC) after.
    before = trigger.get_next_fire_time(None, datetime(2026, 3, 28, 0, 0, tzinfo=UTC))
    after = trigger.get_next_fire_time(None, datetime(2026, 3, 30, 0, 0, tzinfo=UTC))
    assert before.astimezone(UTC) == datetime(2026, 3, 28, 10, 0, tzinfo=UTC)
    assert after.astimezone(UTC) == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


def test_previous_fire_time_is_the_latest_firing_at_or_before_now():
    chase = _spec(job_specs(_times(zone="UTC")), JobKind.CHASE)
    trigger = chase.trigger()
    monday_noon = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    assert previous_fire_time(trigger, monday_noon) == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    monday_early = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    # Before Monday's run the latest is Friday's (no chase at the weekend).
    assert previous_fire_time(trigger, monday_early) == datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


# Running on a real database --------------------------------------------------------------


class Recorder:
    """Job handlers that record who ran what; optionally failing for one organisation."""

    def __init__(self, fail_for: int | None = None) -> None:
        self.calls: list[tuple[JobKind, int, date]] = []
        self._lock = threading.Lock()
        self._fail_for = fail_for

    def handlers(self):
        return {kind: self._handler(kind) for kind in JobKind}

    def _handler(self, kind: JobKind):
        def run(connection_id: int, day: date) -> str | None:
            with self._lock:
                self.calls.append((kind, connection_id, day))
            if connection_id == self._fail_for:
                raise RuntimeError("Xero is down")
            return None

        return run


def _hhmm(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _organisation(session_factory, tenant: str, zone: str, *, digest_at: datetime,
                  chase_at: datetime, days: str = ALL_DAYS) -> int:
    with session_scope(session_factory) as session:
        connection = save_connection(session, workspace_id=None, tenant_id=tenant,
                                     tenant_name=tenant, timezone=zone)
        update_organisation_settings(session, connection.id, by="test",
                                     digest_time=_hhmm(digest_at, zone),
                                     chase_time=_hhmm(chase_at, zone), chase_days=days)
        return connection.id


def _wait_for(predicate, what: str) -> None:
    deadline = clock_time.monotonic() + DEADLINE_S
    while not predicate():
        if clock_time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        clock_time.sleep(0.05)


def _finished_leases(session_factory) -> list[JobLease]:
    with session_scope(session_factory) as session:
        return list(session.scalars(
            select(JobLease).where(JobLease.finished_at.is_not(None)).order_by(JobLease.id)
        ))


ZONES = ("Pacific/Auckland", "Europe/London", "America/New_York", "Asia/Kolkata")


def test_two_scheduler_instances_on_one_database_run_each_occurrence_once(migrated_db):
    # Every organisation's times passed two minutes ago (in its own zone), so on start each
    # instance catches up all four jobs of every organisation at once: a real race.
    setup_engine = make_engine(migrated_db)
    setup = make_session_factory(setup_engine)
    now = datetime.now(UTC)
    organisations = [
        _organisation(setup, f"tenant-{i}", ZONES[i % len(ZONES)],
                      digest_at=now - timedelta(minutes=2), chase_at=now - timedelta(minutes=2))
        for i in range(6)
    ]
    engines = [make_engine(migrated_db) for _ in range(2)]
    recorder = Recorder()
    schedulers = [
        ChaseScheduler(make_session_factory(engine), recorder.handlers(), owner=f"instance-{n}")
        for n, engine in enumerate(engines)
    ]
    try:
        for scheduler in schedulers:
            scheduler.start(paused=True)
        for scheduler in schedulers:
            scheduler.apscheduler.resume()
        expected = len(organisations) * len(JobKind)
        _wait_for(lambda: len(_finished_leases(setup)) == expected, "every lease to finish")
        _wait_for(lambda: all(s.executions(f"chase:{c}") == 1
                              for s in schedulers for c in organisations),
                  "both instances to fire every chase")
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        for engine in engines:
            engine.dispose()

    runs = Counter((kind, connection_id) for kind, connection_id, _ in recorder.calls)
    assert set(runs.values()) == {1}
    assert len(runs) == len(organisations) * len(JobKind)
    leases = _finished_leases(setup)
    assert {lease.outcome for lease in leases} == {"ok"}
    assert {lease.owner for lease in leases} <= {"instance-0", "instance-1"}
    # The occurrence is the organisation's own date, and the forewarn announces the next day.
    for kind, connection_id, day in recorder.calls:
        zone = ZONES[organisations.index(connection_id) % len(ZONES)]
        local_day = (now - timedelta(minutes=2)).astimezone(ZoneInfo(zone)).date()
        if kind is JobKind.SYNC:
            local_day = (now - timedelta(minutes=32)).astimezone(ZoneInfo(zone)).date()
        offset = timedelta(days=1) if kind is JobKind.FOREWARN else timedelta(0)
        assert day == local_day + offset, (kind, connection_id)
    setup_engine.dispose()


def test_a_restarted_instance_does_not_rerun_what_already_ran(session_factory):
    now = datetime.now(UTC)
    _organisation(session_factory, "tenant-a", "Europe/London",
                  digest_at=now - timedelta(minutes=5), chase_at=now - timedelta(minutes=5))
    recorder = Recorder()
    first = ChaseScheduler(session_factory, recorder.handlers(), owner="before-restart")
    first.start()
    try:
        _wait_for(lambda: len(_finished_leases(session_factory)) == 4, "the first runs")
    finally:
        first.stop()
    second = ChaseScheduler(session_factory, recorder.handlers(), owner="after-restart")
    second.start()
    try:
        _wait_for(lambda: second.executions("chase:1") >= 1, "the restart's catch-up")
    finally:
        second.stop()
    assert len(recorder.calls) == 4


def test_runs_missed_by_more_than_the_grace_are_not_caught_up_on_start(session_factory):
    now = datetime.now(UTC)
    connection_id = _organisation(session_factory, "tenant-a", "UTC",
                                  digest_at=now - timedelta(minutes=1),
                                  chase_at=now - timedelta(hours=2))
    recorder = Recorder()
    scheduler = ChaseScheduler(session_factory, recorder.handlers())
    scheduler.start()
    try:
        # The digest (due a minute ago) runs; the chase (due two hours ago, grace one hour)
        # waits for tomorrow.
        _wait_for(lambda: len(_finished_leases(session_factory)) >= 1, "the digest")
        next_chase = scheduler.next_run_time(f"chase:{connection_id}")
    finally:
        scheduler.stop()
    assert JobKind.CHASE not in {kind for kind, _, _ in recorder.calls}
    assert next_chase > now + timedelta(hours=21)


def test_a_firing_later_than_the_misfire_grace_is_dropped(session_factory):
    now = datetime.now(UTC)
    connection_id = _organisation(session_factory, "tenant-a", "UTC",
                                  digest_at=now + timedelta(hours=3),
                                  chase_at=now + timedelta(hours=3))
    recorder = Recorder()
    scheduler = ChaseScheduler(session_factory, recorder.handlers())
    job_id = f"chase:{connection_id}"
    scheduler.start(paused=True)
    try:
        # As if the process had been frozen for two hours past the firing (grace: one hour).
        scheduler.apscheduler.modify_job(job_id, next_run_time=now - timedelta(hours=2))
        scheduler.apscheduler.resume()
        _wait_for(lambda: scheduler.misses(job_id) == 1, "the misfire")
    finally:
        scheduler.stop()
    assert recorder.calls == []
    assert _finished_leases(session_factory) == []


def test_several_missed_firings_coalesce_into_one_run(session_factory):
    now = datetime.now(UTC)
    connection_id = _organisation(session_factory, "tenant-a", "UTC",
                                  digest_at=now + timedelta(hours=3),
                                  chase_at=now - timedelta(minutes=2))
    recorder = Recorder()
    scheduler = ChaseScheduler(session_factory, {JobKind.CHASE: recorder.handlers()[JobKind.CHASE]},
                               grace={JobKind.CHASE: timedelta(days=4)})
    job_id = f"chase:{connection_id}"
    scheduler.start(paused=True)
    try:
        # Four daily firings are due (three days ago to two minutes ago): one run.
        scheduler.apscheduler.modify_job(job_id, next_run_time=now - timedelta(days=3))
        scheduler.apscheduler.resume()
        _wait_for(lambda: len(_finished_leases(session_factory)) == 1, "the chase")
        clock_time.sleep(0.2)  # room for any (wrong) second execution to show up
    finally:
        scheduler.stop()
    assert scheduler.executions(job_id) == 1
    assert recorder.calls == [(JobKind.CHASE, connection_id, (now - timedelta(minutes=2)).date())]


def test_one_organisations_failure_is_recorded_and_the_others_still_run(session_factory):
    now = datetime.now(UTC)
    failing = _organisation(session_factory, "tenant-a", "UTC",
                            digest_at=now + timedelta(hours=3), chase_at=now - timedelta(minutes=1))
    healthy = _organisation(session_factory, "tenant-b", "UTC",
                            digest_at=now + timedelta(hours=3), chase_at=now - timedelta(minutes=1))
    recorder = Recorder(fail_for=failing)
    scheduler = ChaseScheduler(session_factory, {JobKind.CHASE: recorder.handlers()[JobKind.CHASE]})
    scheduler.start()
    try:
        _wait_for(lambda: len(_finished_leases(session_factory)) == 2, "both chases")
    finally:
        scheduler.stop()
    outcomes = {lease.job_key: (lease.outcome, lease.error)
                for lease in _finished_leases(session_factory)}
    assert outcomes == {f"chase:{failing}": ("failed", "RuntimeError: Xero is down"),
                        f"chase:{healthy}": ("ok", None)}
    assert scheduler.liveness().failed == 1


def test_replanning_follows_settings_and_connection_changes(session_factory):
    now = datetime.now(UTC)
    connection_id = _organisation(session_factory, "tenant-a", "UTC",
                                  digest_at=now + timedelta(hours=3),
                                  chase_at=now + timedelta(hours=3))
    scheduler = build_scheduler(session_factory, Recorder().handlers())
    scheduler.start(paused=True)
    try:
        assert scheduler.next_run_time(f"chase:{connection_id}").strftime("%H:%M") == _hhmm(
            now + timedelta(hours=3), "UTC")
        with session_scope(session_factory) as session:
            update_organisation_settings(session, connection_id, by="U1", chase_time="23:59",
                                         digest_enabled=False)
        scheduler.replan()
        assert scheduler.next_run_time(f"chase:{connection_id}").strftime("%H:%M") == "23:59"
        assert scheduler.next_run_time(f"digest:{connection_id}") is None
        with session_scope(session_factory) as session:
            set_connection_status(session, connection_id, ConnectionStatus.DISCONNECTED)
        scheduler.replan()
        assert scheduler.next_run_time(f"chase:{connection_id}") is None
        assert scheduler.liveness().jobs == 0
    finally:
        scheduler.stop()


def test_liveness_reports_a_running_scheduler_and_a_stopped_one(session_factory):
    scheduler = build_scheduler(session_factory, Recorder().handlers())
    assert not scheduler.liveness().alive
    scheduler.start()
    try:
        live = scheduler.liveness()
        assert live.alive and live.running
        assert live.as_dict()["last_refresh_at"] is not None
    finally:
        scheduler.stop()
    assert not scheduler.liveness().alive


@pytest.mark.parametrize("value", ["25:00", "nine", ""])
def test_a_malformed_time_falls_back_to_the_default(value):
    from bot.chasing.scheduler import parse_hhmm

    assert parse_hhmm(value, time(10, 0)) == time(10, 0)


def test_a_task_ticks_on_one_instance_at_a_time(migrated_db):
    engines = [make_engine(migrated_db) for _ in range(2)]
    ticks: list[str] = []
    lock = threading.Lock()

    def task(owner: str):
        def run() -> None:
            with lock:
                ticks.append(owner)
        return run

    schedulers = []
    for n, engine in enumerate(engines):
        scheduler = ChaseScheduler(make_session_factory(engine), {}, owner=f"instance-{n}")
        scheduler.add_task("housekeeping", timedelta(seconds=1), task(f"instance-{n}"))
        schedulers.append(scheduler)
    try:
        for scheduler in schedulers:
            scheduler.start()
        _wait_for(lambda: all(s.executions("task:housekeeping") >= 3 for s in schedulers),
                  "three ticks on each instance")
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    setup = make_session_factory(engines[0])
    with session_scope(setup) as session:
        leased = session.scalars(select(JobLease).where(
            JobLease.job_key == "task:housekeeping")).all()
    for engine in engines:
        engine.dispose()
    # Each tick ran once, on whichever instance claimed it: never twice.
    assert len(ticks) == len(leased) >= 3
    assert len({lease.occurrence for lease in leased}) == len(leased)
