"""The one Slack error funnel: a UserFacingError becomes an ephemeral line; anything else a
short reference, logged with its traceback (Netflix Dispatch's app_error_handler, in spirit)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltResponse
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.errors import UserFacingError
from bot.payloads import PayloadError

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.deps import AppDeps

log = logging.getLogger(__name__)


def person_text(error: Exception) -> str:
    """What the person who acted reads about `error` (never a traceback)."""
    if isinstance(error, UserFacingError):
        return error.text(messages.SLACK)
    if isinstance(error, PayloadError):  # a value Slack sent back that is not one we wrote
        log.warning("unreadable Slack payload: %s", error)
        return messages.SLACK_UNHANDLED
    reference = secrets.token_hex(4)
    log.error("Slack request failed (ref %s)", reference, exc_info=error)
    return messages.SLACK_UNEXPECTED.format(reference=reference)


def tell(text: str, body: dict[str, Any], client: WebClient | None) -> None:
    """Say `text` to the person behind `body`, only to them: response_url, else an ephemeral
    message in the channel, else a DM (a modal submission has neither channel nor URL)."""
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    response_url = body.get("response_url")
    try:
        if response_url:
            from slack_sdk.webhook import WebhookClient

            WebhookClient(response_url).send(text=text, response_type="ephemeral",
                                             replace_original=False)
        elif client is not None and user and channel:
            client.chat_postEphemeral(channel=channel, user=user, text=text)
        elif client is not None and user:
            client.chat_postMessage(channel=user, text=text)
    except (SlackApiError, OSError) as exc:
        log.warning("Could not tell %s about an error: %s", user, exc)


def report(error: Exception, body: dict[str, Any], client: WebClient | None) -> None:
    """The funnel for errors raised after `ack()`: catch them in the listener and call this.

    Bolt's thread runner resets an already-sent acknowledgement when a listener raises soon
    after acking (slack_bolt/listener/thread_runner.py sets ack.response = None), so an error
    that escapes a listener can turn its 200 into a 404. Errors before the ack may escape: the
    @app.error handler below answers them in the acknowledgement itself."""
    from bot.handlers.middleware import DuplicateDelivery

    if not isinstance(error, DuplicateDelivery):  # a duplicate just stops, silently
        tell(person_text(error), body, client)


def unhandled(body: dict[str, Any], client: WebClient | None) -> BoltResponse:
    """A request no listener takes (an event type, a button or form of an older release, a
    closed modal): acknowledged with 200 all the same, and a person who clicked or submitted is
    told why nothing happened. Events API: "respond with HTTP 2xx within 3 seconds" or Slack
    retries, and turns off a subscription whose deliveries keep failing
    (docs.slack.dev/apis/events-api); a click answered 404 shows the person an error."""
    kind = body.get("type") or "command"
    if kind == "event_callback":
        kind = f"event {(body.get('event') or {}).get('type')}"
    elif kind == "block_actions":
        kind = f"action {((body.get('actions') or [{}])[0]).get('action_id')}"
    if body.get("type") in ("block_actions", "view_submission"):
        tell(messages.SLACK_UNHANDLED, body, client)
    log.info("No listener for this Slack request (%s); acknowledged and ignored", kind)
    return BoltResponse(status=200, body="")


def register(app: App, deps: AppDeps) -> None:
    """Register the app's one @app.error handler (listeners and middleware both end here)."""

    @app.error
    def handle_error(error: Exception, body: dict[str, Any], response: BoltResponse | None,
                     client: WebClient | None = None) -> BoltResponse | None:
        from bot.handlers.middleware import DuplicateDelivery

        if isinstance(error, DuplicateDelivery):
            return BoltResponse(status=200, body="") if response is not None else None
        if isinstance(error, BoltUnhandledRequestError):
            return unhandled(body, client)
        text = person_text(error)
        if response is not None and body.get("command"):
            # Not acknowledged yet: the acknowledgement itself carries the message.
            return BoltResponse(status=200, body=json.dumps(
                {"response_type": "ephemeral", "text": text}),
                headers={"content-type": "application/json"})
        tell(text, body, client)
        return BoltResponse(status=200, body="") if response is not None else None


def after_ack(body: dict[str, Any], client: WebClient, work: Callable[[], None]) -> None:
    """Run what follows an ack; a failure is told to the person with the error funnel's own
    words instead of being raised.

    Raising just after ack() races in Bolt's thread runner (slack_bolt/listener/
    thread_runner.py sets the shared `response` to a 500 before noticing the ack), so Slack
    could be answered 500 for a click that was acknowledged.
    """
    try:
        work()
    except Exception as exc:  # told to the person (unknown ones logged with a reference)
        tell(person_text(exc), body, client)
