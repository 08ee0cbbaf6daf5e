"""APScheduler jobs per organisation (sync, digest, forewarn, chase) at its local times, leased.

Every instance plans the same jobs in memory from the database and re-plans them every minute
(so a settings change made through any instance reaches all of them). When a job fires, the
instance first claims the occurrence in `job_leases` (storage/leases.py): the database, not a
process's memory, decides which instance runs the organisation's chase run for that day.

When each job runs, in the organisation's timezone (OrganisationSettings):
- sync: every day, SYNC_LEAD before the digest time, so the digest reads fresh data;
- digest: on chase days at digest_time (when the digest is on);
- forewarn: the day before each chase day, at chase_time: tomorrow's plan, 24 hours ahead;
- chase: on chase days at chase_time (the run itself syncs first and checks holidays).
An occurrence is the organisation's local date: a job runs at most once a day per organisation,
even when its time is changed after it ran. Missed runs are caught up once within the misfire
grace (including after a restart); several missed runs coalesce into one.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.chasing.timezones import org_zone
from storage import leases
from storage.db import session_scope
from storage.models import ConnectionStatus
from storage.repositories import list_connections
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


class JobKind(StrEnum):
    SYNC = "sync"
    DIGEST = "digest"
    FOREWARN = "forewarn"
    CHASE = "chase"


# A handler runs one organisation's job for one local day; it returns a short outcome word
# ("ok" when None) and raises to record a failure. The forewarn handler is given the day of
# the chase run it announces (the day after it runs).
JobHandler = Callable[[int, date], "str | None"]

SYNC_LEAD = timedelta(minutes=30)
# Chaser sends "within an hour after" the chase time; the same hour bounds every catch-up.
DEFAULT_GRACE: Mapping[JobKind, timedelta] = {
    JobKind.SYNC: timedelta(hours=2),
    JobKind.DIGEST: timedelta(hours=1),
    JobKind.FOREWARN: timedelta(hours=2),
    JobKind.CHASE: timedelta(hours=1),
}
REFRESH_EVERY = timedelta(seconds=60)
PRUNE_AFTER = timedelta(days=30)
# Statuses whose organisations get jobs: a needs_reconnect one still gets its digest (which
# says so), and its chase run skips every invoice for that reason.
PLANNED_STATUSES = (ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_RECONNECT)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LOOKBACK = timedelta(days=8)  # longer than any gap between two fires of a weekly pattern


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OrganisationTimes:
    """What the plan of one organisation depends on; equal values mean an unchanged plan."""

    connection_id: int
    zone: str  # IANA name
    digest_enabled: bool
    digest_time: time
    chase_time: time
    chase_days: tuple[int, ...]  # ISO weekdays, 1 = Monday


@dataclass(frozen=True)
class JobSpec:
    """One planned job: which organisation, what, and when (local wall-clock time)."""

    kind: JobKind
    connection_id: int
    zone: str
    at: time
    days: tuple[int, ...]  # ISO weekdays

    @property
    def job_id(self) -> str:
        return f"{self.kind}:{self.connection_id}"

    def trigger(self) -> CronTrigger:
        """The cron trigger firing at `at` on `days` in the organisation's zone."""
        return CronTrigger(
            day_of_week=",".join(_DAY_NAMES[day - 1] for day in sorted(self.days)),
            hour=self.at.hour,
            minute=self.at.minute,
            timezone=ZoneInfo(self.zone),
        )

    def local_day(self, fire_time: datetime) -> date:
        """The organisation's date of one firing: the occurrence's identity."""
        return fire_time.astimezone(ZoneInfo(self.zone)).date()


def parse_hhmm(value: str | None, default: time) -> time:
    """"HH:MM" as a time; a malformed value falls back to the default (and is logged)."""
    try:
        hours, minutes = (value or "").split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        log.warning("malformed time %r in organisation settings; using %s", value, default)
        return default


def parse_days(value: str | None) -> tuple[int, ...]:
    """"1,2,3" as ISO weekdays, dropping anything that is not 1..7."""
    days = set()
    for part in (value or "").split(","):
        part = part.strip()
        if part.isdigit() and 1 <= int(part) <= 7:
            days.add(int(part))
    return tuple(sorted(days))


def job_specs(times: OrganisationTimes) -> list[JobSpec]:
    """The jobs one organisation needs (pure)."""
    every_day = tuple(range(1, 8))
    sync_at = (datetime.combine(date(2000, 1, 3), times.digest_time) - SYNC_LEAD).time()
    specs = [JobSpec(JobKind.SYNC, times.connection_id, times.zone, sync_at, every_day)]
    if times.chase_days:
        if times.digest_enabled:
            specs.append(JobSpec(JobKind.DIGEST, times.connection_id, times.zone,
                                 times.digest_time, times.chase_days))
        day_before = tuple(sorted({(day - 2) % 7 + 1 for day in times.chase_days}))
        specs.append(JobSpec(JobKind.FOREWARN, times.connection_id, times.zone,
                             times.chase_time, day_before))
        specs.append(JobSpec(JobKind.CHASE, times.connection_id, times.zone,
                             times.chase_time, times.chase_days))
    return specs


def previous_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The trigger's latest firing at or before `now` (within the last week), or None."""
    fire = trigger.get_next_fire_time(None, now - _LOOKBACK)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire)
    return latest


def organisation_times(session: Session) -> list[OrganisationTimes]:
    """Every planned organisation's times, read from its connection and settings."""
    found = []
    for connection in list_connections(session, statuses=PLANNED_STATUSES):
        settings = organisation_settings(session, connection.id)
        found.append(OrganisationTimes(
            connection_id=connection.id,
            zone=org_zone(connection.timezone).key,
            digest_enabled=bool(settings.digest_enabled),
            digest_time=parse_hhmm(settings.digest_time, time(9, 0)),
            chase_time=parse_hhmm(settings.chase_time, time(10, 0)),
            chase_days=parse_days(settings.chase_days),
        ))
    return found


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
        max_workers: int = 4,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._session_factory = session_factory
        self._handlers = dict(handlers)
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
        self.apscheduler.start(paused=paused)

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
