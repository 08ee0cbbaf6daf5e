"""/chaser escalate and the customer view's escalated recipients, through signed HTTP, the
fake Slack and a sandbox Xero."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.handlers.chaser_command import BadArguments
from bot.handlers.recipients import EscalateArgs, parse_escalate
from storage.db import session_scope
from storage.models import AuditEntry, Contact, ContactEmail, EmailRole
from tests.fixtures.slack import ADMIN, MEMBER, SlackWorld
from tests.test_slack_commands import an_overdue_invoice, ask, blocks_text, world  # noqa: F401


@pytest.mark.parametrize("words, parsed", [
    (["Acme Ltd"], EscalateArgs("Acme Ltd")),
    (["Acme", "Ltd", "ceo@acme.example,cfo@acme.example"],
     EscalateArgs("Acme Ltd", ("ceo@acme.example,cfo@acme.example",))),
    (["Acme", "ceo@acme.example", "cfo@acme.example"],
     EscalateArgs("Acme", ("ceo@acme.example", "cfo@acme.example"))),
    (["Acme Ltd", "clear"], EscalateArgs("Acme Ltd", clear=True)),
])
def test_escalate_reads_the_customer_then_addresses_or_clear(words, parsed) -> None:
    assert parse_escalate(words) == parsed


def test_escalate_without_a_customer_gets_its_usage_line(world: SlackWorld) -> None:  # noqa: F811
    with pytest.raises(BadArguments):
        parse_escalate(["ceo@acme.example"])
    assert world.send.command("escalate", user=ADMIN).json()["text"] == \
        "Usage: `/chaser escalate <customer> [email,… | clear]`"


def test_an_admin_chooses_escalated_recipients_and_the_customer_view_shows_them(
    world: SlackWorld,  # noqa: F811
) -> None:
    invoice = an_overdue_invoice(world)
    with session_scope(world.deps.session_factory) as session:
        name = session.get(Contact, invoice.contact_id).name
    (refused,) = ask(world, f'escalate "{name}" boss@board.example', user=MEMBER)
    assert refused["text"].startswith("Only admins can choose who escalated emails go to")

    (post,) = ask(world, f'escalate "{name}" boss@board.example,CFO@Board.example', user=ADMIN)
    assert post["response_type"] == "ephemeral"
    assert post["text"].endswith("now go to boss@board.example, CFO@board.example.")
    with session_scope(world.deps.session_factory) as session:
        chosen = sorted(e.email for e in session.scalars(select(ContactEmail).where(
            ContactEmail.contact_id == invoice.contact_id,
            ContactEmail.role == EmailRole.ESCALATED)))
        assert chosen == ["CFO@board.example", "boss@board.example"]
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions[-2:] == ["permission.refused", "contact.escalated_recipients"]

    (view,) = ask(world, f'customer "{name}"')
    text = blocks_text(view)
    assert "*Escalated emails go to:* boss@board.example, CFO@board.example" in text
    emails_line = view["blocks"][0]["text"]["text"].split("\n")[1]
    assert emails_line.startswith("*Emails:*") and "boss@board.example" not in emails_line

    (shown,) = ask(world, f'escalate "{name}"', user=MEMBER)
    assert "go to: boss@board.example, CFO@board.example" in shown["text"]

    (cleared,) = ask(world, f'escalate "{name}" clear', user=ADMIN)
    assert "has no escalated recipients now" in cleared["text"]
    (view,) = ask(world, f'customer "{name}"')
    assert "none chosen: escalations go to the normal recipients" in blocks_text(view)


def test_a_bad_address_is_answered_in_one_line(world: SlackWorld) -> None:  # noqa: F811
    invoice = an_overdue_invoice(world)
    with session_scope(world.deps.session_factory) as session:
        name = session.get(Contact, invoice.contact_id).name
    (post,) = ask(world, f'escalate "{name}" boss@', user=ADMIN)
    assert post["text"].startswith("'boss@' is not an email address we can send to")
    assert "\n" not in post["text"]
