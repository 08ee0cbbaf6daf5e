"""/chaser escalate <customer> [email,… | clear]: show or choose who escalations go to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import messages
from bot.chasing.lookup_views import CustomerChoice, choice_labels
from bot.chasing.lookups import find_customers
from bot.handlers.chaser_command import BadArguments, Call, Route
from bot.handlers.pausing import CustomerAmbiguous
from bot.handlers.support import call_actor, services
from bot.ids import Subcommand
from bot.messages import SLACK
from storage.db import session_scope

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.deps import AppDeps

CLEAR_WORDS = frozenset({"clear", "none"})


@dataclass(frozen=True)
class EscalateArgs:
    customer: str
    emails: tuple[str, ...] = ()  # as typed; checked by the chasing service
    clear: bool = False


def parse_escalate(words: Sequence[str]) -> EscalateArgs:
    """<customer> then addresses (anything with an @, commas or spaces between) or `clear`."""
    words = list(words)
    if words and words[-1].lower() in CLEAR_WORDS:
        return EscalateArgs(customer=_name(words[:-1]), clear=True)
    at = len(words)
    while at > 0 and "@" in words[at - 1]:
        at -= 1
    return EscalateArgs(customer=_name(words[:at]), emails=tuple(words[at:]))


def _name(words: list[str]) -> str:
    name = " ".join(words).strip()
    if not name:
        raise BadArguments("needs a customer")
    return name


def routes(app: App, deps: AppDeps) -> list[Route]:
    """escalate: everyone may look; choosing and clearing are for admins (the service asks)."""
    chasing = services(app, deps)

    def escalate(call: Call, args: EscalateArgs, ack: Ack, respond: Respond,
                 _client: WebClient) -> None:
        ack()
        with session_scope(deps.session_factory) as session:
            found = find_customers(session, call.workspace_id, args.customer)
        if isinstance(found, CustomerChoice):
            raise CustomerAmbiguous(messages.customers_ambiguous(
                args.customer, choice_labels(found)))
        if args.clear:
            outcome = chasing.recipients.clear(call_actor(call), found.id)
        elif args.emails:
            outcome = chasing.recipients.choose(call_actor(call), found.id, args.emails)
        else:
            chosen = tuple(chasing.recipients.escalated(found.id))
            respond(text=messages.escalated_shown(found.name or args.customer, chosen)
                    .render(SLACK), response_type="ephemeral")
            return
        respond(text=messages.escalated_chosen(outcome.customer, outcome.organisation,
                                               outcome.escalated, outcome.changed).render(SLACK),
                response_type="ephemeral")

    return [Route(Subcommand.ESCALATE, parse_escalate, escalate)]
