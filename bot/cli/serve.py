"""`chaser serve`: the Slack app, one web server, the scheduler and the webhook worker, together.

Socket Mode when SLACK_APP_TOKEN is set (no public URL), HTTP mode otherwise. One uvicorn
server on PORT always serves /xero/callback, /xero/webhooks and /healthz, plus Slack's
/slack/events (and /slack/install, /slack/oauth_redirect with OAuth) in HTTP mode. uvicorn
owns SIGTERM/SIGINT: it stops accepting, finishes in-flight requests, then `Runtime.stop`
drains acknowledged Slack work, the scheduler's running jobs and the webhook worker.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cli.support import CommandError
from bot.config import ConfigError, Settings

if TYPE_CHECKING:
    from bot.app import ChaserApp
    from bot.chasing.alerts import AlertService
    from bot.chasing.digest_post import DigestPoster
    from bot.chasing.scheduler import JobHandler, JobKind
    from bot.deps import AppDeps
    from bot.slack_clients import SlackClients

log = logging.getLogger(__name__)

# Seconds uvicorn gives in-flight requests after SIGTERM before closing them.
GRACEFUL_SECONDS = 20
# A thread waiting for the GIL gets it once the holder has run this long (Python's default:
# 5 ms). An ack takes a few short turns (uvicorn's loop, Bolt's dispatch thread, the listener),
# each of which could wait that long behind work after earlier commands' acks; 1 ms turns keep
# a burst's acks moving (benchmarks/ack_latency.py) for a few more thread switches.
GIL_SWITCH_SECONDS = 0.001
ESCALATION_TICK = timedelta(minutes=1)
CONNECTION_ALERTS_TICK = timedelta(minutes=1)
ADOPT_TICK = timedelta(minutes=1)


class Service(Protocol):
    """Something `chaser serve` runs beside the web server: started, health-checked, drained."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None:
        """Finish in-flight work and stop (called once, after the web server has stopped)."""
        ...

    def health(self) -> str | None:
        """None when healthy, else a short reason for /healthz."""
        ...


@dataclass
class SchedulerService:
    """The chasing scheduler (bot/chasing/scheduler.py)."""

    scheduler: object
    name: str = "scheduler"

    def start(self) -> None:
        self.scheduler.start()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.scheduler.stop(wait=True)  # type: ignore[attr-defined]

    def health(self) -> str | None:
        liveness = self.scheduler.liveness()  # type: ignore[attr-defined]
        return None if liveness.alive else "not running" if not liveness.running else "stuck"


@dataclass
class SocketModeService:
    """Slack's Socket Mode link (slack_bolt's built-in handler reconnects by itself)."""

    app: ChaserApp
    app_token: str
    name: str = "socket_mode"
    handler: object = None

    def start(self) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        self.handler = SocketModeHandler(self.app, self.app_token)
        try:
            self.handler.connect()  # type: ignore[attr-defined]
        except SlackApiError as exc:
            raise ConfigError(_refused("SLACK_APP_TOKEN", exc)) from None

    def stop(self) -> None:
        if self.handler is not None:
            self.handler.close()  # type: ignore[attr-defined]

    def health(self) -> str | None:
        client = getattr(self.handler, "client", None)
        return None if client is not None and client.is_connected() else "disconnected"


@dataclass
class WorkerService:
    """A background worker with start()/stop() (the Xero webhook worker)."""

    worker: object
    name: str = "webhooks"

    def start(self) -> None:
        self.worker.start()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.worker.stop()  # type: ignore[attr-defined]

    def health(self) -> str | None:
        return None


@dataclass
class Runtime:
    """Everything one `chaser serve` runs; built by `build_runtime`, run by `serve`."""

    deps: AppDeps
    clients: SlackClients
    app: ChaserApp
    web: object  # the Starlette app
    services: list[Service] = field(default_factory=list)

    def health_checks(self) -> dict[str, Callable[[], str | None]]:
        return {service.name: service.health for service in self.services}

    def start(self) -> None:
        for service in self.services:
            service.start()

    def stop(self) -> None:
        """Drain: acknowledged Slack work first, then each service, then the database pool
        and the OAuth client."""
        self.app.close(wait=True)
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:  # stopping the rest matters more than this one's error
                log.exception("%s did not stop cleanly", service.name)
        self.deps.close()


