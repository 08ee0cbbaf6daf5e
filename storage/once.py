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
    # One Core statement with the rows as parameters: SQLAlchemy compiles it once and sends
    # the rows as one multi-row INSERT ("insertmanyvalues"). A statement with the rows in its
    # VALUES clause is compiled anew on every call (most of a claim's CPU time).
    statement = _CLAIM_MANY.get(session.get_bind().dialect.name, _PLAIN_INSERT)
    return set(session.connection().execute(statement, rows).scalars())


_TABLE = OnceKey.__table__
_PLAIN_INSERT = insert(_TABLE).returning(_TABLE.c.key)  # pragma: no cover - unsupported
_CLAIM_MANY = {
    "postgresql": pg_insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.key),
    "sqlite": sqlite_insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.key),
}


def release_once(session: Session, scope: str, key: str) -> None:
    """Give a claim back (the side effect failed before it happened, so it may be retried)."""
    session.execute(delete(OnceKey).where(OnceKey.scope == scope, OnceKey.key == key[:255]))


def prune_once_keys(session: Session, *, before: datetime, scope: str | None = None) -> int:
    """Forget claims older than `before` (Slack retries stop after minutes; incidents end)."""
    statement = delete(OnceKey).where(OnceKey.created_at < before)
    if scope is not None:
        statement = statement.where(OnceKey.scope == scope)
    return session.execute(statement).rowcount or 0
