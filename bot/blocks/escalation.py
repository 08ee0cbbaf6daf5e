"""The escalation approval card: who, what, how much, the history, the email, and the decision."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.blocks.mrkdwn import clip, escape
from bot.chasing.escalation_view import SNOOZE_CHOICES_HOURS, EscalationView
from bot.ids import Action, Block
from bot.payloads import EscalationRef, encode
from storage.models import ApprovalStatus

# Slack: a section's text holds at most 3,000 characters and a message 50 blocks.
SECTION_LIMIT = 3000
INVOICES_SHOWN = 10
HISTORY_SHOWN = 5
BODY_LIMIT = 2000


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _confirm(text: str) -> dict[str, Any]:
    return {
        "title": _plain(messages.ESCALATION_CONFIRM_TITLE),
        "text": {"type": "mrkdwn", "text": text},
        "confirm": _plain(messages.ESCALATION_CONFIRM_YES),
        "deny": _plain(messages.ESCALATION_CONFIRM_NO),
    }


def _invoice_lines(view: EscalationView) -> str:
    lines = [
        messages.ESCALATION_INVOICE_LINE.format(
            number=escape(invoice.number), amount_due=escape(invoice.amount_due),
            due_date=invoice.due_date, days_overdue=invoice.days_overdue,
        )
        for invoice in view.invoices[:INVOICES_SHOWN]
    ]
    extra = len(view.invoices) - INVOICES_SHOWN
    if extra > 0:
        lines.append(messages.ESCALATION_MORE_INVOICES.format(count=extra))
    return "\n".join(lines)


def _email_blocks(view: EscalationView) -> list[dict[str, Any]]:
    email = view.email
    if email is None:
        return [_section(messages.ESCALATION_NO_EMAIL)]
    head = messages.ESCALATION_EMAIL.format(
        sender=escape(email.sender), recipients=escape(", ".join(email.recipients)),
        subject=escape(email.subject),
    )
    # Quoted line by line (a "> " that Slack reads as a quote, around escaped text).
    body = "\n".join(f"> {escape(line)}" for line in clip(email.body, BODY_LIMIT).splitlines())
    return [_section(head), _section(body or ">")]


def _actions(view: EscalationView) -> dict[str, Any]:
    value = encode(EscalationRef(view.request_id))
    recipients = escape(", ".join(view.email.recipients)) if view.email else ""
    return {
        "type": "actions",
        "block_id": Block.ESCALATION_ACTIONS,
        "elements": [
            {
                "type": "button", "action_id": Action.ESCALATION_APPROVE, "style": "primary",
                "text": _plain(messages.ESCALATION_APPROVE), "value": value,
                "confirm": _confirm(
                    messages.ESCALATION_CONFIRM_APPROVE.format(recipients=recipients)),
            },
            {
                "type": "button", "action_id": Action.ESCALATION_DECLINE, "style": "danger",
                "text": _plain(messages.ESCALATION_DECLINE), "value": value,
                "confirm": _confirm(messages.ESCALATION_CONFIRM_DECLINE),
            },
            {
                "type": "static_select", "action_id": Action.ESCALATION_SNOOZE,
                "placeholder": _plain(messages.ESCALATION_SNOOZE),
                "options": [
                    {"text": _plain(messages.ESCALATION_SNOOZE_CHOICES[hours]),
                     "value": encode(EscalationRef(view.request_id, hours))}
                    for hours in SNOOZE_CHOICES_HOURS
                ],
            },
        ],
    }


def decision_text(view: EscalationView) -> str | None:
    """The line that replaces the buttons once someone decided (None while pending)."""
    if view.status is ApprovalStatus.PENDING:
        return None
    template = messages.ESCALATION_DECIDED[view.status.value]
    return template.format(
        who=f"<@{view.decided_by}>" if view.decided_by else messages.AUDIT_SCHEDULER,
        when=view.decided_at or "", until=view.ask_again_at or "",
        outcome=escape(view.outcome or ""),
    )


def escalation_blocks(view: EscalationView) -> list[dict[str, Any]]:
    """The whole card; the buttons give way to who decided and when once someone has."""
    count = len(view.invoices)
    summary = messages.ESCALATION_SUMMARY.format(
        organisation=escape(view.organisation), customer=escape(view.customer), count=count,
        invoice_word="invoice" if count == 1 else "invoices", total=escape(view.total),
        step=escape(view.step),
    )
    history = "\n".join(view.history[:HISTORY_SHOWN]) or messages.ESCALATION_NO_HISTORY
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(clip(
            messages.ESCALATION_HEADER.format(customer=view.customer), 150))},
        _section(summary),
        _section(_invoice_lines(view)),
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": clip(f"{messages.ESCALATION_HISTORY}\n{history}",
                                             SECTION_LIMIT)},
        ]},
        {"type": "divider"},
        *_email_blocks(view),
    ]
    decided = decision_text(view)
    if decided is None:
        blocks.append(_actions(view))
    else:
        blocks.append({"type": "context", "block_id": Block.ESCALATION_DECISION,
                       "elements": [{"type": "mrkdwn", "text": decided}]})
    return blocks


def escalation_text(view: EscalationView) -> str:
    """The notification / fallback text of the card's message."""
    text = messages.ESCALATION_FALLBACK.format(customer=view.customer, total=view.total)
    decided = decision_text(view)
    return f"{text}. {decided}" if decided else text