def job_handlers(
    deps: AppDeps, clients: SlackClients, *, alerts: AlertService | None = None,
    digest: DigestPoster | None = None,
) -> dict[JobKind, JobHandler]:
    """What each scheduled job runs, per organisation and local day.

    Sync (then the large-overdue alerts: falling overdue is a change of date no webhook
    reports), the digest (sync, build, post once), the forewarn and the chase run (sync first,
    escalations held for a manager's card); without a digest poster the digest job only logs."""
    from bot.chasing.chase_run import chase_organisation
    from bot.chasing.scheduler import JobKind
    from bot.deps import escalation_service, forewarn_service, reminder_sender

    escalations = escalation_service(deps, clients)
    forewarns = forewarn_service(deps, clients)
    service = deps.sync_service()

    def sync(connection_id: int, _day: date) -> str | None:
        (report,) = service.sync_all(connection_ids=[connection_id])
        if report.outcome == "failed":
            raise RuntimeError(report.reason or "sync failed")
        if alerts is not None:
            alerts.announce_overdue(connection_id)
        return report.outcome

    def chase(connection_id: int, _day: date) -> str | None:
        with reminder_sender(deps) as sender:
            outcome = chase_organisation(
                connection_id, session_factory=deps.session_factory, clock=deps.clock,
                sender=sender, sync=service.sync, hold=escalations.hold,
            )
        if outcome.stopped:
            raise RuntimeError(outcome.stopped)
        result = outcome.result
        if result is None or not result.window_open:
            return "window closed"
        if result.stopped:
            raise RuntimeError(result.stopped)
        return f"sent {result.emails_sent}"

    def forewarn(connection_id: int, run_day: date) -> str | None:
        return forewarns.post(connection_id, run_day)

    def not_wired(kind: str) -> JobHandler:
        def run(connection_id: int, _day: date) -> str | None:
            log.info("%s for connection %s is not wired into chaser serve yet", kind,
                     connection_id)
            return "skipped"

        return run

    return {
        JobKind.SYNC: sync,
        JobKind.DIGEST: digest_job(digest) if digest is not None else not_wired("digest"),
        JobKind.FOREWARN: forewarn,
        JobKind.CHASE: chase,
    }


def build_scheduler_for(deps: AppDeps, clients: SlackClients, *,
                        alerts: AlertService | None = None,
                        digest: DigestPoster | None = None) -> object:
    """The scheduler with every organisation's jobs and the escalation housekeeping task."""
    from bot.chasing.scheduler import build_scheduler
    from bot.deps import escalation_service

    scheduler = build_scheduler(deps.session_factory,
                                job_handlers(deps, clients, alerts=alerts, digest=digest))
    # Snoozed escalations asked again, cards that never posted retried, late sends settled.
    scheduler.add_task("escalations", ESCALATION_TICK, escalation_service(deps, clients).tick)
    catch_up = getattr(deps.notifier, "catch_up", None)
    if callable(catch_up):
        # Connections lost or regained from a terminal: admins still hear, once.
        scheduler.add_task("connection-alerts", CONNECTION_ALERTS_TICK, catch_up)
    return scheduler


def digest_job(poster: DigestPoster) -> JobHandler:
    """The scheduled digest: sync, build and post once for the organisation's local day."""

    def run(connection_id: int, day: date) -> str | None:
        result = poster.post_digest(connection_id, day=day)
        if result.outcome == "failed":
            raise RuntimeError(result.reason or "the digest was not posted")
        return result.outcome

    return run


def adopt_from_terminal(deps: AppDeps, team_id: str,
                        team_name: str | None) -> Callable[..., object]:
    """Single bot token: organisations connected from the terminal (`chaser connect` without
    SLACK_BOT_TOKEN) belong to its one workspace; at start, say which could not join."""
    from bot.chasing.adoption import adopt_terminal_connections

    def adopt(*, at_start: bool = False) -> object:
        result = adopt_terminal_connections(deps.session_factory, deps.clock, team_id,
                                            team_name=team_name)
        if at_start:
            for name in result.left:
                log.warning("%s is connected both from the terminal and in Slack: the Slack "
                            "workspace's connection is synced and chased while it is "
                            "connected, and the terminal's copy is disconnected", name)
        return result

    return adopt


