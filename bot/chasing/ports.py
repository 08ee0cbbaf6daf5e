"""The ports chasing works through: Notifier (people), XeroGateway (Xero), Clock; and events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from email.message import Message as MimeMessage
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.messages import TERMINAL, Message

if TYPE_CHECKING:
    from bot.chasing.digest import Digest
    from bot.chasing.escalation_view import EscalationView
    from bot.chasing.forewarn_view import ForewarnView
    from bot.xero.models import ContactPage, Invoice, InvoicePage, Organisation, User
    from bot.xero.tokens import TokenSet

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]  # timezone-aware "now"


class XeroApi(Protocol):
    """The calls chasing makes on one organisation (bot.xero.client.XeroClient is one)."""

    api_calls: int
    throttled: int

    def organisation(self) -> Organisation: ...

    def users(self, where: str | None = None) -> list[User]: ...

    def iter_contact_pages(self, modified_since: datetime | None = None,
                           include_archived: bool = True, summary_only: bool = False,
                           page_size: int = ...,
                           ids: Sequence[str] | None = None) -> Iterator[ContactPage]: ...

    def iter_invoice_pages(self, modified_since: datetime | None = None,
                           where: str | None = ..., page_size: int = ...,
                           statuses: Sequence[str] | None = None, summary_only: bool = False,
                           order: str | None = ...,
                           ids: Sequence[str] | None = None) -> Iterator[InvoicePage]: ...

    def set_expected_payment_date(self, invoice_id: str, expected: date | None, *,
                                  idempotency_key: str | None = None) -> Invoice: ...

    def online_invoice_url(self, invoice_id: str) -> str | None: ...

    def close(self) -> None: ...


class XeroGateway(Protocol):
    """Opens Xero for a connection; the composition root implements it (tokens, HTTP, pacing).

    Each call returns a context manager that closes the client's sockets when the work ends.
    Failures come out as the library's typed errors (bot.xero.errors) or, when the stored
    connection cannot be used, as a ConnectionNotUsable: the ConnectionGuard decides the rest.
    """

    def connection(self, connection_id: int) -> AbstractContextManager[XeroApi]:
        """A client for a stored connection, its tokens refreshed under the database lock."""
        ...

    def with_token(self, tenant_id: str,
                   access_token: str) -> AbstractContextManager[XeroApi]:
        """A client for a token just issued by consent (nothing stored yet)."""
        ...

    def grant(self, connection_id: int) -> TokenSet:
        """A stored connection's tokens with a valid access token (refreshed and saved)."""
        ...

E = TypeVar("E")


@dataclass(frozen=True)
class ConnectionLost:
    """A connection moved to needs_reconnect: admins get a Reconnect link, chasing pauses."""

    team_id: str  # the Slack team (or the CLI pseudo-workspace) that owns the connection
    workspace_id: int
    connection_id: int
    tenant_id: str
    tenant_name: str | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class OrganisationConnected:
    """One organisation connected (or reconnected) by a person."""

    team_id: str
    slack_user_id: str | None
    connection_id: int
    tenant_name: str
    reconnected: bool


@dataclass(frozen=True)
class ConnectRefused:
    """An organisation was not kept after consent, with the reason and what to do."""

    team_id: str
    slack_user_id: str | None
    tenant_name: str
    reason: str
    what_to_do: Message  # names a command: the notifier renders it for its surface


class Notifier(Protocol):
    """How chasing tells people things; the Slack layer implements it, chasing never sees Slack."""

    def connection_lost(self, event: ConnectionLost) -> None: ...

    def organisation_connected(self, event: OrganisationConnected) -> None: ...

    def connect_refused(self, event: ConnectRefused) -> None: ...


class LoggingNotifier:
    """The default when no Slack is wired (CLI, tests): each event becomes one log line."""

    def connection_lost(self, event: ConnectionLost) -> None:
        log.warning(
            "Xero connection %s (%s) needs reconnecting: %s",
            event.connection_id, event.tenant_name or event.tenant_id, event.reason,
        )

    def organisation_connected(self, event: OrganisationConnected) -> None:
        log.info("Xero organisation %s connected (connection %s)",
                 event.tenant_name, event.connection_id)

    def connect_refused(self, event: ConnectRefused) -> None:
        log.warning("Xero organisation %s not connected: %s %s",
                    event.tenant_name, event.reason, event.what_to_do.render(TERMINAL))


