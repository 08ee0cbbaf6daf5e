"""/chaser overdue, invoice and customer: answers from the local store, after the ack."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot import messages
from bot.blocks.lookups import (
    customer_blocks,
    customer_choice_blocks,
    invoice_blocks,
    overdue_blocks,
)
from bot.chasing import lookups
from bot.chasing.lookup_views import CustomerChoice, money
from bot.handlers import errors
from bot.handlers.chaser_command import BadArguments, Call, Route
from bot.ids import Action, Subcommand
from bot.payloads import ContactRef, decode_as
from storage.db import session_scope
from storage.models import Contact

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.deps import AppDeps


def optional_words(words: Sequence[str]) -> str | None:
    return " ".join(words).strip() or None


def required_words(words: Sequence[str]) -> str:
    text = " ".join(words).strip()
    if not text:
        raise BadArguments("needs an argument")
    return text


def routes(app: App, deps: AppDeps) -> list[Route]:
    """overdue [customer], invoice <number>, customer <name>, and the customer choice buttons."""

    def reply_customer(workspace_id: int, found: Any, respond: Respond,
                       replace: bool = False) -> None:
        if isinstance(found, CustomerChoice):
            respond(text=messages.CUSTOMER_CHOOSE.format(asked=found.asked),
                    blocks=customer_choice_blocks(found), response_type="ephemeral",
                    replace_original=replace)
            return
        with session_scope(deps.session_factory) as session:
            detail = lookups.customer(session, workspace_id, found.id, deps.clock())
        respond(text=detail.name, blocks=customer_blocks(detail), response_type="ephemeral",
                replace_original=replace)

    def overdue(call: Call, customer: str | None, ack: Ack, respond: Respond,
                _client: WebClient) -> None:
        ack()
        with session_scope(deps.session_factory) as session:
            if customer is not None:
                found = lookups.find_customers(session, call.workspace_id, customer)
                if isinstance(found, CustomerChoice):
                    respond(text=messages.CUSTOMER_CHOOSE.format(asked=found.asked),
                            blocks=customer_choice_blocks(found), response_type="ephemeral")
                    return
            result = lookups.overdue(session, call.workspace_id, deps.clock(), customer)
        respond(text=messages.OVERDUE_HEADING.format(count=result.count,
                                                     total=money(result.totals)),
                blocks=overdue_blocks(result), response_type="ephemeral")

    def invoice(call: Call, number: str, ack: Ack, respond: Respond, _client: WebClient) -> None:
        ack()
        with session_scope(deps.session_factory) as session:
            detail = lookups.invoice(session, call.workspace_id, number, deps.clock())
        respond(text=f"Invoice {detail.number}", blocks=invoice_blocks(detail),
                response_type="ephemeral")

    def customer(call: Call, name: str, ack: Ack, respond: Respond, _client: WebClient) -> None:
        ack()
        with session_scope(deps.session_factory) as session:
            found = lookups.find_customers(session, call.workspace_id, name)
        reply_customer(call.workspace_id, found, respond)

    def customer_picked(ack: Ack, body: dict[str, Any], context: Any, respond: Respond,
                        client: WebClient) -> None:
        try:
            ack()
            ref = decode_as(body["actions"][0].get("value"), ContactRef)
            with session_scope(deps.session_factory) as session:
                found = session.get(Contact, ref.k)
            if found is not None:
                reply_customer(context["workspace_id"], found, respond, replace=True)
        except Exception as error:  # after the ack: see errors.report
            errors.report(error, body, client)

    app.action(re.compile(f"^{Action.CUSTOMER_PICK}(:|$)"))(customer_picked)
    for link in (Action.LOOKUP_VIEW_IN_XERO, Action.LOOKUP_EDIT_CONTACT):
        app.action(link)(lambda ack: ack())  # link buttons: the browser does the work
    return [
        Route(Subcommand.OVERDUE, optional_words, overdue),
        Route(Subcommand.INVOICE, required_words, invoice),
        Route(Subcommand.CUSTOMER, required_words, customer),
    ]