def build_runtime(settings: Settings) -> Runtime:
    """Check Slack's settings, wire the app and its services (nothing is started yet)."""
    from bot.app import create_app
    from bot.chasing.alerts import AlertService
    from bot.cli.support import migrated_context
    from bot.deps import build_digest_poster
    from bot.slack_alerts import SlackAlertPoster
    from bot.slack_clients import SlackClients
    from bot.slack_notifier import SlackNotifier
    from bot.slack_people import SlackConnectNotifier
    from bot.web import create_web_app

    settings.check_slack()
    deps = migrated_context(settings)
    clients = SlackClients.from_settings(settings, deps.session_factory, deps.box)
    deps.notifier = SlackNotifier(clients.for_team, deps.session_factory, deps.clock,
                                  connected=SlackConnectNotifier(clients.for_team))
    digest = build_digest_poster(deps, clients.for_team)
    try:
        if clients.bot_token:
            # Slack's own verdict on the token, before anything depends on it.
            WebClient(token=clients.bot_token, base_url=clients.base_url).auth_test()
        clients.adopt_bot_token()
        app = create_app(deps, clients)
    except (BoltError, SlackApiError) as exc:
        raise ConfigError(_refused("SLACK_BOT_TOKEN", exc)) from None
    except OSError as exc:  # urllib's URLError too: no answer at all, not a refusal
        cause = getattr(exc, "reason", exc)  # URLError wraps the OSError it met
        reason = getattr(cause, "strerror", None) or cause
        raise CommandError(f"Slack did not answer at {clients.base_url} ({reason}): check the "
                           "network (and SLACK_API_URL), then run chaser serve again.") from None
    services: list[Service] = []
    poster = SlackAlertPoster(clients.for_team)
    alerts = AlertService(session_factory=deps.session_factory, clock=deps.clock, poster=poster)
    webhooks = None
    if settings.xero_webhook_key is not None:
        from bot.deps import build_webhooks

        webhooks, worker = build_webhooks(deps, poster=poster,
                                          refresh_digest=digest.refresh_latest)
        services.append(WorkerService(worker))
    scheduler = build_scheduler_for(deps, clients, alerts=alerts, digest=digest)
    team = clients.single_team()
    if team is not None:
        adopt = adopt_from_terminal(deps, *team)
        adopt(at_start=True)
        # A `chaser connect` run meanwhile without SLACK_BOT_TOKEN joins within a tick.
        scheduler.add_task("adopt-terminal-connections", ADOPT_TICK, adopt)  # type: ignore[attr-defined]
    services.append(SchedulerService(scheduler))
    if settings.slack_socket_mode:
        token = settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
        services.append(SocketModeService(app, token))
    runtime = Runtime(deps, clients, app, web=None, services=services)
    runtime.web = create_web_app(
        deps, webhooks=webhooks, health_checks=runtime.health_checks(),
        slack_app=None if settings.slack_socket_mode else app,
    )
    return runtime


def serve(settings: Settings, *, host: str = "0.0.0.0",
          on_ready: Callable[[str], None] | None = None) -> None:
    """Run until SIGTERM or Ctrl-C, then drain and return (exit status 0)."""
    import uvicorn

    listener = listen(host, settings.port)
    try:
        runtime = build_runtime(settings)
    except BaseException:
        listener.close()
        raise
    config = uvicorn.Config(runtime.web, host=host, port=settings.port, lifespan="off",
                            access_log=False, log_level="warning", proxy_headers=True,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS)
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it stopped for once it has shut down; a quiet handler lets
    # that SIGTERM end `server.run()` here, so the drain below runs and the exit status is 0.
    signal.signal(signal.SIGTERM, lambda *_: log.info("SIGTERM: draining"))
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    try:
        runtime.start()
        mode = "Socket Mode" if settings.slack_socket_mode else "HTTP mode"
        if on_ready:
            on_ready(f"chaser-bot serving in {mode} on port {settings.port}")
        server.run(sockets=[listener])
    finally:
        listener.close()
        runtime.stop()
        sys.setswitchinterval(switch_interval)


def listen(host: str, port: int) -> socket.socket:
    """The web server's socket, bound before anything starts: a port another process holds
    is one line (uvicorn alone logs its own error, after "serving", and exits 3)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(f"port {port} is already in use (another chaser serve?): stop "
                               "what holds it, or set PORT to a free port.") from None
        raise CommandError(f"cannot listen on port {port}: {exc.strerror}.") from None
    return sock


def _refused(variable: str, exc: Exception) -> str:
    response = getattr(exc, "response", None)
    code = response.get("error") if response is not None else None
    if code is None:
        code = str(exc).split("error:")[-1].strip(" '\"}") or "refused"
    return (f"{variable} was refused by Slack ({code}): copy it again from your Slack app's "
            "settings.")
