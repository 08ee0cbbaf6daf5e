"""Posted-digest claims on SQLite and PostgreSQL: one claim per organisation and day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage import digests
from storage.db import session_scope
from storage.models import DigestMessage, DigestStatus

NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
DAY = date(2026, 12, 1)
STALE = timedelta(minutes=30)


def claim(session_factory, connection_id, *, by="a", now=NOW, force=False):
    with session_scope(session_factory) as session:
        row = digests.claim_digest(session, connection_id, DAY, claimed_by=by, now=now,
                                   stale_after=STALE, force=force)
        return row.id if row is not None else None


def set_status(session_factory, claim_id, status, **fields):
    with session_scope(session_factory) as session:
        row = session.get(DigestMessage, claim_id)
        row.status = status
        for name, value in fields.items():
            setattr(row, name, value)


def test_only_the_first_claim_of_a_day_wins(session_factory, connection_id):
    first = claim(session_factory, connection_id, by="instance-1")
    assert first is not None
    assert claim(session_factory, connection_id, by="instance-2") is None
    with session_scope(session_factory) as session:
        assert session.get(DigestMessage, first).claimed_by == "instance-1"


def test_a_claim_whose_process_died_is_taken_over_once_stale(session_factory, connection_id):
    first = claim(session_factory, connection_id, by="dead")
    assert claim(session_factory, connection_id, by="b", now=NOW + STALE / 2) is None
    later = NOW + STALE + timedelta(seconds=1)
    assert claim(session_factory, connection_id, by="b", now=later) == first
    assert claim(session_factory, connection_id, by="c", now=later) is None


def test_a_failed_post_may_be_retried_but_a_posted_one_never(session_factory, connection_id):
    first = claim(session_factory, connection_id)
    set_status(session_factory, first, DigestStatus.FAILED, error="ratelimited")
    assert claim(session_factory, connection_id, by="retry") == first
    set_status(session_factory, first, DigestStatus.POSTED, channel_id="C1", message_ts="1.2")
    assert claim(session_factory, connection_id, by="late", now=NOW + timedelta(days=1)) is None
    assert claim(session_factory, connection_id, by="person", force=True) == first


def test_a_posted_digest_is_found_by_its_message_and_as_the_latest(session_factory,
                                                                   connection_id):
    first = claim(session_factory, connection_id)
    set_status(session_factory, first, DigestStatus.POSTED, channel_id="C1", message_ts="1.2")
    with session_scope(session_factory) as session:
        assert digests.digest_by_message(session, "C1", "1.2").id == first
        assert digests.digest_by_message(session, "C1", "9.9") is None
        assert digests.latest_posted_digest(session, connection_id).id == first
