"""Xero's date spellings parse to the right instants and calendar days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.xero.dates import (
    if_modified_since,
    parse_date,
    parse_datetime,
    parse_ms_datetime,
    pick_date,
    pick_datetime,
    to_ms_date,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/Date(1439434356790)/", datetime(2015, 8, 13, 2, 52, 36, 790000, tzinfo=UTC)),
        ("/Date(1419937200000+0000)/", datetime(2014, 12, 30, 11, 0, tzinfo=UTC)),
        ("/Date(1539993600000+0000)/", datetime(2018, 10, 20, tzinfo=UTC)),
        ("/Date(-80006400000+0000)/", datetime(1967, 6, 20, tzinfo=UTC)),
        ("/Date(-80006400000)/", datetime(1967, 6, 20, tzinfo=UTC)),
        ("/Date(0+0000)/", datetime(1970, 1, 1, tzinfo=UTC)),
        ("/Date(0)/", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_ms_dates_are_milliseconds_since_the_epoch_in_utc(raw: str, expected: datetime) -> None:
    assert parse_ms_datetime(raw) == expected


def test_ms_date_offset_names_the_zone_without_moving_the_instant() -> None:
    parsed = parse_ms_datetime("/Date(1451988985943+1300)/")
    assert parsed == datetime(2016, 1, 5, 10, 16, 25, 943000, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(hours=13)


def test_negative_ms_date_offset_keeps_the_instant() -> None:
    parsed = parse_ms_datetime("/Date(1000-0530)/")
    assert parsed == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert parsed.utcoffset() == -timedelta(hours=5, minutes=30)


def test_ms_date_keeps_whole_milliseconds_exactly() -> None:
    assert parse_ms_datetime("/Date(1752451200001+0000)/").microsecond == 1000


@pytest.mark.parametrize("raw", ["/Date(abc)/", "Date(1)", "/Date(1+1x00)/", "/Date(1+12345)/"])
def test_malformed_ms_dates_raise_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_ms_datetime(raw)


def test_malformed_iso_dates_raise_value_error() -> None:
    with pytest.raises(ValueError):
        parse_date("20-10-2018")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/Date(1539993600000+0000)/", date(2018, 10, 20)),
        ("2018-10-20T00:00:00", date(2018, 10, 20)),
        ("2018-10-20", date(2018, 10, 20)),
        ("/Date(-80006400000+0000)/", date(1967, 6, 20)),
        ("/Date(0+0000)/", date(1970, 1, 1)),
        ("", None),
        (None, None),
    ],
)
def test_date_only_fields_are_the_utc_calendar_day(raw: str | None, expected: date | None) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-07-14T01:02:03.123Z", datetime(2026, 7, 14, 1, 2, 3, 123000, tzinfo=UTC)),
        ("2024-06-21T01:15:39.902", datetime(2024, 6, 21, 1, 15, 39, 902000, tzinfo=UTC)),
        (
            "2020-02-06T12:17:43.202-08:00",
            datetime(2020, 2, 6, 20, 17, 43, 202000, tzinfo=UTC),
        ),
        ("2024-06-21T01:15:39.9020000", datetime(2024, 6, 21, 1, 15, 39, 902000, tzinfo=UTC)),
    ],
)
def test_iso_timestamps_without_a_zone_are_utc(raw: str, expected: datetime) -> None:
    assert parse_datetime(raw) == expected


def test_string_fields_win_over_ms_fields_when_both_are_present() -> None:
    assert pick_date("2018-10-21T00:00:00", "/Date(1539993600000+0000)/") == date(2018, 10, 21)
    assert pick_date(None, "/Date(1539993600000+0000)/") == date(2018, 10, 20)
    assert pick_datetime("2016-01-05T10:16:25.943", "/Date(1+1300)/") == datetime(
        2016, 1, 5, 10, 16, 25, 943000, tzinfo=UTC
    )


def test_picked_datetimes_are_normalised_to_utc() -> None:
    picked = pick_datetime(None, "/Date(1451988985943+1300)/")
    assert picked is not None and picked.tzinfo is UTC


def test_if_modified_since_is_iso_utc_truncated_to_the_second() -> None:
    moment = datetime(2026, 7, 14, 13, 2, 3, 999999, tzinfo=timezone(timedelta(hours=12)))
    assert if_modified_since(moment) == "2026-07-14T01:02:03+00:00"


def test_if_modified_since_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        if_modified_since(datetime(2026, 7, 14))


@pytest.mark.parametrize("ms", [0, 1539993600000, -80006400000, 1752451200123])
def test_ms_dates_round_trip(ms: int) -> None:
    moment = parse_ms_datetime(f"/Date({ms}+0000)/")
    assert to_ms_date(moment) == f"/Date({ms}+0000)/"
