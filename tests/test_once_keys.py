"""Once-only keys decide who performs a side effect, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.db import session_scope
from storage.once import claim_once

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_once_key_is_claimed_by_the_first_caller_only(session_factory):
    with session_scope(session_factory) as session:
        assert claim_once(session, "slack_request", "trigger:1", now=T0)
    with session_scope(session_factory) as session:
        assert not claim_once(session, "slack_request", "trigger:1", now=T0)
        assert claim_once(session, "slack_request", "trigger:2", now=T0)
