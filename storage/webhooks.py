"""Xero webhook events: recorded once by their key, then marked processed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import ConnectionStatus, XeroConnection, XeroWebhookEvent

_IN_CHUNK = 500


def insert_ignoring_duplicates(session: Session, table: Any) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL (a unique key decides)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    return insert(table)  # pragma: no cover - only SQLite and PostgreSQL are supported


def record_webhook_events(
    session: Session, events: Iterable[Mapping[str, Any]], *, now: datetime
) -> list[int]:
    """Insert events not seen before; returns the ids of the new rows only.

    `event_key` is unique, so a redelivered event (Xero retries; two instances may each get a
    copy) inserts nothing: whoever inserted it first owns processing it.
    """
    statement = insert_ignoring_duplicates(session, XeroWebhookEvent).returning(
        XeroWebhookEvent.id
    )
    new_ids: list[int] = []
    for event in events:
        found = session.execute(statement, [{**event, "received_at": now}]).scalar()
        if found is not None:
            new_ids.append(found)
    return new_ids


def webhook_events(session: Session, ids: Sequence[int]) -> list[XeroWebhookEvent]:
    """The unprocessed events among `ids`, oldest first."""
    found: list[XeroWebhookEvent] = []
    for start in range(0, len(ids), _IN_CHUNK):
        found += session.scalars(
            select(XeroWebhookEvent).where(
                XeroWebhookEvent.id.in_(ids[start : start + _IN_CHUNK]),
                XeroWebhookEvent.processed_at.is_(None),
            )
        )
    return sorted(found, key=lambda event: event.id)


def stale_webhook_event_ids(
    session: Session, *, received_before: datetime, limit: int = 1000
) -> list[int]:
    """Events still unprocessed long after they arrived (their process stopped): to retry."""
    return list(
        session.scalars(
            select(XeroWebhookEvent.id)
            .where(
                XeroWebhookEvent.processed_at.is_(None),
                XeroWebhookEvent.received_at < received_before,
            )
            .order_by(XeroWebhookEvent.id)
            .limit(limit)
        )
    )


def finish_webhook_events(
    session: Session, ids: Sequence[int], *, now: datetime, error: str | None = None
) -> None:
    """Mark events processed (with the error that ended their processing, if any)."""
    for start in range(0, len(ids), _IN_CHUNK):
        session.execute(
            update(XeroWebhookEvent)
            .where(XeroWebhookEvent.id.in_(ids[start : start + _IN_CHUNK]))
            .values(processed_at=now, error=error)
        )


def connected_ids_by_tenant(session: Session, tenant_ids: Iterable[str]) -> dict[str, list[int]]:
    """Connected connections per Xero tenant (one organisation may be in several workspaces)."""
    wanted = sorted({tenant_id.lower() for tenant_id in tenant_ids})
    found: dict[str, list[int]] = {}
    if not wanted:
        return found
    rows = session.execute(
        select(XeroConnection.tenant_id, XeroConnection.id)
        .where(
            XeroConnection.status == ConnectionStatus.CONNECTED,
            func.lower(XeroConnection.tenant_id).in_(wanted),
        )
        .order_by(XeroConnection.id)
    )
    for tenant_id, connection_id in rows:
        found.setdefault(tenant_id.lower(), []).append(connection_id)
    return found
