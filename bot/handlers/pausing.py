"""/chaser pause [customer <name>] [until YYYY-MM-DD] and /chaser resume [customer <name>]."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from bot import messages
from bot.chasing.lookup_views import CustomerChoice, choice_labels
from bot.chasing.lookups import find_customers
from bot.chasing.organisations import workspace_organisations
from bot.errors import UserFacingError
from bot.handlers.chaser_command import BadArguments, Call, Route
from bot.handlers.support import call_actor, services
from bot.ids import Subcommand
from storage.db import session_scope

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.chasing.controls import ControlOutcome
    from bot.deps import AppDeps


@dataclass(frozen=True)
class PauseArgs:
    customer: str | None = None
    until: date | None = None


def parse_pause(words: Sequence[str]) -> PauseArgs:
    """[customer <name>] [until YYYY-MM-DD]."""
    words = list(words)
    until = None
    lowered = [w.lower() for w in words]
    if "until" in lowered:
        at = lowered.index("until")
        if at != len(words) - 2:
            raise BadArguments("until takes one date, at the end")
        try:
            until = date.fromisoformat(words[-1])
        except ValueError:
            raise BadArguments(messages.not_a_date(words[-1]), shown=True) from None
        words = words[:at]
    return PauseArgs(customer=_customer(words), until=until)


def parse_resume(words: Sequence[str]) -> PauseArgs:
    """[customer <name>]."""
    return PauseArgs(customer=_customer(list(words)))


def _customer(words: list[str]) -> str | None:
    if not words:
        return None
    if words[0].lower() != "customer" or len(words) < 2:
        raise BadArguments("expected: customer <name>")
    return " ".join(words[1:])


class CustomerAmbiguous(UserFacingError):
    code = "ambiguous"


def routes(app: App, deps: AppDeps) -> list[Route]:
    """pause and resume, for the whole account or one customer."""
    chasing = services(app, deps)

    def contact_for(call: Call, name: str) -> int:
        with session_scope(deps.session_factory) as session:
            found = find_customers(session, call.workspace_id, name)
        if isinstance(found, CustomerChoice):
            raise CustomerAmbiguous(messages.customers_ambiguous(
                name, choice_labels(found)))
        return found.id

    def organisations(call: Call) -> list[int]:
        with session_scope(deps.session_factory) as session:
            ids = [c.id for c in workspace_organisations(session, call.workspace_id)]
        if not ids:
            raise UserFacingError(messages.NO_CONNECTIONS)
        return ids

    def pause(call: Call, args: PauseArgs, ack: Ack, respond: Respond,
              _client: WebClient) -> None:
        ack()
        actor = call_actor(call)
        if args.customer is not None:
            outcome = chasing.controls.pause_contact(actor, contact_for(call, args.customer),
                                                     until=args.until)
            outcomes = [outcome]
        else:
            outcomes = [chasing.controls.pause_account(actor, connection_id, until=args.until)
                        for connection_id in organisations(call)]
        respond(text=_said(outcomes), response_type="ephemeral")

    def resume(call: Call, args: PauseArgs, ack: Ack, respond: Respond,
               _client: WebClient) -> None:
        ack()
        actor = call_actor(call)
        if args.customer is not None:
            outcomes = [chasing.controls.resume_contact(actor, contact_for(call, args.customer))]
        else:
            outcomes = [chasing.controls.resume_account(actor, connection_id)
                        for connection_id in organisations(call)]
        respond(text=_said(outcomes), response_type="ephemeral")

    return [Route(Subcommand.PAUSE, parse_pause, pause),
            Route(Subcommand.RESUME, parse_resume, resume)]


def _said(outcomes: list[ControlOutcome]) -> str:
    return "\n".join(messages.control_outcome(o.subject, o.tenant_name, o.paused,
                                              o.until.isoformat() if o.until else None,
                                              o.changed)
                     for o in outcomes)
