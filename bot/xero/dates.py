"""Xero's date formats: `/Date(ms±hhmm)/`, ISO strings, and the If-Modified-Since header."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_PREFIX = "/Date("
_MS_SUFFIX = ")/"


def parse_ms_datetime(value: str) -> datetime:
    """Parse `/Date(1419937200000+0000)/` into an aware datetime.

    The milliseconds are the absolute instant and the offset only names the zone to show it
    in: this is how .NET's DataContractJsonSerializer (which Xero's format comes from) defines
    `/Date(ms+hhmm)/` — "the number of milliseconds in the GMT time zone" with the offset
    marking local kind — and how xero-python reads it (api_client/deserializer.py). pyxero
    instead adds the offset to the epoch; we do not.
    """
    if not (value.startswith(_MS_PREFIX) and value.endswith(_MS_SUFFIX)):
        raise ValueError(f"not a /Date(...)/ value: {value!r}")
    inner = value[6:-2]
    # The sign of the offset is the first + or - after any leading minus of the epoch.
    cut = max(inner.rfind("+"), inner.rfind("-"))
    if cut > 0:
        millis, offset = inner[:cut], inner[cut:]
    else:
        millis, offset = inner, ""
    # timedelta keeps whole milliseconds exact; fromtimestamp(ms / 1000) would go through float.
    instant = EPOCH + timedelta(milliseconds=int(millis))
    if not offset or offset[1:] in ("0000", "00"):
        return instant
    if len(offset) not in (3, 5) or not offset[1:].isdigit():
        raise ValueError(f"bad offset in {value!r}")
    hours, minutes = int(offset[1:3]), int(offset[3:5] or 0)
    delta = timedelta(hours=hours, minutes=minutes)
    return instant.astimezone(timezone(delta if offset[0] == "+" else -delta))


def parse_datetime(value: str | None) -> datetime | None:
    """Any Xero timestamp (`/Date()/` or ISO 8601) as an aware datetime; naive ISO means UTC."""
    if not value:
        return None
    if value[0] == "/":
        return parse_ms_datetime(value)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_date(value: str | None) -> date | None:
    """A Xero date-only field (`/Date()/`, `2018-10-20T00:00:00` or `2018-10-20`) as a date.

    Date-only fields are midnight UTC (spec example: DateString 2018-10-20T00:00:00 ↔
    /Date(1539993600000+0000)/), so the UTC calendar day is the date.
    """
    if not value:
        return None
    if value[0] == "/":
        return parse_ms_datetime(value).astimezone(UTC).date()
    return date.fromisoformat(value[:10])


def pick_date(string_value: str | None, raw_value: str | None) -> date | None:
    """Prefer the unambiguous `…DateString` field; fall back to the `/Date()/` one."""
    return parse_date(string_value) if string_value else parse_date(raw_value)


def pick_datetime(string_value: str | None, raw_value: str | None) -> datetime | None:
    """Prefer the ISO `…UTCString` field (it is UTC); fall back to the `/Date()/` one."""
    parsed = parse_datetime(string_value) if string_value else parse_datetime(raw_value)
    return parsed.astimezone(UTC) if parsed is not None else None


def if_modified_since(moment: datetime) -> str:
    """Header value for `If-Modified-Since`, e.g. `2026-07-14T01:02:03+00:00`.

    ISO 8601 in UTC, as the spec declares (`format: date-time`, example
    `2020-02-06T12:17:43.202-08:00`) and as Xero's own SDK sends it (xero-python uses
    `datetime.isoformat()`); pyxero's RFC 1123 form also works. Seconds are truncated because
    Xero is "accurate to the second": rounding down re-fetches at most a second of changes
    rather than missing any.
    """
    if moment.tzinfo is None:
        raise ValueError("If-Modified-Since needs an aware datetime")
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def to_ms_date(moment: datetime) -> str:
    """The `/Date(ms+0000)/` form of an aware datetime (for fixtures and round trips)."""
    delta = moment.astimezone(UTC) - EPOCH
    return f"/Date({delta // timedelta(milliseconds=1)}+0000)/"
