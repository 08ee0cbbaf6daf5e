"""When an organisation's reminders may go: its chase days and time, in its timezone, off holidays.

Emails go from the chase time until CHASE_WINDOW later, on chase days (ISO weekdays) that are
not public holidays of the organisation's country (the `holidays` library, national holidays
only, as Chaser's tick box). A run outside the window sends nothing; the plan says when the
next window opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot.errors import UserFacingError

# How long after the chase time a run may still send (Chaser sends within the hour; a restart
# or a slow sync should not cost a whole day).
CHASE_WINDOW = timedelta(hours=4)
DEFAULT_CHASE_DAYS = frozenset({1, 2, 3, 4, 5})
# Looking further than this for an open day means no day can ever open (e.g. no chase days).
_SEARCH_DAYS = 400


class WindowError(UserFacingError):
    """Chase days or time as typed cannot be used."""


def parse_chase_days(text: str) -> frozenset[int]:
    """ISO weekdays from "1,2,3,4,5" (1 = Monday)."""
    try:
        days = frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise WindowError(f"Chase days {text!r}: use weekday numbers like 1,2,3,4,5.") from None
    if not days or not days <= set(range(1, 8)):
        raise WindowError(f"Chase days {text!r}: use weekday numbers 1 (Monday) to 7.")
    return days


def parse_chase_time(text: str) -> time:
    """A time of day from "HH:MM"."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        return time(hours, minutes)
    except ValueError:
        raise WindowError(f"Chase time {text!r}: use HH:MM, e.g. 10:00.") from None


@lru_cache(maxsize=64)
def _country_holidays(country_code: str, year: int) -> holidays.HolidayBase | None:
    try:
        return holidays.country_holidays(country_code.upper(), years=year)
    except NotImplementedError:  # a country the library does not know: no holidays
        return None


def public_holiday(country_code: str | None, day: date) -> str | None:
    """The name of the national public holiday on `day` in the country, or None."""
    if not country_code:
        return None
    calendar = _country_holidays(country_code, day.year)
    return calendar.get(day) if calendar is not None else None


@dataclass(frozen=True)
class ChaseWindow:
    """One organisation's sending window."""

    zone: ZoneInfo
    days: frozenset[int] = DEFAULT_CHASE_DAYS
    at: time = time(10, 0)
    country_code: str | None = None
    skip_public_holidays: bool = True
    length: timedelta = CHASE_WINDOW

    def is_chase_day(self, day: date) -> bool:
        """A chase weekday that is not a public holiday (when those are skipped)."""
        if day.isoweekday() not in self.days:
            return False
        return not (self.skip_public_holidays and public_holiday(self.country_code, day))

    def opens_on(self, day: date) -> datetime:
        """The window's start on a day, in the organisation's zone."""
        return datetime.combine(day, self.at, tzinfo=self.zone)

    def is_open(self, now: datetime) -> bool:
        """Whether a run at `now` may send."""
        local = now.astimezone(self.zone)
        start = self.opens_on(local.date())
        return self.is_chase_day(local.date()) and start <= local < start + self.length

    def next_open(self, now: datetime) -> datetime | None:
        """`now` when the window is open, else when it next opens (None: never)."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.zone)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if self.is_chase_day(day) and self.opens_on(day) > local:
                return self.opens_on(day)
            day += timedelta(days=1)
        return None
