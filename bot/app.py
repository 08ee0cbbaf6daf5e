"""create_app: the Bolt App with every listener module registered explicitly and one error funnel.

To add a concern, write bot/handlers/<concern>.py with `register(app, deps)` and add it to
LISTENER_MODULES below: one line. Listeners parse, ack within 3 s, then call a chasing service;
the listener keeps running on the app's thread pool after `ack()` (process_before_response is
off), so anything that may touch Xero goes after the ack, in the same function.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import messages
from bot.handlers import chaser_command, digest, errors, escalation, home, lifecycle, middleware
from bot.slack_clients import SlackClients

if TYPE_CHECKING:
    from bot.deps import AppDeps

log = logging.getLogger(__name__)

# Every listener module, in registration order: add yours here (one line).
LISTENER_MODULES = (
    chaser_command,  # /chaser and its subcommands
    home,  # app_home_opened: the Home tab
    digest,  # the daily digest's buttons, date picker, dispute modal and pager
    lifecycle,  # app_uninstalled, tokens_revoked
    escalation,  # escalation cards' Approve / Decline / Snooze, the forewarn's Skip
)

# Listeners run here after their ack. Bolt's default is 5 threads, which queues the 6th
# concurrent command behind the others' Xero calls (and its ack behind them too).
LISTENER_THREADS = 32


class _QuietTokenWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN itself and warns that the client's token wins; it is the
    # same token (create_app hands it over inside the client), so the warning is noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.App").addFilter(_QuietTokenWarning())


class ChaserApp(App):
    """Bolt's App that also remembers the commands and events it listens to (for the manifest
    test) and owns its listener thread pool, so `close()` can drain in-flight work."""

    def __init__(self, *, executor: ThreadPoolExecutor, **kwargs: Any) -> None:
        super().__init__(listener_executor=executor, **kwargs)
        self.executor = executor
        # bot/web.py checks a request's signature before Bolt parses its body.
        self.signing_secret: str | None = kwargs.get("signing_secret")
        self.registered_commands: set[str] = set()
        self.registered_events: set[str] = set()
        self.clients: SlackClients | None = None  # set by create_app

    def command(self, command, matchers=None, middleware=None):  # type: ignore[override]
        self.registered_commands.add(str(command))
        return super().command(command, matchers, middleware)

    def event(self, event, matchers=None, middleware=None):  # type: ignore[override]
        self.registered_events.add(str(event))
        return super().event(event, matchers, middleware)

    def close(self, *, wait: bool = True) -> None:
        """Stop taking listener work; with `wait`, finish what was acknowledged already."""
        self.executor.shutdown(wait=wait, cancel_futures=not wait)
        claims = getattr(self, "request_claims", None)
        if claims is not None:
            claims.close()


def create_app(deps: AppDeps, clients: SlackClients | None = None) -> ChaserApp:
    """The Bolt App for `deps.settings`: one workspace's bot token, or OAuth v2 installs.

    `clients` (built by `SlackClients.from_settings` when not given) decides how a team's token
    is found; the app's own WebClient talks to SLACK_API_URL (a local fake in tests).
    """
    settings = deps.settings
    clients = clients or SlackClients.from_settings(settings, deps.session_factory, deps.box)
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack")
    signing_secret = (settings.slack_signing_secret.get_secret_value()
                      if settings.slack_signing_secret else None)
    common: dict[str, Any] = {
        "name": "chaser-bot",
        "signing_secret": signing_secret,
        # Socket Mode requests carry no signature; HTTP requests must.
        "request_verification_enabled": signing_secret is not None,
        # A workspace with no installation (OAuth mode) hears this instead of Bolt's default.
        "user_facing_authorize_error_message": messages.SLACK_NOT_AVAILABLE_HERE,
        # A request no listener takes reaches the error funnel (a 200 and a line for the
        # person) instead of Bolt's 404, which Slack shows as a failed click.
        "raise_error_for_unhandled_request": True,
    }
    if clients.oauth_settings is not None:
        app = ChaserApp(executor=executor, installation_store=clients.installation_store,
                        oauth_settings=clients.oauth_settings,
                        client=WebClient(base_url=clients.base_url), **common)
    else:
        # Bolt takes the token from the client it is given (and checks it with auth.test).
        app = ChaserApp(executor=executor,
                        client=WebClient(token=clients.bot_token, base_url=clients.base_url),
                        **common)

    middleware.register(app, deps)
    errors.register(app, deps)
    app.clients = clients
    for module in LISTENER_MODULES:
        module.register(app, deps)
    return app
