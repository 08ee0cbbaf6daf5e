"""Block Kit for /chaser status, overdue, invoice, customer and connect: data in, blocks out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from bot import messages
from bot.blocks.mrkdwn import clip
from bot.chasing.lookup_views import (
    CustomerChoice,
    CustomerDetail,
    InvoiceDetail,
    InvoiceLine,
    NotChased,
    OrganisationStatus,
    OverdueList,
    choice_labels,
    money,
)
from bot.ids import Action
from bot.payloads import ContactRef, encode

SECTION_LIMIT = 3000  # characters in a section's text (Block Kit)

Blocks = list[dict[str, Any]]


def _text(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


def _day(value: date | None) -> str:
    return f"{value:%-d %b %Y}" if value else "—"


def _when(value: datetime | None) -> str:
    """A time Slack shows in the reader's own timezone (with a UTC fallback)."""
    if value is None:
        return "never"
    fallback = f"{value:%-d %b %Y %H:%M} UTC"
    return f"<!date^{int(value.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _link_button(text: str, url: str, action_id: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "url": url, "action_id": action_id}


def status_blocks(statuses: Sequence[OrganisationStatus],
                  not_chased: Mapping[int, NotChased] | None = None,
                  note: str | None = None) -> Blocks:
    """One section per organisation (with how many open invoices won't be chased, and why),
    then the note, if any."""
    blocks: Blocks = []
    for status in statuses:
        if status.needs_reconnect:
            state = f":warning: needs reconnecting ({status.reason or 'Xero refused access'})"
        else:
            state = ":white_check_mark: connected"
        sync = _when(status.last_sync_at)
        if status.last_sync_error:
            sync += f" — failed: {status.last_sync_error}"
        elif status.last_sync_at:
            sync += " — ok"
        digest = (f"{_when(status.next_digest_at)} in <#{status.digest_channel_id}>"
                  if status.next_digest_at and status.digest_channel_id
                  else "not scheduled (pick a channel in `/chaser settings`)")
        if status.needs_reconnect:
            chasing = "paused until Xero is reconnected"
        elif status.paused:
            chasing = f"paused until {_day(status.paused_until)}" if status.paused_until \
                else "paused"
        else:
            chasing = "on"
        skipped = (not_chased or {}).get(status.connection_id)
        not_chased_line = (f"\n*Not chased:* {messages.not_chased_summary(skipped.labelled())}"
                           if skipped is not None else "")
        blocks.append(_text(
            f"*{status.name}* · {state}\n*Last sync:* {sync}\n*Next digest:* {digest}\n"
            f"*Chasing:* {chasing}{not_chased_line}"))
    if note:
        blocks.append(_text(note))
    return blocks


def _invoice_line(line: InvoiceLine, *, with_org: bool) -> str:
    org = f" · {line.organisation}" if with_org else ""
    late = (f"{line.days_overdue} days overdue" if line.days_overdue
            else f"due {_day(line.due_date)}")
    return (f"`{line.number}` {line.customer} — {line.currency} {money({'': line.amount_due})}"
            f", {late}{org}")


def overdue_blocks(result: OverdueList) -> Blocks:
    """The most overdue invoices with a heading of count and totals."""
    if not result.count:
        text = (messages.OVERDUE_NONE_FOR.format(customer=result.customer) if result.customer
                else messages.OVERDUE_NONE)
        return [_text(text)]
    heading = (messages.OVERDUE_HEADING_FOR if result.customer else messages.OVERDUE_HEADING)
    blocks = [_text("*" + heading.format(customer=result.customer, count=result.count,
                                         total=money(result.totals)) + "*")]
    orgs = {line.organisation for line in result.lines}
    blocks.append(_text("\n".join(_invoice_line(line, with_org=len(orgs) > 1)
                                  for line in result.lines)))
    if result.count > len(result.lines):
        blocks.append(_context(messages.OVERDUE_MORE.format(shown=len(result.lines),
                                                            count=result.count)))
    return blocks


