"""Pending OAuth authorisations: single-use, expiring states stored only as hashes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import OAuthState


def hash_oauth_state(state: str) -> str:
    """The stored form of an OAuth state parameter."""
    return hashlib.sha256(state.encode()).hexdigest()


def create_oauth_state(
    session: Session,
    *,
    state: str,
    expires_at: datetime,
    code_verifier_ciphertext: str | None = None,
    workspace_id: int | None = None,
    slack_user_id: str | None = None,
    now: datetime | None = None,
) -> OAuthState:
    """Remember a pending authorisation; only the state's hash is stored."""
    row = OAuthState(
        state_hash=hash_oauth_state(state),
        code_verifier_ciphertext=code_verifier_ciphertext,
        workspace_id=workspace_id,
        slack_user_id=slack_user_id,
        created_at=now or datetime.now(UTC),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def consume_oauth_state(session: Session, state: str, now: datetime) -> OAuthState | None:
    """Use up a pending state: returns it once if unexpired, else None (replays, forgeries).

    The single conditional UPDATE is what makes it single-use across processes: only one
    caller can move used_at from NULL.
    """
    state_hash = hash_oauth_state(state)
    result = session.execute(
        update(OAuthState)
        .where(
            OAuthState.state_hash == state_hash,
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return session.scalars(
        select(OAuthState)
        .where(OAuthState.state_hash == state_hash)
        .execution_options(populate_existing=True)
    ).one()
