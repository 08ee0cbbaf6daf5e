"""APScheduler jobs per organisation (sync, digest, forewarn, chase) at its local times, leased.

Every instance plans the same jobs in memory from the database and re-plans them every minute
(so a settings change made through any instance reaches all of them). When a job fires, the
instance first claims the occurrence in `job_leases` (storage/leases.py): the database, not a
process's memory, decides which instance runs the organisation's chase run for that day.

When each job runs is planned in bot/chasing/jobs.py. An occurrence is the organisation's local
date: a job runs at most once a day per organisation, even when its time is changed after it
ran. Missed runs are caught up once within the misfire grace (including after a restart);
several missed runs coalesce into one.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.chasing.jobs import (  # noqa: F401  (re-exported: the scheduler's public names)
    DEFAULT_GRACE,
    PLANNED_STATUSES,
    REFRESH_EVERY,
    SYNC_LEAD,
    JobHandler,
    JobKind,
    JobSpec,
    OrganisationTimes,
    job_specs,
    organisation_times,
    parse_days,
    parse_hhmm,
    previous_fire_time,
    utc_now,
)
from storage import leases
from storage.db import session_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

PRUNE_AFTER = timedelta(days=30)
# Jobs mostly wait on Xero's per-organisation limit (60 calls a minute), not on CPU: a chase
# run fetching 100 online-invoice links takes two minutes whatever the machine. Enough threads
# that 50 organisations sharing one chase time all start within the misfire grace
# (benchmarks/morning.py), few enough to stay inside the database connection pool.
JOB_WORKERS = 16
TASK_PRUNE_AFTER = timedelta(days=1)  # a task leases a row a tick: keep a day of them


def default_owner() -> str:
    """This instance's name in lease rows: host, process and a random tag."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Liveness:
    """What /healthz reports about the scheduler."""

    alive: bool
    running: bool
    jobs: int
    last_refresh_at: datetime | None
    missed: int
    failed: int

    def as_dict(self) -> dict[str, object]:
        return {
            "alive": self.alive,
            "running": self.running,
            "jobs": self.jobs,
            "last_refresh_at": self.last_refresh_at.isoformat() if self.last_refresh_at else None,
            "missed": self.missed,
            "failed": self.failed,
        }


@dataclass
class _Counters:
    executed: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    failed: int = 0


