"""The app's own lifecycle in a workspace: uninstalled, or its tokens revoked."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.ids import Event
from storage import repositories
from storage.db import session_scope

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.deps import AppDeps

log = logging.getLogger(__name__)


def register(app: App, deps: AppDeps) -> None:
    """Forget a workspace's Slack tokens when Slack says they are gone (data stays, audited)."""
    clients = getattr(app, "clients", None)

    def forget(body: dict[str, Any], context: Any) -> None:
        event = body.get("event") or {}
        if event.get("type") == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens went; the bot's token still works
        team_id = context.get("team_id") or body.get("team_id")
        enterprise_id = context.get("enterprise_id")
        store = clients.installation_store if clients is not None else None
        if store is not None:
            store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
            store.delete_installation(enterprise_id=enterprise_id, team_id=team_id)
        with session_scope(deps.session_factory) as session:
            repositories.record_audit(
                session, action="slack.uninstalled", actor="slack",
                workspace_id=context.get("workspace_id"),
                detail={"team_id": team_id, "event": body.get("event", {}).get("type")},
                at=deps.clock())
        log.info("Slack workspace %s removed the app; its tokens are forgotten", team_id)

    app.event(Event.APP_UNINSTALLED)(forget)
    app.event(Event.TOKENS_REVOKED)(forget)
