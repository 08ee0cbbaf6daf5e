"""The composition root: the only place that builds concrete classes and wires the services.

Services take what they use (a session factory, a clock, a notifier, the XeroGateway port);
this module builds the real ones from settings — httpx clients, token stores, XeroClient — and
hands each service its share. Nothing in bot/chasing imports it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.xero.auth import utc_now
from bot.xero.pacing import TenantPacers

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from sqlalchemy.orm import Session, sessionmaker

    from bot.chasing.connections import ConnectService
    from bot.chasing.digest_actions import DigestActions
    from bot.chasing.digest_post import DigestPoster
    from bot.chasing.escalation import EscalationService
    from bot.chasing.expected_dates import ExpectedDates
    from bot.chasing.forewarn import ForewarnService
    from bot.chasing.permissions import Permissions, WorkspaceDirectory
    from bot.chasing.ports import AlertPoster, Notifier
    from bot.chasing.reminders import ReminderSender
    from bot.chasing.sync import SyncService
    from bot.chasing.sync_report import SyncReport
    from bot.chasing.webhooks import ProcessReport, WebhookInbox, WebhookWorker
    from bot.config import Settings
    from bot.secrets import SecretBox
    from bot.slack_clients import SlackClients
    from bot.xero.auth import TokenManager, TokenSet, XeroOAuth
    from bot.xero.client import XeroClient


class XeroConnections:
    """The XeroGateway port, built for real: one XeroClient per piece of work, closed after it.

    Tokens come from the connection's row through DbTokenStore and TokenManager (refreshed
    under the database lock); every client of one organisation shares its tenant's Pacer.
    """

    def __init__(self, *, api_url: str, session_factory: sessionmaker[Session], box: SecretBox,
                 oauth: XeroOAuth, clock: Callable[[], datetime], pacers: TenantPacers,
                 retry_sleep: Callable[[float], None] = time.sleep) -> None:
        self._api_url = api_url
        self._factory = session_factory
        self._box = box
        self._oauth = oauth
        self._clock = clock
        self._pacers = pacers
        self._retry_sleep = retry_sleep  # tests back off without waiting

    @contextlib.contextmanager
    def connection(self, connection_id: int) -> Iterator[XeroClient]:
        """A client for a stored, connected connection (ConnectionNotUsable otherwise)."""
        from bot.xero.client import XeroClient

        tenant_id, manager = self._token_manager(connection_id)
        with XeroClient(self._api_url, manager.access_token, tenant_id,
                        pacer=self._pacers.for_tenant(tenant_id), sleep=self._retry_sleep,
                        token_rejected=manager.reject) as client:
            yield client

    @contextlib.contextmanager
    def with_token(self, tenant_id: str, access_token: str) -> Iterator[XeroClient]:
        """A client for a token consent just issued (nothing stored yet)."""
        from bot.xero.client import XeroClient

        with XeroClient(self._api_url, lambda: access_token, tenant_id,
                        pacer=self._pacers.for_tenant(tenant_id),
                        sleep=self._retry_sleep) as client:
            yield client

    def grant(self, connection_id: int) -> TokenSet:
        """A connection's token set with a valid access token, refreshed and saved if needed."""
        return self._token_manager(connection_id)[1].token_set()

    def _token_manager(self, connection_id: int) -> tuple[str, TokenManager]:
        from bot.chasing.connection_guard import unavailable
        from bot.chasing.tokens import DbTokenStore
        from bot.xero.auth import TokenManager
        from storage.db import session_scope
        from storage.models import ConnectionStatus, XeroConnection

        with session_scope(self._factory) as session:
            connection = session.get(XeroConnection, connection_id)
            if connection is None or connection.status != ConnectionStatus.CONNECTED:
                raise unavailable(connection)
            tenant_id = connection.tenant_id
        store = DbTokenStore(self._factory, self._box, connection_id, clock=self._clock)
        return tenant_id, TokenManager(self._oauth, store, self._clock)


