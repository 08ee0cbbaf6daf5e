"""Job leases: the database decides which instance runs each occurrence of a scheduled job.

A lease is a row keyed by (job_key, occurrence). The first instance whose INSERT lands owns
the occurrence; every other instance's INSERT does nothing and it skips the run. A holder that
crashes leaves an unfinished lease that expires: the next claim of that occurrence takes it
over with a conditional UPDATE, so exactly one claimant wins there too. The holder renews its
lease while it runs, so a slow run is never mistaken for a crashed one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import JobLease

# Short enough to be taken over well within a misfire grace, long enough to renew in time.
DEFAULT_LEASE_TTL = timedelta(minutes=5)
ERROR_LIMIT = 2000


def claim_lease(
    session: Session,
    job_key: str,
    occurrence: str,
    *,
    owner: str,
    now: datetime,
    ttl: timedelta = DEFAULT_LEASE_TTL,
) -> bool:
    """Take the lease on one occurrence; True when this owner may run it.

    Commit right after: the claim is only a decision once it is committed. Safe between
    processes on SQLite and PostgreSQL: the unique key arbitrates the insert, and the
    takeover UPDATE re-checks expiry in its WHERE clause, so two takeovers cannot both win.
    """
    values = {
        "job_key": job_key,
        "occurrence": occurrence,
        "owner": owner,
        "claimed_at": now,
        "expires_at": now + ttl,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = pg_insert(JobLease).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(JobLease).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = insert(JobLease).values(values)  # type: ignore[assignment]
    # RETURNING, not rowcount: the ORM's insert path does not report rowcount on every driver.
    if session.execute(statement.returning(JobLease.id)).first() is not None:
        return True
    taken_over = session.execute(
        update(JobLease)
        .where(
            JobLease.job_key == job_key,
            JobLease.occurrence == occurrence,
            JobLease.finished_at.is_(None),
            JobLease.expires_at < now,
        )
        .values(owner=owner, claimed_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return taken_over.rowcount == 1


def renew_lease(
    session: Session,
    job_key: str,
    occurrence: str,
    *,
    owner: str,
    now: datetime,
    ttl: timedelta = DEFAULT_LEASE_TTL,
) -> bool:
    """Push an unfinished lease's expiry forward; False when this owner no longer holds it."""
    return _update_held(session, job_key, occurrence, owner, expires_at=now + ttl)


def finish_lease(
    session: Session,
    job_key: str,
    occurrence: str,
    *,
    owner: str,
    now: datetime,
    outcome: str,
    error: str | None = None,
) -> bool:
    """Mark the run finished (never to be taken over); False when another owner holds it."""
    return _update_held(session, job_key, occurrence, owner, finished_at=now, outcome=outcome,
                        error=error[:ERROR_LIMIT] if error else None)


def _update_held(session: Session, job_key: str, occurrence: str, owner: str,
                 **values: object) -> bool:
    """Update an unfinished lease this owner holds; False when it holds none."""
    result = session.execute(
        update(JobLease)
        .where(
            JobLease.job_key == job_key,
            JobLease.occurrence == occurrence,
            JobLease.owner == owner,
            JobLease.finished_at.is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def get_lease(session: Session, job_key: str, occurrence: str) -> JobLease | None:
    """The lease row of one occurrence, if anyone claimed it."""
    return session.execute(
        select(JobLease).where(JobLease.job_key == job_key, JobLease.occurrence == occurrence)
    ).scalar_one_or_none()


def latest_leases(session: Session, job_key_prefix: str, limit: int = 20) -> list[JobLease]:
    """The most recent leases whose key starts with the prefix (for status and tests)."""
    return list(
        session.execute(
            select(JobLease)
            .where(JobLease.job_key.startswith(job_key_prefix, autoescape=True))
            .order_by(JobLease.occurrence.desc(), JobLease.id.desc())
            .limit(limit)
        ).scalars()
    )


def prune_leases(session: Session, *, before: datetime, prefix: str = "") -> int:
    """Delete finished leases claimed before `before` (whose key starts with `prefix`)."""
    statement = delete(JobLease).where(JobLease.finished_at.is_not(None),
                                       JobLease.claimed_at < before)
    if prefix:
        statement = statement.where(JobLease.job_key.startswith(prefix, autoescape=True))
    result = session.execute(statement)
    return result.rowcount or 0
