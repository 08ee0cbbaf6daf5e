"""Escalation cards (Approve, Decline, Snooze) and the forewarn's Skip: ack, decide, reply.

Each click is acknowledged first; the decision (which may send an email) runs after the ack
on the app's listener pool, through `after_ack` (an error raised after the ack would turn
Slack's 200 into a 404 or 500). Whoever may not decide is told so privately (response_url); the
card itself is updated in place by the service for everyone.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from bot import messages
from bot.chasing.ports import CardRef
from bot.handlers.errors import after_ack, tell
from bot.handlers.support import actor_of, services
from bot.ids import Action
from bot.payloads import EscalationRef, PayloadError, SkipRef, decode_as

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.deps import AppDeps

log = logging.getLogger(__name__)


def _value(body: dict[str, Any]) -> str | None:
    action = (body.get("actions") or [{}])[0]
    return (action.get("selected_option") or {}).get("value") or action.get("value")


def _team(body: dict[str, Any]) -> str:
    return str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id"))


def register(app: App, deps: AppDeps) -> None:
    """Listen to the escalation cards' controls and the forewarn's Skip buttons."""
    from bot.deps import escalation_service, forewarn_service

    clients = app.clients  # type: ignore[attr-defined]
    permissions = services(app, deps).permissions
    escalations = escalation_service(deps, clients, permissions)
    forewarns = forewarn_service(deps, clients, permissions)

    def decide(body: dict[str, Any], context: Any, client: WebClient, how: str) -> None:
        try:
            ref = decode_as(_value(body), EscalationRef)
        except PayloadError:
            tell(messages.ESCALATION_UNKNOWN, body, client)
            return
        actor = actor_of(body, context)
        if how == "approve":
            decision = escalations.approve(ref.r, actor)
        elif how == "decline":
            decision = escalations.decline(ref.r, actor)
        else:
            decision = escalations.snooze(ref.r, actor, 24 if ref.h is None else ref.h)
        if decision.reply is not None:
            tell(decision.reply.render(messages.SLACK), body, client)

    def on_decision(how: str) -> Any:
        def listener(ack: Ack, body: dict[str, Any], context: Any, client: WebClient) -> None:
            ack()
            after_ack(body, client, lambda: decide(body, context, client, how))

        return listener

    for action, how in ((Action.ESCALATION_APPROVE, "approve"),
                        (Action.ESCALATION_DECLINE, "decline"),
                        (Action.ESCALATION_SNOOZE, "snooze")):
        app.action(action)(on_decision(how))

    @app.action(Action.FOREWARN_SKIP)
    def skip(ack: Ack, body: dict[str, Any], context: Any, client: WebClient) -> None:
        ack()
        after_ack(body, client, lambda: skip_clicked(body, context, client))

    def skip_clicked(body: dict[str, Any], context: Any, client: WebClient) -> None:
        try:
            ref = decode_as(_value(body), SkipRef)
            run_date = date.fromisoformat(ref.d)
        except (PayloadError, ValueError):
            tell(messages.SLACK_UNHANDLED, body, client)  # not an escalation: a forewarn
            return
        result = forewarns.skip(ref.c, ref.k, run_date, actor_of(body, context))
        container = body.get("container") or {}
        if result.view is not None and container.get("message_ts"):
            card = CardRef(str(container.get("channel_id")), str(container["message_ts"]))
            forewarns.update(_team(body), card, result.view)
        if result.reply is not None:
            tell(result.reply.render(messages.SLACK), body, client)
