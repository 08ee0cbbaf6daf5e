"""`chaser customer escalate`: choose who a customer's escalated emails go to."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from bot import messages
from bot.cli.support import CommandError, choose_connections, migrated_context
from bot.config import Settings
from bot.errors import BadInput
from bot.messages import TERMINAL


def _contact_id(session, org: str | None, customer: str) -> int:
    """The one customer called `customer` (as in Xero, any case) in the chosen organisations."""
    from sqlalchemy import func, select

    from storage import repositories
    from storage.models import Contact

    chosen = choose_connections(repositories.list_connections(session), org)
    contacts = session.scalars(select(Contact).where(
        Contact.connection_id.in_([c.id for c in chosen]),
        func.lower(Contact.name) == customer.strip().lower())).all()
    if not contacts:
        raise CommandError(f"No customer is called {customer!r}: use the name as it is in Xero.")
    if len(contacts) > 1:
        raise CommandError(f"Several organisations have a customer called {customer!r}: choose "
                           "one with --org.")
    return contacts[0].id


def escalate(settings: Settings, console: Console, *, org: str | None, customer: str,
             emails: list[str], clear: bool) -> None:
    """Set (or clear, or show) the customer's escalated recipients."""
    from bot.chasing.permissions import Actor, NoDirectory, Permissions
    from bot.chasing.recipients import EscalatedRecipients
    from storage.db import session_scope

    if clear and emails:
        raise BadInput("Give --email addresses or --clear, not both.")
    ctx = migrated_context(settings)
    with session_scope(ctx.session_factory) as session:
        contact_id = _contact_id(session, org, customer)
    service = EscalatedRecipients(
        ctx.session_factory, Permissions(ctx.session_factory, NoDirectory(), ctx.clock),
        ctx.clock)
    if not emails and not clear:
        chosen = service.escalated(contact_id)
        console.print(f"Escalated recipients of {escape(customer)}: "
                      f"{escape(', '.join(chosen) or messages.ESCALATED_NONE)}")
        return
    actor = Actor.operator()
    outcome = (service.clear(actor, contact_id) if clear
               else service.choose(actor, contact_id, emails))
    console.print(escape(messages.escalated_chosen(
        outcome.customer, outcome.organisation, outcome.escalated, outcome.changed
    ).render(TERMINAL)))
