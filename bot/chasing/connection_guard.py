"""The one place that decides what a Xero failure means for a connection, and says it to people.

Like Home Assistant's update coordinator: the Xero library only raises typed errors
(bot.xero.errors); each service wraps its Xero work for one connection in a ConnectionGuard,
which maps every error to a UserFacingError kind and, only for a refused grant or tenant,
moves the connection to needs_reconnect and tells admins once. No other code changes a
connection's status because of Xero.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING

from bot import messages
from bot.chasing.ports import Clock, ConnectionLost, Notifier
from bot.errors import (
    ConfigurationError,
    ConnectionNotUsable,
    Disconnected,
    NeedsReconnect,
    NotFound,
    RetryLater,
    UserFacingError,
    XeroRefused,
)
from bot.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroIncompleteRead,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroTransportError,
    XeroUnexpectedAnswer,
    XeroUnreadableAnswer,
    XeroValidationError,
)
from storage import repositories
from storage.db import session_scope
from storage.models import ConnectionStatus, XeroConnection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# OAuth errors that blame our app's own id or secret (RFC 6749 §5.2), not the organisation.
CLIENT_FAULTS = frozenset({"invalid_client", "unauthorized_client"})


def unavailable(connection: XeroConnection | None) -> ConnectionNotUsable:
    """The error for a connection that cannot make Xero calls, by its stored state."""
    if connection is None:
        return ConnectionNotUsable(messages.not_connected(),
                                   record=messages.RECORD_NOT_CONNECTED)
    if connection.status == ConnectionStatus.DISCONNECTED:
        return Disconnected(messages.disconnected(connection.tenant_name),
                            connection_id=connection.id, record=messages.RECORD_DISCONNECTED)
    reason = connection.status_reason
    if connection.status == ConnectionStatus.CONNECTED:  # connected, but no tokens stored
        reason = messages.refusal_reason("no_refresh_token")
    return NeedsReconnect(messages.needs_reconnect(connection.tenant_name, reason),
                          connection_id=connection.id,
                          record=messages.record_needs_reconnect(reason))


def user_error(exc: XeroError) -> UserFacingError:
    """What any Xero failure that is not about the connection's grant means for a person."""
    detail = str(exc)  # the library's details never carry a response body
    if isinstance(exc, XeroAuthError) and exc.reason in CLIENT_FAULTS:
        return ConfigurationError(messages.xero_credentials_refused(exc.reason), detail=detail,
                                  record=messages.record_credentials_refused(exc.reason))
    if isinstance(exc, XeroRateLimited):
        what = messages.XERO_DAILY_LIMIT if exc.problem == "day" else messages.XERO_BUSY
        return RetryLater(messages.xero_retry_later(what), detail=detail)
    if isinstance(exc, XeroUnreadableAnswer | XeroIncompleteRead):
        return RetryLater(messages.xero_retry_later(messages.XERO_UNREADABLE), detail=detail)
    if isinstance(exc, XeroTransportError):
        return RetryLater(messages.xero_retry_later(messages.XERO_UNREACHABLE), detail=detail)
    if isinstance(exc, XeroServerError):
        return RetryLater(messages.xero_retry_later(messages.XERO_UNAVAILABLE), detail=detail)
    if isinstance(exc, XeroValidationError):
        return XeroRefused(messages.xero_said(exc.messages),
                           xero_messages=tuple(exc.messages), detail=detail)
    if isinstance(exc, XeroNotFound):
        return NotFound(messages.XERO_NOT_FOUND, detail=detail)
    if isinstance(exc, XeroUnexpectedAnswer):
        return UserFacingError(messages.plain(messages.XERO_UNREADABLE + "."), detail=detail)
    return UserFacingError(messages.xero_failed(exc.status), detail=detail)


class ConnectionGuard:
    """Guards one connection's Xero work: `with guard: ...` turns any failure into the one
    UserFacingError it means, deciding (once, here) whether the connection is lost."""

    def __init__(self, connection_id: int, *, session_factory: sessionmaker[Session],
                 clock: Clock, notifier: Notifier) -> None:
        self.connection_id = connection_id
        self._factory = session_factory
        self._clock = clock
        self._notifier = notifier

    def __enter__(self) -> ConnectionGuard:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, XeroError):
            raise self.decide(exc) from exc

    def decide(self, exc: XeroError) -> UserFacingError:
        """The UserFacingError a Xero failure means; a refused grant or tenant loses the
        connection (needs_reconnect, one ConnectionLost) unless it is our own app's fault."""
        if isinstance(exc, XeroAuthError) and exc.reason not in CLIENT_FAULTS:
            return self.lose(exc.reason, detail=str(exc))
        return user_error(exc)

    def lose(self, reason: str, *, detail: str | None = None) -> ConnectionNotUsable:
        """Move a connected connection to needs_reconnect and tell admins, once.

        The row lock makes the check-and-set atomic across processes, so when several workers
        hit the same revoked grant at once admins still get exactly one ConnectionLost. A
        connection that is no longer connected (disconnected on purpose, removed, already
        lost) is left as it is, and the error says its actual state.
        """
        now, phrase = self._clock(), messages.refusal_reason(reason)
        with session_scope(self._factory) as session:
            connection = repositories.lock_connection_for_update(session, self.connection_id)
            if connection is None or connection.status != ConnectionStatus.CONNECTED:
                error = unavailable(connection)
                error.detail = detail
                return error
            repositories.set_connection_status(
                session, connection.id, ConnectionStatus.NEEDS_RECONNECT, reason=phrase, now=now
            )
            repositories.record_audit(
                session, actor="xero", action="connection.needs_reconnect",
                workspace_id=connection.workspace_id, connection_id=connection.id,
                detail={"reason": phrase}, at=now,
            )
            event = ConnectionLost(
                team_id=connection.workspace.slack_team_id,
                workspace_id=connection.workspace_id,
                connection_id=connection.id,
                tenant_id=connection.tenant_id,
                tenant_name=connection.tenant_name,
                reason=phrase,
                at=now,
            )
            name = connection.tenant_name
        # Told after the commit: a rolled-back transition must not page anyone. A notifier
        # that fails must not hide the Xero error it was reporting.
        try:
            self._notifier.connection_lost(event)
        except Exception:
            log.exception("Could not tell admins that connection %s needs reconnecting",
                          self.connection_id)
        return NeedsReconnect(messages.needs_reconnect(name, phrase),
                              connection_id=self.connection_id, detail=detail,
                              record=messages.record_needs_reconnect(phrase))
