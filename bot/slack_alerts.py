"""The AlertPoster port on Slack's Web API: a parent message per customer, alerts in its thread."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.blocks import alerts as blocks
from bot.chasing.ports import Alert, AlertCustomer


class SlackAlertPoster:
    """Posts with the bot token of the customer's workspace (one token, or OAuth installs)."""

    def __init__(self, client_for_team: Callable[[str], WebClient]) -> None:
        self._client_for_team = client_for_team

    def _client(self, team_id: str) -> WebClient:
        client = self._client_for_team(team_id)
        # Slack's chat.postMessage allows about one message a second per channel; a burst of
        # alerts waits out Retry-After instead of losing one.
        if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
            client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        return client

    def start_customer_thread(self, channel_id: str, customer: AlertCustomer) -> str:
        """Post the customer's parent message; returns its ts."""
        text, message_blocks = blocks.customer_thread(customer)
        response = self._client(customer.team_id).chat_postMessage(
            channel=channel_id, text=text, blocks=message_blocks, unfurl_links=False
        )
        return str(response["ts"])

    def post_alert(self, channel_id: str, thread_ts: str, alert: Alert) -> str:
        """Post one alert as a reply in the customer's thread; returns its ts."""
        text, message_blocks = blocks.alert(alert)
        response = self._client(alert.customer.team_id).chat_postMessage(
            channel=channel_id, thread_ts=thread_ts, text=text, blocks=message_blocks,
            unfurl_links=False,
        )
        return str(response["ts"])
