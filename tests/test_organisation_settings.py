"""Organisation settings are created once with defaults and changed field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from storage.settings import organisation_settings, update_organisation_settings


def test_settings_start_with_the_defaults(
    session_factory: sessionmaker[Session], connection_id: int
) -> None:
    with session_factory.begin() as session:
        settings = organisation_settings(session, connection_id)
        assert settings.digest_time == "09:00"
        assert settings.chase_days == "1,2,3,4,5"
        assert settings.minimum_chase_amount == Decimal("0")
        assert settings.wait_for_expected_date is True
        assert settings.chasing_paused is False
    with session_factory.begin() as session:  # asked again: the same row, not a second one
        assert organisation_settings(session, connection_id).digest_time == "09:00"


def test_settings_change_by_field_and_say_who(
    session_factory: sessionmaker[Session], connection_id: int
) -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    with session_factory.begin() as session:
        update_organisation_settings(session, connection_id, by="U123", now=at,
                                     digest_channel_id="C1", minimum_chase_amount=Decimal("50.5"))
    with session_factory.begin() as session:
        settings = organisation_settings(session, connection_id)
        assert (settings.digest_channel_id, settings.minimum_chase_amount) == (
            "C1", Decimal("50.5"))
        assert (settings.updated_by, settings.updated_at) == ("U123", at)


def test_unknown_settings_are_refused(
    session_factory: sessionmaker[Session], connection_id: int
) -> None:
    with session_factory.begin() as session, pytest.raises(ValueError, match="not an"):
        update_organisation_settings(session, connection_id, by=None, colour="red")
