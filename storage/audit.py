"""The audit trail: who did what to which workspace or connection, and when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.models import AuditEntry


def record_audit(
    session: Session,
    *,
    action: str,
    actor: str,
    workspace_id: int | None = None,
    connection_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one audit entry (never put secrets in `detail`)."""
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        action=action,
        actor=actor,
        workspace_id=workspace_id,
        connection_id=connection_id,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry
