"""What each organisation's scheduled jobs are and when they fire (pure planning).

When each job runs, in the organisation's timezone (OrganisationSettings):
- sync: every day, SYNC_LEAD before the digest time, so the digest reads fresh data;
- digest: on chase days at digest_time (when the digest is on);
- forewarn: the day before each chase day, at chase_time: tomorrow's plan, 24 hours ahead;
- chase: on chase days at chase_time (the run itself syncs first and checks holidays).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.chasing.timezones import org_zone
from storage.models import ConnectionStatus, XeroConnection
from storage.repositories import list_connections
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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


def organisation_times(
    session: Session, connections: Sequence[XeroConnection] | None = None
) -> list[OrganisationTimes]:
    """Every planned organisation's times (or those of `connections` that are planned), read
    from its connection and settings."""
    if connections is None:
        connections = list_connections(session, statuses=PLANNED_STATUSES)
    found = []
    for connection in connections:
        if connection.status not in PLANNED_STATUSES:
            continue
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
