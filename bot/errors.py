"""One error hierarchy: UserFacingError (a Message for a person + a short code) and its kinds.

Domain code raises these; each surface's one funnel (the CLI's `friendly`, the Slack error
handler, the OAuth callback page) renders `error.text(surface)` and nothing else. Errors from
the Xero library are mapped into these kinds at the chasing edge (bot/chasing/connection_guard).
"""

from __future__ import annotations

from typing import ClassVar

from bot.messages import TERMINAL, Message, Surface, plain


class UserFacingError(Exception):
    """A failure with a message fit to show a person as is, and a short `code` for scripts."""

    code: ClassVar[str] = "error"
    retry_later: ClassVar[bool] = False  # a transient fault: the same action may work later

    def __init__(self, message: Message | str, *, detail: str | None = None,
                 record: str | None = None) -> None:
        self.message = message if isinstance(message, Message) else plain(message)
        self.detail = detail  # for logs only: never shown to a person
        self._record = record
        super().__init__(detail or self.message.render(TERMINAL))

    def text(self, surface: Surface) -> str:
        """The one line a person on `surface` reads."""
        return self.message.render(surface)

    @property
    def record(self) -> str:
        """What happened, in words that suit every surface (no command): for stored state
        such as a sync's last error, which both `chaser status` and Slack show later."""
        return self._record or self.text(TERMINAL)


class ConfigurationError(UserFacingError):
    """Our own setup is wrong (a setting, a secret): the operator fixes it, no data changes."""

    code = "configuration"


class BadInput(UserFacingError):
    """What a person typed (an option, an argument, a form field) cannot be used; the message
    says which and what to type instead. The CLI exits 2 for it, as for a wrong option."""

    code = "bad_input"


class NotFound(UserFacingError):
    """The thing asked for is not here (or no longer in Xero)."""

    code = "not_found"


class RetryLater(UserFacingError):
    """A transient fault (Xero down, rate limited, an unreadable answer): nothing changed."""

    code = "retry_later"
    retry_later = True


class XeroRefused(UserFacingError):
    """Xero understood the request and refused it, in its own words (`xero_messages`)."""

    code = "xero_refused"

    def __init__(self, message: Message | str, *, xero_messages: tuple[str, ...] = (),
                 detail: str | None = None, record: str | None = None) -> None:
        super().__init__(message, detail=detail, record=record)
        self.xero_messages = xero_messages


class ConnectionNotUsable(UserFacingError):
    """The organisation's connection cannot make Xero calls; `code` says why."""

    code = "not_connected"

    def __init__(self, message: Message | str, *, connection_id: int | None = None,
                 detail: str | None = None, record: str | None = None) -> None:
        super().__init__(message, detail=detail, record=record)
        self.connection_id = connection_id


class NeedsReconnect(ConnectionNotUsable):
    """Xero refused the connection's grant or tenant: an admin must connect it again."""

    code = "needs_reconnect"


class Disconnected(ConnectionNotUsable):
    """Someone disconnected the organisation on purpose."""

    code = "disconnected"