class ChaseScheduler:
    """One instance's scheduler: plans every organisation's jobs and runs the ones it leases."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        handlers: Mapping[JobKind, JobHandler],
        *,
        owner: str | None = None,
        grace: Mapping[JobKind, timedelta] = DEFAULT_GRACE,
        lease_ttl: timedelta = leases.DEFAULT_LEASE_TTL,
        refresh_every: timedelta = REFRESH_EVERY,
        max_workers: int = JOB_WORKERS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._session_factory = session_factory
        self._handlers = dict(handlers)
        self.max_workers = max_workers
        self.owner = owner or default_owner()
        self._grace = {kind: grace.get(kind, DEFAULT_GRACE[kind]) for kind in JobKind}
        self._lease_ttl = lease_ttl
        self._refresh_every = refresh_every
        self._clock = clock
        self._planned: dict[str, JobSpec] = {}
        self._plan_lock = threading.Lock()
        self._last_refresh_at: datetime | None = None
        self._last_prune_at: datetime | None = None
        self._counters = _Counters()
        self._tasks: list[tuple[str, timedelta, Callable[[], object]]] = []
        self.apscheduler = BackgroundScheduler(
            timezone=UTC,
            executors={
                "default": ThreadPoolExecutor(max_workers),
                # Planning has its own thread, so long jobs never delay a re-plan.
                "planner": ThreadPoolExecutor(1),
            },
        )
        self.apscheduler.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)

    # Lifecycle -------------------------------------------------------------------------

    def start(self, *, paused: bool = False) -> None:
        """Plan every organisation (catching up runs missed within the grace) and start."""
        self.refresh(catch_up=True)
        self.apscheduler.add_job(
            self.refresh, "interval", seconds=self._refresh_every.total_seconds(),
            id="plan-refresh", executor="planner", coalesce=True, max_instances=1,
            replace_existing=True,
        )
        for name, every, func in self._tasks:
            self.apscheduler.add_job(
                self._run_task, "interval", seconds=every.total_seconds(),
                args=(name, every, func), id=f"task:{name}", coalesce=True, max_instances=1,
                misfire_grace_time=int(every.total_seconds()), replace_existing=True,
            )
        self.apscheduler.start(paused=paused)

    def add_task(self, name: str, every: timedelta, func: Callable[[], object]) -> None:
        """Run `func` every `every` on one instance at a time (call before start).

        Each tick is leased like a job occurrence (key `task:<name>`, the tick's start), so
        with several instances each tick runs once, wherever it fires first.
        """
        self._tasks.append((name, every, func))

    def _run_task(self, name: str, every: timedelta, func: Callable[[], object]) -> None:
        now = self._clock()
        seconds = int(every.total_seconds())
        tick = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)
        key, occurrence = f"task:{name}", tick.isoformat()
        with session_scope(self._session_factory) as session:
            if not leases.claim_lease(session, key, occurrence, owner=self.owner, now=now,
                                      ttl=self._lease_ttl):
                return
        outcome, error = "ok", None
        try:
            func()
        except Exception as exc:  # logged and recorded; the next tick tries again
            log.exception("task %s failed", name)
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        with session_scope(self._session_factory) as session:
            leases.finish_lease(session, key, occurrence, owner=self.owner, now=self._clock(),
                                outcome=outcome, error=error)

    def stop(self, *, wait: bool = True) -> None:
        """Stop firing jobs; with wait=True, let running jobs finish first."""
        if self.apscheduler.running:
            self.apscheduler.shutdown(wait=wait)

    def liveness(self) -> Liveness:
        """Alive while running and re-planning on time (the planner thread is not stuck)."""
        running = bool(self.apscheduler.running)
        last = self._last_refresh_at
        fresh = last is not None and self._clock() - last <= 3 * self._refresh_every
        return Liveness(
            alive=running and fresh,
            running=running,
            jobs=len(self._planned),
            last_refresh_at=last,
            missed=sum(self._counters.missed.values()),
            failed=self._counters.failed,
        )

    # Planning --------------------------------------------------------------------------

    def replan(self) -> None:
        """Re-read every organisation's times now (after a settings or connection change)."""
        self.refresh()

    def refresh(self, *, catch_up: bool = False) -> None:
        """Bring the planned jobs in line with the database: add, reschedule, remove."""
        with self._plan_lock:
            try:
                with session_scope(self._session_factory) as session:
                    wanted = {
                        spec.job_id: spec
                        for times in organisation_times(session)
                        for spec in job_specs(times)
                        if spec.kind in self._handlers
                    }
            except Exception:
                log.exception("could not read the organisations to schedule")
                return
            now = self._clock()
            for job_id in set(self._planned) - set(wanted):
                self.apscheduler.remove_job(job_id)
                del self._planned[job_id]
            for job_id, spec in wanted.items():
                if self._planned.get(job_id) == spec:
                    continue
                self._plan_job(spec, now, catch_up=catch_up)
                self._planned[job_id] = spec
            self._last_refresh_at = now
            self._prune(now)

    def _plan_job(self, spec: JobSpec, now: datetime, *, catch_up: bool) -> None:
        trigger = spec.trigger()
        options: dict[str, object] = {}
        if catch_up:
            # A fresh plan (start or restart) still owes a run that fired within the grace;
            # its lease says whether some instance already ran it.
            previous = previous_fire_time(trigger, now)
            if previous is not None and now - previous <= self._grace[spec.kind]:
                options["next_run_time"] = previous
        self.apscheduler.add_job(
            self._run, trigger, args=(spec.job_id,), id=spec.job_id, name=spec.job_id,
            coalesce=True, max_instances=1, replace_existing=True,
            misfire_grace_time=int(self._grace[spec.kind].total_seconds()), **options,
        )

    def _prune(self, now: datetime) -> None:
        if self._last_prune_at is not None and now - self._last_prune_at < timedelta(hours=1):
            return
        self._last_prune_at = now
        try:
            with session_scope(self._session_factory) as session:
                leases.prune_leases(session, before=now - PRUNE_AFTER)
                leases.prune_leases(session, before=now - TASK_PRUNE_AFTER, prefix="task:")
        except Exception:
            log.exception("could not prune old job leases")

    def next_run_time(self, job_id: str) -> datetime | None:
        """When a planned job fires next (None when not planned or paused)."""
        job = self.apscheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    # Running ---------------------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        spec = self._planned.get(job_id)
        if spec is None:
            return
        fired = previous_fire_time(spec.trigger(), self._clock())
        if fired is None:
            return
        self.run_occurrence(spec, spec.local_day(fired))

    def run_occurrence(self, spec: JobSpec, day: date) -> bool:
        """Run one organisation's job for one local day if this instance wins its lease."""
        with session_scope(self._session_factory) as session:
            won = leases.claim_lease(session, spec.job_id, day.isoformat(), owner=self.owner,
                                     now=self._clock(), ttl=self._lease_ttl)
        if not won:
            log.info("%s for %s is another instance's (or done)", spec.job_id, day)
            return False
        handler = self._handlers[spec.kind]
        run_day = day + timedelta(days=1) if spec.kind is JobKind.FOREWARN else day
        outcome, error = "ok", None
        with _LeaseKeeper(self, spec.job_id, day.isoformat()):
            try:
                outcome = handler(spec.connection_id, run_day) or "ok"
            except Exception as exc:  # one organisation's failure never stops the others
                log.exception("%s for %s failed", spec.job_id, day)
                outcome, error = "failed", f"{type(exc).__name__}: {exc}"
                self._counters.failed += 1
        with session_scope(self._session_factory) as session:
            leases.finish_lease(session, spec.job_id, day.isoformat(), owner=self.owner,
                                now=self._clock(), outcome=outcome, error=error)
        return True

    def renew(self, job_key: str, occurrence: str) -> bool:
        """Extend a held lease (called by the keeper while a job runs)."""
        with session_scope(self._session_factory) as session:
            return leases.renew_lease(session, job_key, occurrence, owner=self.owner,
                                      now=self._clock(), ttl=self._lease_ttl)

    def executions(self, job_id: str) -> int:
        """How many times APScheduler ran this job here (runs lost to a lease count too)."""
        return self._counters.executed.get(job_id, 0)

    def misses(self, job_id: str) -> int:
        """How many firings of this job APScheduler dropped as past the misfire grace."""
        return self._counters.missed.get(job_id, 0)

    def _on_event(self, event: JobExecutionEvent) -> None:
        bucket = (self._counters.missed if event.code == EVENT_JOB_MISSED
                  else self._counters.executed)
        bucket[event.job_id] = bucket.get(event.job_id, 0) + 1


class _LeaseKeeper:
    """Renews a lease every third of its lifetime while the job holding it runs."""

    def __init__(self, scheduler: ChaseScheduler, job_key: str, occurrence: str) -> None:
        self._scheduler = scheduler
        self._job_key = job_key
        self._occurrence = occurrence
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease {job_key}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        interval = self._scheduler._lease_ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                if not self._scheduler.renew(self._job_key, self._occurrence):
                    log.warning("lost the lease on %s %s", self._job_key, self._occurrence)
                    return
            except Exception:
                log.exception("could not renew the lease on %s", self._job_key)


def build_scheduler(
    session_factory: sessionmaker[Session],
    handlers: Mapping[JobKind, JobHandler],
    **options: object,
) -> ChaseScheduler:
    """The scheduler `chaser serve` starts: call .start() after building, .stop() at exit."""
    return ChaseScheduler(session_factory, handlers, **options)  # type: ignore[arg-type]
