"""Once-only keys: the database, not one process's memory, decides who performs a side effect."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import OnceKey


def claim_once(session: Session, scope: str, key: str, *, now: datetime | None = None) -> bool:
    """True for the first caller to claim (scope, key), False for every later one.

    The claim is an INSERT ... ON CONFLICT DO NOTHING: on PostgreSQL a concurrent claimer
    waits for the first transaction and then sees the conflict, so exactly one wins; commit
    the session promptly. Keys longer than the column are cut (they are ids, not prose).
    """
    dialect = session.get_bind().dialect.name
    values = {"scope": scope, "key": key[:255], "created_at": now or datetime.now(UTC)}
    if dialect == "postgresql":
        statement = pg_insert(OnceKey).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(OnceKey).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = insert(OnceKey).values(**values)
    # RETURNING, not rowcount: psycopg reports -1 rows for INSERT ... ON CONFLICT DO NOTHING.
    return session.execute(statement.returning(OnceKey.key)).first() is not None


def claim_many(session: Session, scope: str, keys: list[str], *,
               now: datetime | None = None) -> set[str]:
    """Claim several keys in one statement; returns the ones this call claimed first.

    Keys are claimed in the order given; a key repeated in `keys` is claimed once."""
    unique = list(dict.fromkeys(key[:255] for key in keys))
    if not unique:
        return set()
    at = now or datetime.now(UTC)
    rows = [{"scope": scope, "key": key, "created_at": at} for key in unique]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = pg_insert(OnceKey).values(rows).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(OnceKey).values(rows).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = insert(OnceKey).values(rows)
    return set(session.scalars(statement.returning(OnceKey.key)))


def release_once(session: Session, scope: str, key: str) -> None:
    """Give a claim back (the side effect failed before it happened, so it may be retried)."""
    session.execute(delete(OnceKey).where(OnceKey.scope == scope, OnceKey.key == key[:255]))


def prune_once_keys(session: Session, *, before: datetime, scope: str | None = None) -> int:
    """Forget claims older than `before` (Slack retries stop after minutes; incidents end)."""
    statement = delete(OnceKey).where(OnceKey.created_at < before)
    if scope is not None:
        statement = statement.where(OnceKey.scope == scope)
    return session.execute(statement).rowcount or 0