@dataclass
class AppDeps:
    """The long-lived collaborators one running chaser-bot shares, and the services built on
    them. Only the composition root (the CLI, the Slack app's factory) holds this container:
    services get their own parts from the methods below."""

    settings: Settings
    session_factory: sessionmaker[Session]
    box: SecretBox
    oauth: XeroOAuth
    notifier: Notifier
    clock: Callable[[], datetime] = field(default=utc_now)
    pacers: TenantPacers = field(default_factory=TenantPacers)
    retry_sleep: Callable[[float], None] = field(default=time.sleep)
    xero: XeroConnections = field(init=False)

    def __post_init__(self) -> None:
        self.xero = XeroConnections(
            api_url=self.settings.xero_api_url, session_factory=self.session_factory,
            box=self.box, oauth=self.oauth, clock=self.clock, pacers=self.pacers,
            retry_sleep=self.retry_sleep,
        )

    def close(self) -> None:
        """Close what lives as long as the context: the OAuth client and the database pool."""
        self.oauth.close()
        self.session_factory.kw["bind"].dispose()

    def __enter__(self) -> AppDeps:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def sync_service(self, **options: Any) -> SyncService:
        """Sync, wired to this database and Xero (options: page_size, reconcile_every…)."""
        from bot.chasing.sync import SyncService

        return SyncService(self.session_factory, self.xero, clock=self.clock,
                           notifier=self.notifier, **options)

    def connect_service(self) -> ConnectService:
        """Connecting and disconnecting organisations."""
        from bot.chasing.connections import ConnectService

        return ConnectService(self.session_factory, self.box, self.oauth, self.xero,
                              clock=self.clock, notifier=self.notifier)

    def expected_dates(self) -> ExpectedDates:
        """Expected payment dates, written back to Xero."""
        from bot.chasing.expected_dates import ExpectedDates

        return ExpectedDates(self.session_factory, self.xero, clock=self.clock,
                             notifier=self.notifier)


def build_context(
    settings: Settings,
    *,
    database_url: str | None = None,
    notifier: Notifier | None = None,
    clock: Callable[[], datetime] = utc_now,
    retry_sleep: Callable[[float], None] = time.sleep,
) -> AppDeps:
    """Wire the real collaborators from settings (the database must already be migrated)."""
    from bot.chasing.ports import LoggingNotifier
    from bot.secrets import SecretBox, load_or_create_key
    from storage.db import make_engine, make_session_factory

    engine = make_engine(database_url or settings.resolved_database_url)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    box = SecretBox(load_or_create_key(secret, settings.data_dir))
    return AppDeps(
        settings=settings,
        session_factory=make_session_factory(engine),
        box=box,
        oauth=xero_oauth(settings),
        notifier=notifier or LoggingNotifier(),
        clock=clock,
        retry_sleep=retry_sleep,
    )


def xero_oauth(settings: Settings) -> XeroOAuth:
    """The OAuth client for the configured Xero (or sandbox) app."""
    from bot.xero.auth import XeroEndpoints, XeroOAuth

    secret = settings.xero_client_secret
    return XeroOAuth(
        client_id=settings.xero_client_id or "",
        client_secret=secret.get_secret_value() if secret else "",
        redirect_uri=settings.resolved_xero_redirect_uri,
        scopes=settings.xero_scopes,
        endpoints=XeroEndpoints(
            login_url=settings.xero_login_url,
            identity_url=settings.xero_identity_url,
            api_url=settings.xero_api_url,
        ),
    )


# --- Live updates from Xero webhooks ---------------------------------------------------------


def build_webhooks(
    ctx: AppDeps,
    *,
    poster: AlertPoster | None = None,
    refresh_digest: Callable[[int], object] | None = None,
    on_processed: Callable[[ProcessReport], None] | None = None,
) -> tuple[WebhookInbox, WebhookWorker]:
    """The webhook inbox (for the route) and its worker (start it; stop it to drain).

    Needs XERO_WEBHOOK_KEY. Without a poster no alerts are posted; without refresh_digest the
    posted digest waits for its next refresh.
    """
    from bot.chasing.alerts import AlertService
    from bot.chasing.record_fetch import RecordFetcher
    from bot.chasing.webhooks import WebhookInbox, WebhookProcessor, WebhookWorker

    key = ctx.settings.xero_webhook_key
    if key is None:
        raise ValueError("XERO_WEBHOOK_KEY is not set")
    alerts = (
        AlertService(session_factory=ctx.session_factory, clock=ctx.clock, poster=poster)
        if poster is not None
        else None
    )
    processor = WebhookProcessor(
        session_factory=ctx.session_factory,
        clock=ctx.clock,
        fetcher=RecordFetcher(ctx.session_factory, ctx.xero, clock=ctx.clock,
                              notifier=ctx.notifier),
        after_fetch=alerts.after_fetch if alerts is not None else None,
        refresh_digest=refresh_digest,
    )
    worker = WebhookWorker(processor, on_processed=on_processed)
    inbox = WebhookInbox(
        key=key.get_secret_value(),
        session_factory=ctx.session_factory,
        clock=ctx.clock,
        on_recorded=worker.submit,
    )
    return inbox, worker