def invoice_blocks(detail: InvoiceDetail) -> Blocks:
    """One invoice: amounts, dates, expected date and where it is kept, history, Xero link."""
    state = []
    if detail.days_overdue:
        state.append(f"*{detail.days_overdue} days overdue*")
    if detail.disputed:
        state.append(f"disputed ({detail.disputed_reason or 'no reason given'})")
    if detail.paused:
        state.append("chasing paused" + (f" until {_day(detail.paused_until)}"
                                         if detail.paused_until else ""))
    expected = (f"{_day(detail.expected_date)} ({detail.expected_date_kept})"
                if detail.expected_date else "not set")
    cur = detail.currency
    fields = [
        f"*Total:* {cur} {money({'': detail.total})}",
        f"*Amount due:* {cur} {money({'': detail.amount_due})}",
        f"*Paid:* {cur} {money({'': detail.amount_paid})}",
        f"*Credited:* {cur} {money({'': detail.amount_credited})}",
        f"*Date:* {_day(detail.date)}",
        f"*Due:* {_day(detail.due_date)}",
        f"*Expected payment:* {expected}",
        f"*Status:* {detail.status.title()}",
    ]
    blocks: Blocks = [
        _text(f"*Invoice {detail.number}* · {detail.customer} · {detail.organisation}"
              + (f"\n{', '.join(state)}" if state else "")),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        _text(f"*{messages.AUDIT_HEADING}*\n" + "\n".join(detail.trail)),
    ]
    if detail.xero_url:
        blocks.append({"type": "actions", "elements": [
            _link_button(messages.VIEW_IN_XERO, detail.xero_url, Action.LOOKUP_VIEW_IN_XERO)]})
    return blocks


def customer_blocks(detail: CustomerDetail) -> Blocks:
    """A customer: emails, escalated recipients, open invoices, totals, paused or not, Xero link."""
    emails = ", ".join(detail.emails) or "no email address (reminders cannot be sent)"
    escalated = ", ".join(detail.escalated) or messages.ESCALATED_NONE
    lines = [f"*{detail.name}* · {detail.organisation}",
             f"*Emails:* {emails}",
             f"*Escalated emails go to:* {escalated}",
             f"*Open:* {money(detail.totals)}"
             + (f" (overdue {money(detail.overdue_totals)})" if detail.overdue_totals else "")]
    if detail.paused:
        lines.append("*Chasing:* paused" + (f" until {_day(detail.paused_until)}"
                                            if detail.paused_until else ""))
    blocks: Blocks = [_text("\n".join(lines))]
    if detail.open_invoices:
        blocks.append(_text("\n".join(_invoice_line(line, with_org=False)
                                      for line in detail.open_invoices)))
    if detail.xero_url:
        blocks.append({"type": "actions", "elements": [
            _link_button(messages.EDIT_IN_XERO, detail.xero_url, Action.LOOKUP_EDIT_CONTACT)]})
    return blocks


def customer_choice_blocks(choice: CustomerChoice) -> Blocks:
    """Close matches as buttons; a click shows that customer."""
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": label[:75]},
                "action_id": f"{Action.CUSTOMER_PICK}:{contact_id}",
                "value": encode(ContactRef(k=contact_id))}
               for (contact_id, _name, _org), label in zip(choice.matches, choice_labels(choice),
                                                           strict=True)]
    return [_text(messages.CUSTOMER_CHOOSE.format(asked=choice.asked)),
            {"type": "actions", "elements": buttons}]


def connect_blocks(url: str, note: str | None = None) -> Blocks:
    """The consent link as a button (and a note under it, if any)."""
    return [_text(messages.CONNECT_PROMPT),
            {"type": "actions", "elements": [
                {**_link_button(messages.CONNECT_BUTTON, url, Action.CONNECT_XERO),
                 "style": "primary"}]},
            *([_text(note)] if note else [])]
