"""Organisation settings: read with defaults, created once per connection, updated by field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import OrganisationSettings

# Settings a person may change; everything else on the row is bookkeeping.
EDITABLE_FIELDS = frozenset(
    column.key
    for column in inspect(OrganisationSettings).columns
    if column.key not in {"connection_id", "updated_at", "updated_by"}
)


def organisation_settings(session: Session, connection_id: int) -> OrganisationSettings:
    """The connection's settings row, created with the defaults the first time it is asked for.

    Safe when two processes ask at once: the insert does nothing if the row already exists.
    """
    row = session.get(OrganisationSettings, connection_id)
    if row is not None:
        return row
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = pg_insert(OrganisationSettings).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(OrganisationSettings).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = insert(OrganisationSettings)
    session.execute(statement.values(connection_id=connection_id))
    return session.execute(
        select(OrganisationSettings)
        .where(OrganisationSettings.connection_id == connection_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def update_organisation_settings(
    session: Session,
    connection_id: int,
    *,
    by: str | None,
    now: datetime | None = None,
    **changes: Any,
) -> OrganisationSettings:
    """Change the named settings; unknown names raise ValueError (a programming error)."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not an organisation setting: {', '.join(sorted(unknown))}")
    row = organisation_settings(session, connection_id)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = now or datetime.now(UTC)
    row.updated_by = by
    session.flush()
    return row