def outbox_folder(settings: Settings) -> Path:
    """Where emails go as .eml files when no SMTP_URL is set (and always for the demo)."""
    return (settings.data_dir / "outbox").resolve()


@contextmanager
def reminder_sender(
    ctx: AppDeps,
    *,
    actor: str = "scheduler",
    link_calls: int | None = None,
    outbox_only: bool = False,
) -> Iterator[ReminderSender]:
    """A ReminderSender on SMTP_URL (or the outbox), with Xero's online invoice links."""
    from bot.chasing.links import DEFAULT_LINK_CALLS, XeroOnlineLinks
    from bot.chasing.mailer import OutboxMailer, SmtpMailer
    from bot.chasing.reminders import ReminderSender

    settings = ctx.settings
    mailer = (
        SmtpMailer(settings.smtp_url)
        if settings.smtp_url and not outbox_only
        else OutboxMailer(outbox_folder(settings))
    )
    with XeroOnlineLinks(
        session_factory=ctx.session_factory,
        xero=ctx.xero,
        clock=ctx.clock,
        notifier=ctx.notifier,
        max_calls=DEFAULT_LINK_CALLS if link_calls is None else link_calls,
    ) as links:
        yield ReminderSender(
            session_factory=ctx.session_factory, mailer=mailer, clock=ctx.clock, links=links,
            from_address=settings.smtp_from, actor=actor,
        )


def slack_permissions(ctx: AppDeps, clients: SlackClients) -> Permissions:
    """Who may do what, asking Slack who the workspace's admins are."""
    from bot.chasing.permissions import Permissions
    from bot.slack_people import SlackDirectory

    return Permissions(ctx.session_factory, SlackDirectory(clients.for_team), ctx.clock)


def escalation_service(ctx: AppDeps, clients: SlackClients,
                       permissions: Permissions | None = None) -> EscalationService:
    """Escalations approved in Slack: cards through `clients`, sends through the reminders
    engine with a fresh sender each time (each holds its own budget of Xero link calls)."""
    from bot.chasing.escalation import EscalationService
    from bot.slack_cards import SlackCardPoster

    return EscalationService(
        session_factory=ctx.session_factory, clock=ctx.clock, cards=SlackCardPoster(clients),
        senders=lambda: reminder_sender(ctx),
        permissions=permissions or slack_permissions(ctx, clients),
    )


def forewarn_service(ctx: AppDeps, clients: SlackClients,
                     permissions: Permissions | None = None) -> ForewarnService:
    """The forewarn: tomorrow's plan posted to each organisation's channel, with Skip."""
    from bot.chasing.forewarn import ForewarnService
    from bot.slack_cards import SlackCardPoster

    return ForewarnService(session_factory=ctx.session_factory, clock=ctx.clock,
                           cards=SlackCardPoster(clients),
                           permissions=permissions or slack_permissions(ctx, clients))


# --- The daily digest -------------------------------------------------------------------------


def build_digest_poster(ctx: AppDeps, client_for_team: Callable[[str], WebClient], *,
                        sync_first: bool = True) -> DigestPoster:
    """Posts and refreshes digests through Slack; with `sync_first`, each post syncs first."""
    from bot.chasing.digest_post import DigestPoster
    from bot.slack_notifier import SlackDigestPublisher

    def sync(connection_id: int) -> SyncReport:
        (report,) = ctx.sync_service().sync_all(connection_ids=[connection_id])
        return report

    return DigestPoster(ctx.session_factory, ctx.clock, SlackDigestPublisher(client_for_team),
                        sync=sync if sync_first else None)


def build_digest_actions(ctx: AppDeps, client_for_team: Callable[[str], WebClient]
                         ) -> DigestActions:
    """What the digest's buttons call: controls, permissions, write-back and the poster."""
    from bot.chasing.controls import ChasingControls
    from bot.chasing.digest_actions import DigestActions
    from bot.chasing.permissions import Permissions

    permissions = Permissions(ctx.session_factory, workspace_directory(client_for_team),
                              ctx.clock)
    return DigestActions(
        ctx.session_factory, ctx.clock,
        controls=ChasingControls(ctx.session_factory, permissions, ctx.clock),
        permissions=permissions,
        poster=build_digest_poster(ctx, client_for_team, sync_first=False),
        write_back=ctx.expected_dates().set,
    )


def workspace_directory(client_for_team: Callable[[str], WebClient]) -> WorkspaceDirectory:
    """Who is a workspace admin or owner, asked of Slack (users.info, cached)."""
    from bot.slack_people import SlackDirectory

    return SlackDirectory(client_for_team)
