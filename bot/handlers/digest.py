"""The daily digest's buttons, date picker, dispute modal and pager: parse, ack, act, update.

Every listener acknowledges first; the change (and any Xero write-back) runs after the ack on
the app's thread pool, then the digest message is updated in place with chat.update. Refusals
(permissions, past dates, Xero keeping a date out) reach only the person who clicked.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from bot import messages
from bot.blocks.digest import DISPUTE_REASON_MAX, dispute_modal, line_ref
from bot.chasing.digest_actions import DigestActions
from bot.chasing.ports import PostedMessage
from bot.errors import UserFacingError
from bot.handlers.errors import after_ack, tell
from bot.handlers.support import actor_of
from bot.ids import Action, Block, Field, View
from bot.payloads import DisputeForm, InvoiceRef, PageRef, PayloadError, decode_as

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.deps import AppDeps

log = logging.getLogger(__name__)


class StaleButton(UserFacingError):
    """A click whose payload we cannot read (an old or foreign message)."""

    code = "stale_button"


def message_of(body: dict[str, Any]) -> PostedMessage | None:
    """The message the click happened in, when it is a channel message."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    if container.get("type") != "message" or not channel or not ts:
        return None
    return PostedMessage(channel, ts)


def _payload(text: str | None, kind: type[Any]) -> Any:
    try:
        return decode_as(text, kind)
    except PayloadError as exc:
        raise StaleButton(messages.DIGEST_STALE_BUTTON, detail=str(exc)) from None


def register(app: App, deps: AppDeps, actions: DigestActions | None = None) -> None:
    """Listen to the digest's controls (`actions` is built from `deps` unless given)."""
    if actions is None:
        from bot.deps import build_digest_actions

        actions = build_digest_actions(deps, app.clients.for_team)  # type: ignore[attr-defined]

    def on_button(verb: str) -> Any:
        def listener(ack: Ack, body: dict[str, Any], context: Any, client: WebClient) -> None:
            ack()

            def work() -> None:
                ref = _payload(body["actions"][0].get("value"), InvoiceRef)
                getattr(actions, verb)(actor_of(body, context), ref.i, message_of(body))

            after_ack(body, client, work)

        listener.__name__ = f"digest_{verb}"
        return listener

    def dispute_clicked(ack: Ack, body: dict[str, Any], context: Any,
                        client: WebClient) -> None:
        ack()

        def work() -> None:
            ref = _payload(body["actions"][0].get("value"), InvoiceRef)
            summary = actions.may_dispute(actor_of(body, context), ref.i)
            message = message_of(body)
            form = DisputeForm(c=ref.c, i=ref.i, ch=message.channel_id if message else None,
                               ts=message.ts if message else None)
            client.views_open(trigger_id=body["trigger_id"],
                              view=dispute_modal(form, summary.invoice_number, summary.customer))

        after_ack(body, client, work)

    def dispute_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any],
                          context: Any, client: WebClient) -> None:
        field = view["state"]["values"].get(Block.DISPUTE_REASON, {}).get(Field.VALUE, {})
        reason = (field.get("value") or "").strip()
        # max_length binds Slack's clients only: a crafted submission can carry any length.
        problem = (messages.DISPUTE_REASON_NEEDED if not reason else
                   messages.dispute_reason_too_long(DISPUTE_REASON_MAX)
                   if len(reason) > DISPUTE_REASON_MAX else None)
        if problem:
            ack(response_action="errors", errors={Block.DISPUTE_REASON.value: problem})
            return
        ack()

        def work() -> None:
            form = _payload(view.get("private_metadata"), DisputeForm)
            message = PostedMessage(form.ch, form.ts) if form.ch and form.ts else None
            actions.dispute(actor_of(body, context), form.i, reason, message)

        after_ack(body, client, work)

    def date_picked(ack: Ack, body: dict[str, Any], context: Any, client: WebClient) -> None:
        ack()
        action = body["actions"][0]
        chosen = action.get("selected_date")
        if not chosen:
            return

        def work() -> None:
            try:
                picked = date.fromisoformat(chosen)
            except (TypeError, ValueError):  # the picker sends YYYY-MM-DD; anything else is forged
                tell(messages.not_a_date(str(chosen)), body, client)
                return
            block_id = str(action.get("block_id", ""))
            ref = _payload(line_ref(block_id), InvoiceRef)
            outcome = actions.set_expected_date(actor_of(body, context), ref.c, ref.i,
                                                picked, message_of(body))
            summary = actions.invoice(ref.i)
            number = summary.invoice_number or messages.DIGEST_NO_NUMBER
            text = (outcome.reason if outcome.held_in == "local" and outcome.reason
                    else messages.expected_date_saved(number, chosen))
            tell(text, body, client)

        after_ack(body, client, work)

    def page_clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()

        def work() -> None:
            ref = _payload(body["actions"][0].get("value"), PageRef)
            message = message_of(body)
            if message is not None:
                actions.show_page(ref.p, message)

        after_ack(body, client, work)

    def link_clicked(ack: Ack) -> None:
        ack()  # Slack opens the URL itself; the click still arrives and must be acknowledged

    app.action(Action.DIGEST_PAUSE)(on_button("pause"))
    app.action(Action.DIGEST_RESUME)(on_button("resume"))
    app.action(Action.DIGEST_RESOLVE)(on_button("resolve"))
    app.action(Action.DIGEST_DISPUTE)(dispute_clicked)
    app.view(View.DIGEST_DISPUTE)(dispute_submitted)
    app.action(Action.DIGEST_EXPECTED_DATE)(date_picked)
    app.action(Action.DIGEST_PAGE)(page_clicked)
    app.action(Action.DIGEST_VIEW_INVOICE)(link_clicked)
    app.action(Action.DIGEST_EDIT_CONTACT)(link_clicked)
