"""The sending window: chase days and time in the organisation's zone, public holidays off."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.chasing.window import (
    ChaseWindow,
    WindowError,
    parse_chase_days,
    parse_chase_time,
    public_holiday,
)

NZ = ZoneInfo("Pacific/Auckland")
WINDOW = ChaseWindow(zone=NZ, days=frozenset({1, 2, 3, 4, 5}), at=time(10), country_code="NZ")


@pytest.mark.parametrize(
    ("local", "open_"),
    [
        (datetime(2026, 12, 1, 9, 59), False),  # a Tuesday, before the chase time
        (datetime(2026, 12, 1, 10, 0), True),
        (datetime(2026, 12, 1, 13, 59), True),
        (datetime(2026, 12, 1, 14, 0), False),  # four hours on: closed
        (datetime(2026, 12, 5, 10, 30), False),  # Saturday
        (datetime(2026, 12, 25, 10, 30), False),  # Christmas Day, a Friday
    ],
)
def test_window_opens_on_chase_days_at_the_chase_time(local: datetime, open_: bool) -> None:
    assert WINDOW.is_open(local.replace(tzinfo=NZ)) is open_


def test_the_window_is_in_the_organisations_zone_not_the_servers() -> None:
    utc_evening = datetime(2026, 11, 30, 21, 30, tzinfo=ZoneInfo("UTC"))  # 10:30 Tue in NZ
    assert WINDOW.is_open(utc_evening)


def test_next_open_skips_weekends_and_public_holidays() -> None:
    # Thursday 24 Dec after the window: Friday is Christmas, Monday 28th is Boxing Day
    # (observed), so the next window is Tuesday 29 December.
    after = datetime(2026, 12, 24, 15, 0, tzinfo=NZ)
    assert WINDOW.next_open(after) == datetime(2026, 12, 29, 10, 0, tzinfo=NZ)


def test_holidays_can_be_chase_days_when_the_setting_is_off() -> None:
    relaxed = ChaseWindow(zone=NZ, at=time(10), country_code="NZ", skip_public_holidays=False)
    assert relaxed.is_open(datetime(2026, 12, 25, 10, 30, tzinfo=NZ))


def test_holidays_come_from_the_organisations_country() -> None:
    assert public_holiday("NZ", date(2026, 2, 6)) == "Waitangi Day"
    assert public_holiday("GB", date(2026, 2, 6)) is None
    assert public_holiday("ZZ", date(2026, 12, 25)) is None  # unknown country: none
    assert public_holiday(None, date(2026, 12, 25)) is None


def test_no_chase_days_never_opens() -> None:
    never = ChaseWindow(zone=NZ, days=frozenset())
    assert never.next_open(datetime(2026, 12, 1, tzinfo=NZ)) is None


@pytest.mark.parametrize("text", ["", "0,1", "mon", "8"])
def test_bad_chase_days_say_what_to_write(text: str) -> None:
    with pytest.raises(WindowError, match="weekday"):
        parse_chase_days(text)


def test_chase_time_is_hh_mm() -> None:
    assert parse_chase_time("09:15") == time(9, 15)
    with pytest.raises(WindowError, match="HH:MM"):
        parse_chase_time("9am")
