"""The forewarn message: tomorrow's emails per customer, each with a Skip button."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.blocks.mrkdwn import escape
from bot.chasing.forewarn_view import ForewarnCustomer, ForewarnView
from bot.ids import Action
from bot.payloads import SkipRef, encode

# A message holds at most 50 blocks: header, summary, divider, the customers, one "more" line.
CUSTOMERS_SHOWN = 40
RECIPIENTS_SHOWN = 3


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def _customer_text(customer: ForewarnCustomer) -> str:
    shown = ", ".join(customer.recipients[:RECIPIENTS_SHOWN])
    extra = len(customer.recipients) - RECIPIENTS_SHOWN
    to = f"{shown} +{extra}" if extra > 0 else shown
    text = messages.FOREWARN_CUSTOMER.format(
        name=escape(customer.name), emails=customer.emails,
        email_word=_plural(customer.emails, "email"), invoices=customer.invoices,
        invoice_word=_plural(customer.invoices, "invoice"), total=escape(customer.total),
        to=escape(to),
    )
    if customer.needs_approval:
        text += messages.FOREWARN_NEEDS_APPROVAL
    if customer.skipped_by:
        text += "\n" + messages.FOREWARN_SKIPPED.format(who=_who(customer.skipped_by))
    return text


def _who(actor: str) -> str:
    return f"<@{actor}>" if actor[:1] in ("U", "W") else actor


def _customer_block(view: ForewarnView, customer: ForewarnCustomer) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "block_id": f"forewarn_customer_{customer.contact_id}",
        "text": {"type": "mrkdwn", "text": _customer_text(customer)},
    }
    if customer.skipped_by is None:
        block["accessory"] = {
            "type": "button",
            "action_id": Action.FOREWARN_SKIP,
            "text": {"type": "plain_text", "text": messages.FOREWARN_SKIP},
            "value": encode(SkipRef(view.connection_id, customer.contact_id,
                                   view.run_date.isoformat())),
        }
    return block


def forewarn_blocks(view: ForewarnView) -> list[dict[str, Any]]:
    """Header, totals, then one section per customer (skipped ones say who skipped them)."""
    header = {"type": "header", "text": {"type": "plain_text", "text": messages.FOREWARN_HEADER
                                         .format(organisation=view.organisation)[:150]}}
    if not view.customers:
        return [header, {"type": "section", "text": {"type": "mrkdwn", "text":
                messages.FOREWARN_NOTHING.format(send_at=view.send_at)}}]
    summary = messages.FOREWARN_SUMMARY.format(
        emails=view.emails, email_word=_plural(view.emails, "email"),
        customers=len(view.customers), customer_word=_plural(len(view.customers), "customer"),
        total=escape(view.total), send_at=view.send_at,
    )
    blocks: list[dict[str, Any]] = [
        header,
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
        {"type": "divider"},
        *(_customer_block(view, c) for c in view.customers[:CUSTOMERS_SHOWN]),
    ]
    extra = len(view.customers) - CUSTOMERS_SHOWN
    if extra > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       messages.FOREWARN_MORE.format(count=extra,
                                                     command="`chaser chase --dry-run`")}]})
    return blocks


def forewarn_text(view: ForewarnView) -> str:
    """The notification / fallback text."""
    return messages.FOREWARN_FALLBACK.format(organisation=view.organisation, emails=view.emails,
                                             total=view.total)
