"""Connection incidents and once-only direct messages: the database decides who was told.

Every write here starts its transaction with the write itself (no read first), so on SQLite
two processes queue on the write lock instead of failing to upgrade a read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import ConnectionIncident, SlackNotice


def open_incident(
    session: Session, connection_id: int, *, reason: str | None, now: datetime
) -> tuple[int, bool]:
    """The connection's open incident, opened now if there is none: (its id, opened now?).

    At most one incident is open per connection (a unique key on open_connection_id), so two
    processes noticing the same lost connection share one incident.
    """
    incident = ConnectionIncident(
        connection_id=connection_id, open_connection_id=connection_id, reason=reason,
        started_at=now,
    )
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:
        existing = session.scalars(
            select(ConnectionIncident.id).where(
                ConnectionIncident.open_connection_id == connection_id
            )
        ).one()
        return existing, False
    return incident.id, True


def resolve_incident(session: Session, connection_id: int, *, now: datetime) -> int | None:
    """Close the connection's open incident; its id, or None when none was open (or another
    process closed it first). One UPDATE: the database decides who closed it."""
    closed = session.execute(
        update(ConnectionIncident)
        .where(ConnectionIncident.open_connection_id == connection_id)
        .values(open_connection_id=None, resolved_at=now)
        .returning(ConnectionIncident.id)
        .execution_options(synchronize_session=False)
    ).scalars().first()
    return closed


def has_open_incident(session: Session, connection_id: int) -> bool:
    """Whether the connection has an incident not yet resolved."""
    return session.scalar(
        select(ConnectionIncident.id).where(ConnectionIncident.open_connection_id == connection_id)
    ) is not None


def claim_notice(
    session: Session,
    notice_key: str,
    *,
    connection_id: int | None,
    slack_user_id: str | None,
    now: datetime,
) -> int | None:
    """Claim the one sending of the message keyed `notice_key`; None if it was claimed before.

    Commit right after, then send, then mark_notice_sent (or release_notice if sending failed,
    so a later attempt may send it).
    """
    notice = SlackNotice(notice_key=notice_key, connection_id=connection_id,
                         slack_user_id=slack_user_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(notice)
    except IntegrityError:
        return None
    return notice.id


def mark_notice_sent(
    session: Session, notice_id: int, *, channel_id: str, message_ts: str, now: datetime
) -> None:
    """Record where the claimed message went."""
    session.execute(
        update(SlackNotice).where(SlackNotice.id == notice_id)
        .values(channel_id=channel_id, message_ts=message_ts, sent_at=now)
        .execution_options(synchronize_session=False)
    )


def release_notice(session: Session, notice_id: int) -> None:
    """Give up a claim whose message could not be sent."""
    session.execute(delete(SlackNotice).where(SlackNotice.id == notice_id))


def notified_users(session: Session, key_prefix: str) -> list[str]:
    """The users a message keyed `key_prefix…` reached (sent, not just claimed), in order."""
    return list(
        session.scalars(
            select(SlackNotice.slack_user_id)
            .where(SlackNotice.notice_key.startswith(key_prefix, autoescape=True),
                   SlackNotice.sent_at.is_not(None), SlackNotice.slack_user_id.is_not(None))
            .order_by(SlackNotice.id)
        )
    )
