"""Posting the daily digest once per organisation per day, and updating it in place.

`DigestPoster.post_digest(connection_id)` is what the scheduler calls at the organisation's
digest time: claim the day (a database unique key, so several `chaser serve` instances post
once), sync, build, post, record. `refresh(...)` re-renders a posted digest after a click or a
live change from Xero.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from bot.chasing.digest import PAGE_SIZE, Digest
from bot.chasing.digest_builder import DigestBuilder
from bot.chasing.ports import DigestPublisher, PostedMessage, PublishFailed
from bot.chasing.receivables import org_today
from storage import digests, repositories
from storage.db import session_scope
from storage.models import ConnectionStatus
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.chasing.sync_report import SyncReport

log = logging.getLogger(__name__)

# A claim still "posting" after this long belongs to a process that died mid-post: a sync of a
# large organisation takes minutes, so this is generous.
STALE_CLAIM = timedelta(minutes=30)

Outcome = Literal[
    "posted", "already_posted", "disabled", "no_channel", "disconnected", "not_found", "failed"
]


@dataclass(frozen=True)
class DigestPostResult:
    """What one post_digest call did; `reason` says why it did not post."""

    connection_id: int
    outcome: Outcome
    organisation: str | None = None
    digest_date: date | None = None
    message: PostedMessage | None = None
    reason: str | None = None
    sync: SyncReport | None = None


def instance_name() -> str:
    """This process, as recorded on the claims it makes (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class DigestPoster:
    """Posts each organisation's digest once a day and keeps posted digests up to date."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        publisher: DigestPublisher,
        *,
        sync: Callable[[int], SyncReport] | None = None,
        instance: str | None = None,
        stale_after: timedelta = STALE_CLAIM,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._publisher = publisher
        self._sync = sync
        self._instance = instance or instance_name()
        self._stale_after = stale_after
        self.builder = DigestBuilder(session_factory, clock)

    def post_digest(
        self, connection_id: int, *, day: date | None = None, force: bool = False
    ) -> DigestPostResult:
        """Sync, build and post the digest of `day` (the organisation's today by default)
        unless it is posted already; `force` posts again (a person asked for it).

        Exactly one caller per organisation and local day gets past the claim, however many
        instances run; a crash between claim and post is retried once the claim is stale.
        """
        now = self._clock()
        with session_scope(self._session_factory) as session:
            connection = repositories.get_connection(session, connection_id)
            if connection is None:
                return DigestPostResult(connection_id, "not_found")
            name = connection.tenant_name or connection.tenant_id
            settings = organisation_settings(session, connection_id)
            today = day or org_today(now, connection.timezone)
            if connection.status == ConnectionStatus.DISCONNECTED:
                return DigestPostResult(connection_id, "disconnected", name, today)
            if not settings.digest_enabled and not force:
                return DigestPostResult(connection_id, "disabled", name, today)
            channel = settings.digest_channel_id
            if not channel:
                return DigestPostResult(connection_id, "no_channel", name, today)
            team_id = connection.workspace.slack_team_id
        with session_scope(self._session_factory) as session:
            claim = digests.claim_digest(
                session, connection_id, today, claimed_by=self._instance, now=now,
                stale_after=self._stale_after, force=force,
            )
            if claim is None:
                return DigestPostResult(connection_id, "already_posted", name, today)
            claim_id = claim.id

        report = self._sync(connection_id) if self._sync is not None else None
        digest = self.builder.build(connection_id, today=today)
        assert digest is not None  # the connection was there a moment ago; deletes cascade
        try:
            message = self._publisher.post_digest(team_id, channel, digest)
        except Exception as exc:
            reason = exc.reason if isinstance(exc, PublishFailed) else f"unexpected: {exc!r}"
            self._record_failure(claim_id, reason)
            if not isinstance(exc, PublishFailed):
                raise
            log.warning("digest of connection %s not posted: %s", connection_id, reason)
            return DigestPostResult(connection_id, "failed", name, today, reason=reason,
                                    sync=report)
        self._record_posted(claim_id, message, digest)
        return DigestPostResult(connection_id, "posted", name, today, message=message,
                                sync=report)

    def _record_failure(self, claim_id: int, reason: str) -> None:
        with session_scope(self._session_factory) as session:
            digests.record_digest_outcome(session, claim_id, now=self._clock(), error=reason)

    def _record_posted(self, claim_id: int, message: PostedMessage, digest: Digest) -> None:
        now = self._clock()
        with session_scope(self._session_factory) as session:
            digests.record_digest_outcome(session, claim_id, now=now,
                                          message=(message.channel_id, message.ts))
            connection = repositories.get_connection(session, digest.connection_id)
            repositories.record_audit(
                session, action="digest.posted", actor="chaser-bot",
                workspace_id=connection.workspace_id if connection else None,
                connection_id=digest.connection_id,
                detail={"channel": message.channel_id, "ts": message.ts,
                        "date": digest.today.isoformat(), "overdue": digest.overdue.count},
                at=now,
            )

    # Updating a posted digest ------------------------------------------------------------------

    def refresh(self, channel_id: str, ts: str, *, page: int | None = None) -> Digest | None:
        """Re-render the posted digest in this message (at `page`, or the page it shows).

        Returns the digest shown, or None when the message is not a digest we posted.
        PublishFailed propagates: the caller tells the person or logs it.
        """
        with session_scope(self._session_factory) as session:
            if page is not None:
                digests.show_page(session, channel_id, ts, page, now=self._clock())
            row = digests.digest_by_message(session, channel_id, ts)
            if row is None:
                return None
            shown_page, connection_id = row.page, row.connection_id
            connection = repositories.get_connection(session, connection_id)
            team_id = connection.workspace.slack_team_id if connection else ""
        digest = self.builder.build(connection_id, page=shown_page, page_size=PAGE_SIZE)
        if digest is None:
            return None
        self._publisher.update_digest(team_id, PostedMessage(channel_id, ts), digest)
        return digest

    def refresh_latest(self, connection_id: int) -> Digest | None:
        """Re-render the organisation's latest posted digest (a live change from Xero)."""
        with session_scope(self._session_factory) as session:
            row = digests.latest_posted_digest(session, connection_id)
            if row is None or not row.channel_id or not row.message_ts:
                return None
            channel_id, ts = row.channel_id, row.message_ts
        return self.refresh(channel_id, ts)
