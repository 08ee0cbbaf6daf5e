"""Forewarn skips: who skipped which customer from the chase run of which day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import Contact, ForewarnSkip


def record_skip(session: Session, *, connection_id: int, contact_id: int, run_date: date,
                by: str, now: datetime) -> bool:
    """Remember a skip; False when the customer was already skipped for that run."""
    values = {"connection_id": connection_id, "contact_id": contact_id, "run_date": run_date,
              "skipped_by": by, "skipped_at": now}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = pg_insert(ForewarnSkip).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(ForewarnSkip).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = insert(ForewarnSkip).values(values)  # type: ignore[assignment]
    return session.execute(statement.returning(ForewarnSkip.id)).first() is not None


def skips_for(session: Session, connection_id: int, run_date: date
              ) -> list[tuple[int, str, str | None]]:
    """(contact id, skipped by, customer name) of the run's skips, in the order made."""
    rows = session.execute(
        select(ForewarnSkip.contact_id, ForewarnSkip.skipped_by, Contact.name)
        .join(Contact, Contact.id == ForewarnSkip.contact_id)
        .where(ForewarnSkip.connection_id == connection_id, ForewarnSkip.run_date == run_date)
        .order_by(ForewarnSkip.id)
    ).all()
    return [(contact_id, by, name) for contact_id, by, name in rows]