@dataclass
class RecordingNotifier:
    """A Notifier that keeps every event in order, for tests and the demo."""

    events: list[object] = field(default_factory=list)

    def connection_lost(self, event: ConnectionLost) -> None:
        self.events.append(event)

    def organisation_connected(self, event: OrganisationConnected) -> None:
        self.events.append(event)

    def connect_refused(self, event: ConnectRefused) -> None:
        self.events.append(event)

    def of_type(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


# --- Alerts from live Xero changes (payments received, large invoices overdue) ----------------


@dataclass(frozen=True)
class AlertCustomer:
    """Whose alert thread an alert goes in, and where their organisation is."""

    team_id: str
    connection_id: int
    tenant_name: str | None
    short_code: str | None  # for "View in Xero" deep links
    name: str | None
    xero_contact_id: str | None


@dataclass(frozen=True)
class PaymentReceived:
    """A payment Xero recorded on an invoice chaser-bot was chasing."""

    customer: AlertCustomer
    xero_invoice_id: str
    invoice_number: str | None
    amount: Decimal
    currency: str | None
    paid_on: date
    days_after_due: int | None  # negative: paid before the due date; None: no due date
    still_due: Decimal


@dataclass(frozen=True)
class InvoiceOverdue:
    """An invoice at or above the organisation's alert amount has just become overdue."""

    customer: AlertCustomer
    xero_invoice_id: str
    invoice_number: str | None
    amount_due: Decimal
    currency: str | None
    due_date: date
    days_overdue: int
    threshold: Decimal
    base_currency: str | None


Alert = PaymentReceived | InvoiceOverdue


class AlertPoster(Protocol):
    """Posts alerts into a channel, one thread per customer; the Slack layer implements it."""

    def start_customer_thread(self, channel_id: str, customer: AlertCustomer) -> str:
        """Post the customer's parent message; returns its ts."""
        ...

    def post_alert(self, channel_id: str, thread_ts: str, alert: Alert) -> str:
        """Post one alert in the customer's thread; returns its ts."""
        ...


@dataclass
class RecordingAlertPoster:
    """An AlertPoster that keeps what it was asked to post, for tests and the demo."""

    threads: list[tuple[str, AlertCustomer]] = field(default_factory=list)
    alerts: list[tuple[str, str, Alert]] = field(default_factory=list)

    def start_customer_thread(self, channel_id: str, customer: AlertCustomer) -> str:
        self.threads.append((channel_id, customer))
        return f"{len(self.threads)}.000100"

    def post_alert(self, channel_id: str, thread_ts: str, alert: Alert) -> str:
        self.alerts.append((channel_id, thread_ts, alert))
        return f"{len(self.alerts)}.000200"


# Email ----------------------------------------------------------------------------------


class MailUnavailable(Exception):
    """The mail server cannot be reached or refused our login: nothing went; stop this run."""


class MailRefused(Exception):
    """The server refused this message (or every recipient): nothing went; retry next run."""


class MailUncertain(Exception):
    """The connection broke after the message was handed over: it may have been delivered."""


class MailConnection(Protocol):
    """One open connection to the mail server, reused for a whole run."""

    def send(self, message: MimeMessage) -> None:
        """Hand one message over; raises MailRefused, MailUncertain or MailUnavailable."""


class Mailer(Protocol):
    """Where reminder emails go: SMTP, or an outbox folder of .eml files (bot/chasing/mailer)."""

    @property
    def description(self) -> str:
        """Where mail goes, for a person ("smtp.example.com:587", "the folder data/outbox")."""

    def connect(self) -> AbstractContextManager[MailConnection]:
        """Open a connection (raises MailUnavailable); closed when the block ends."""


class OnlineInvoiceLinks(Protocol):
    """Xero's customer-facing link for an invoice, or None when it cannot be had now."""

    def url(self, connection_id: int, invoice_id: int, xero_invoice_id: str) -> str | None: ...


# Slack cards: escalation approvals and the forewarn --------------------------------------


@dataclass(frozen=True)
class CardRef:
    """Where one posted card lives, so it can be updated in place."""

    channel_id: str
    ts: str


class SlackCards(Protocol):
    """How chasing shows approval cards and forewarns; the Slack layer renders and posts them.

    `destination` is a channel id or a user id (a DM); `team_id` picks the workspace's token.
    """

    def post_escalation(self, team_id: str, destination: str, view: EscalationView
                        ) -> CardRef: ...

    def update_escalation(self, team_id: str, card: CardRef, view: EscalationView) -> None: ...

    def post_forewarn(self, team_id: str, channel_id: str, view: ForewarnView) -> CardRef: ...

    def update_forewarn(self, team_id: str, card: CardRef, view: ForewarnView) -> None: ...


# The digest's way to Slack ------------------------------------------------------------------


@dataclass(frozen=True)
class PostedMessage:
    """Where a message was posted: its channel and Slack's ts (its id within the channel)."""

    channel_id: str
    ts: str


class PublishFailed(Exception):
    """The message could not be posted or updated; `reason` is Slack's error code or a line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DigestPublisher(Protocol):
    """Posts a digest and updates it in place; the Slack layer implements it (PublishFailed)."""

    def post_digest(self, team_id: str, channel_id: str, digest: Digest) -> PostedMessage: ...

    def update_digest(self, team_id: str, message: PostedMessage, digest: Digest) -> None: ...
