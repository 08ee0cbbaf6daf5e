"""Xero token upkeep: TokenSet, the host's TokenStore protocol and the refreshing TokenManager."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.xero.errors import XeroAuthError

if TYPE_CHECKING:
    from bot.xero.auth import XeroOAuth

Clock = Callable[[], datetime]
REFRESH_MARGIN = timedelta(minutes=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenSet:
    """One user's tokens. Secrets stay out of repr; the host encrypts `to_json()` at rest."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime
    id_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()
    token_type: str = "Bearer"

    @classmethod
    def from_response(cls, data: dict[str, Any], now: datetime) -> TokenSet:
        """Build from a token-endpoint JSON body; `expires_in` counts from `now`."""
        scope = data.get("scope") or ()
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            id_token=data.get("id_token"),
            expires_at=now + timedelta(seconds=int(data.get("expires_in", 1800))),
            # Xero sends a space-separated string; keeping a tuple avoids xero-python #68.
            scope=tuple(scope.split() if isinstance(scope, str) else scope),
            token_type=data.get("token_type", "Bearer"),
        )

    def expires_soon(self, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
        return now + margin >= self.expires_at

    def to_json(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "id_token": self.id_token,
                "expires_at": self.expires_at.astimezone(UTC).isoformat(),
                "scope": list(self.scope),
                "token_type": self.token_type,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data = json.loads(text)
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            id_token=data.get("id_token"),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            scope=tuple(data.get("scope") or ()),
            token_type=data.get("token_type", "Bearer"),
        )


class TokenStore(Protocol):
    """Where one connection's TokenSet lives; implemented by the host, never by this library."""

    def load(self) -> TokenSet: ...

    def refresh_locked(
        self, refresh: Callable[[TokenSet], TokenSet], rejected: str | None = None
    ) -> TokenSet:
        """Under a cross-process lock: re-read the stored set; if still expiring (or its access
        token is `rejected`), call refresh(current), persist the rotated set atomically, return
        it; if another process already refreshed, return the fresh one without calling refresh."""
        ...


class TokenManager:
    """Hands out a valid access token, refreshing through the TokenStore ahead of expiry."""

    def __init__(
        self,
        oauth: XeroOAuth,
        store: TokenStore,
        clock: Clock = utc_now,
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self._oauth = oauth
        self._store = store
        self._clock = clock
        self._margin = margin
        self._tokens: TokenSet | None = None
        self._rejected: str | None = None
        self._lock = threading.Lock()
        self.refreshes = 0

    def access_token(self) -> str:
        """A bearer token valid for at least `margin`; raises XeroAuthError if refresh is refused
        (the library only reports it: the host's guard decides what it means).

        Xero rotates refresh tokens: the old one dies once the new pair is issued. So the
        refresh happens inside `store.refresh_locked`, which persists the rotated set before we
        use the new access token — a crash after refreshing but before saving would otherwise
        strand the connection with a dead refresh token (Xero-NetStandard #184, #257).
        """
        with self._lock:
            if self._tokens is None:
                self._tokens = self._store.load()
            rejected = self._rejected == self._tokens.access_token
            if rejected or self._tokens.expires_soon(self._clock(), self._margin):
                try:
                    self._tokens = self._store.refresh_locked(
                        self._refresh_if_needed, rejected=self._rejected
                    )
                except BaseException:
                    # Re-read next time: the store (or another process) may have moved on.
                    # What a refused refresh means for the connection, the host decides.
                    self._tokens = None
                    raise
            return self._tokens.access_token

    def token_set(self) -> TokenSet:
        """The whole token set (access and refresh tokens), its access token valid for `margin`."""
        self.access_token()
        with self._lock:
            tokens = self._tokens
        if tokens is None:  # pragma: no cover - access_token() just set it
            raise XeroAuthError("no token set", reason="no_refresh_token")
        return tokens

    def reject(self, access_token: str) -> None:
        """Xero answered 401 TokenExpired for this token although our clock says it is valid
        (clock skew, or revoked early): the next access_token() refreshes instead of reusing it."""
        with self._lock:
            self._rejected = access_token

    def _refresh_if_needed(self, current: TokenSet) -> TokenSet:
        if not current.refresh_token:
            raise XeroAuthError("no refresh token stored", reason="no_refresh_token")
        self.refreshes += 1
        return self._oauth.refresh(current.refresh_token)
