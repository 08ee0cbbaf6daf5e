"""App Home: what a person sees on the app's Home tab (the digest work fills it in)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import messages
from bot.ids import Event

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.deps import AppDeps


def register(app: App, deps: AppDeps) -> None:
    """Publish the Home tab when someone opens it."""

    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        client.views_publish(user_id=event["user"], view={
            "type": "home",
            "blocks": [{"type": "section",
                        "text": {"type": "mrkdwn", "text": messages.SLACK_HOME_PLACEHOLDER}}],
        })

    app.event(Event.APP_HOME_OPENED)(home_opened)
