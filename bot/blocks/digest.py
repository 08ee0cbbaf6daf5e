"""The daily digest message and its dispute modal as Block Kit: pure functions, no I/O."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot import messages
from bot.blocks.mrkdwn import clip, escape, money
from bot.chasing.digest import Digest, DigestLine
from bot.chasing.policy import PAUSED_REASONS, SKIP_REASON_LABELS, SkipReason
from bot.chasing.receivables import BucketTotal
from bot.ids import Action, Block, Field, View
from bot.messages import SLACK, Surface
from bot.payloads import DisputeForm, InvoiceRef, PageRef, encode
from bot.xero_links import contact_link, invoice_link

Blocks = list[dict[str, Any]]

# Slack's limits (docs.slack.dev/block-kit and the block reference pages).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
MAX_REASON_CHARS = 300  # a dispute reason shown in a line
DISPUTE_REASON_MAX = 500  # the modal's max_length; Slack's client enforces it, we check again

# Won't-be-chased reasons the digest counts one by one, in this order (the rest are summed).
COUNTED_REASONS = (
    SkipReason.NO_EMAIL,
    SkipReason.BELOW_MINIMUM,
    SkipReason.BEFORE_EXPECTED_DATE,
)


# Small pieces ---------------------------------------------------------------------------------


def day(value: date) -> str:
    """A date as people read it in the digest, e.g. "3 Mar 2026"."""
    return f"{value.day} {value:%b %Y}"


def _totals(total: BucketTotal, base_currency: str | None) -> str:
    """"NZD 1,234.00 · USD 50.00 (≈ NZD 1,316.00)": each currency, then the base sum if mixed."""
    if not total.totals:
        return messages.DIGEST_NOTHING
    parts = " · ".join(money(c, a) for c, a in sorted(total.totals.items()))
    foreign = base_currency is not None and set(total.totals) != {base_currency}
    if foreign:
        approx = messages.digest_base_amount(money(base_currency or "", total.base))
        if total.unconverted:
            approx += " " + messages.digest_unconverted(total.unconverted)
        parts += f" ({approx})"
    return parts


def _text(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, str]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _button(text: str, action: Action, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(text),
        "action_id": str(action),
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _link_button(text: str, action: Action, url: str) -> dict[str, Any]:
    return {"type": "button", "text": _plain(text), "action_id": str(action), "url": url}


# The message -----------------------------------------------------------------------------------


def digest_text(digest: Digest) -> str:
    """The message's plain `text`: what notifications and screen readers say."""
    return messages.digest_fallback(
        digest.organisation, digest.overdue.count, _headline(digest.overdue, digest.base_currency)
    )


def _headline(total: BucketTotal, base_currency: str | None) -> str:
    """One amount for a total: in the base currency when known, else each currency."""
    if base_currency and not total.unconverted:
        return money(base_currency, total.base)
    return _totals(total, base_currency)


def _status_blocks(digest: Digest, surface: Surface) -> Blocks:
    if digest.status == "needs_reconnect":
        return [{"type": "section",
                 "text": _text(messages.DIGEST_NEEDS_RECONNECT.render(surface))}]
    if digest.status == "disconnected":
        return [{"type": "section", "text": _text(messages.DIGEST_DISCONNECTED.render(surface))}]
    if digest.account_paused and (
        digest.account_paused_until is None or digest.today < digest.account_paused_until
    ):
        until = day(digest.account_paused_until) if digest.account_paused_until else None
        return [{"type": "section", "text": _text(messages.digest_account_paused(until))}]
    return []


def _not_chased(digest: Digest) -> str:
    counts = digest.not_chased
    paused = sum(n for reason, n in counts.items() if reason in PAUSED_REASONS)
    disputed = counts.get(SkipReason.DISPUTED, 0)
    reasons = [
        (SKIP_REASON_LABELS[reason], counts[reason])
        for reason in COUNTED_REASONS
        if counts.get(reason)
    ]
    return messages.digest_not_chased(paused, disputed, reasons)


def _line_text(line: DigestLine, rank: int, short_code: str | None,
               base_currency: str | None) -> str:
    number = escape(line.invoice_number or messages.DIGEST_NO_NUMBER)
    link = invoice_link(short_code, line.xero_invoice_id)
    title = f"<{link}|{number}>" if link else number
    customer = escape(clip(line.customer or messages.DIGEST_NO_CUSTOMER, 120))
    amount = money(line.currency, line.amount_due)
    if line.base_amount is not None and base_currency and line.currency != base_currency:
        amount += f" ({messages.digest_base_amount(money(base_currency, line.base_amount))})"
    due = day(line.due_date) if line.due_date else None
    text = [
        f"*{rank}. {title}* · {customer}",
        messages.digest_line_overdue(amount, line.days_overdue, due),
    ]
    notes = []
    if line.expected_payment_date:
        notes.append(
            messages.digest_line_expected(day(line.expected_payment_date), line.expected_date_local)
        )
    if line.paused:
        notes.append(messages.DIGEST_LINE_PAUSED)
    if line.disputed:
        reason = escape(clip(line.disputed_reason or "", MAX_REASON_CHARS))
        notes.append(messages.digest_line_disputed(reason))
    if line.skip_reason is not None and line.skip_reason not in PAUSED_REASONS | {
        SkipReason.DISPUTED
    }:
        notes.append(messages.digest_line_not_chased(SKIP_REASON_LABELS[line.skip_reason]))
    if notes:
        text.append(" · ".join(notes))
    return "\n".join(text)


def line_block_id(ref: str, expected: date | None) -> str:
    """`dl:<expected date or ->:<InvoiceRef>`; line_ref reads the InvoiceRef back."""
    return f"{Block.DIGEST_LINE}:{expected.isoformat() if expected else '-'}:{ref}"[:MAX_BLOCK_ID]


def line_ref(block_id: str) -> str:
    """The InvoiceRef payload of a digest line's block_id (see line_block_id)."""
    return block_id.removeprefix(f"{Block.DIGEST_LINE}:").partition(":")[2]


def line_blocks(line: DigestLine, rank: int, digest: Digest) -> Blocks:
    """One overdue invoice: its facts with a date picker, then its buttons."""
    ref = encode(InvoiceRef(c=digest.connection_id, i=line.invoice_id))
    picker: dict[str, Any] = {
        "type": "datepicker",
        "action_id": str(Action.DIGEST_EXPECTED_DATE),
        "placeholder": _plain(messages.DIGEST_EXPECTED_PLACEHOLDER, 150),
    }
    if line.expected_payment_date:
        picker["initial_date"] = line.expected_payment_date.isoformat()
    buttons = [
        _button(messages.DIGEST_RESUME, Action.DIGEST_RESUME, ref)
        if line.paused
        else _button(messages.DIGEST_PAUSE, Action.DIGEST_PAUSE, ref),
        _button(messages.DIGEST_RESOLVE, Action.DIGEST_RESOLVE, ref)
        if line.disputed
        else _button(messages.DIGEST_DISPUTE, Action.DIGEST_DISPUTE, ref, style="danger"),
    ]
    invoice_url = invoice_link(digest.short_code, line.xero_invoice_id)
    if invoice_url:
        buttons.append(_link_button(messages.DIGEST_VIEW_IN_XERO, Action.DIGEST_VIEW_INVOICE,
                                    invoice_url))
    contact_url = contact_link(digest.short_code, line.xero_contact_id)
    if contact_url:
        buttons.append(_link_button(messages.DIGEST_EDIT_CONTACT, Action.DIGEST_EDIT_CONTACT,
                                    contact_url))
    return [
        {
            "type": "section",
            # The block_id carries the invoice for the date picker, which has no value, and the
            # date it shows: "If a message is updated, use a new block_id" (Block Kit's block
            # reference), or a client may keep the picker's old state over the new initial_date.
            "block_id": line_block_id(ref, line.expected_payment_date),
            "text": _text(_line_text(line, rank, digest.short_code, digest.base_currency)),
            "accessory": picker,
        },
        {"type": "actions", "block_id": f"{Block.DIGEST_BUTTONS}:{line.invoice_id}",
         "elements": buttons},
    ]


def _pager(digest: Digest) -> Blocks:
    buttons = []
    if digest.page > 0:
        buttons.append(_button(messages.DIGEST_FIRST_PAGE, Action.DIGEST_PAGE,
                               encode(PageRef(c=digest.connection_id, p=0))))
    if digest.page + 1 < digest.pages:
        buttons.append(_button(messages.DIGEST_SHOW_MORE, Action.DIGEST_PAGE,
                               encode(PageRef(c=digest.connection_id, p=digest.page + 1)),
                               style="primary"))
    if not buttons:
        return []
    return [{"type": "actions", "block_id": str(Block.DIGEST_PAGER), "elements": buttons}]


def digest_blocks(digest: Digest, surface: Surface = SLACK) -> Blocks:
    """The whole digest message for one page of overdue lines, inside Block Kit's limits.

    `surface` only changes how commands are written (the terminal shows the same blocks).
    """
    when = digest.today
    synced = last_sync_label(digest.last_sync_at)
    blocks: Blocks = [
        {
            "type": "header",
            "text": _plain(messages.digest_title(digest.organisation), MAX_HEADER_TEXT),
        },
        {"type": "context", "elements": [_text(f"{day(when)} · {synced}")]},
        *_status_blocks(digest, surface),
        {
            "type": "section",
            "text": _text(
                messages.digest_open_line(digest.open.count,
                                          _totals(digest.open, digest.base_currency))
                + "\n"
                + messages.digest_overdue_line(digest.overdue.count,
                                               _totals(digest.overdue, digest.base_currency))
            ),
        },
        {
            "type": "section",
            "fields": [
                _text(
                    f"*{bucket.label}*\n"
                    + messages.digest_bucket(total.count, _totals(total, digest.base_currency)),
                    MAX_FIELD_TEXT,
                )
                for bucket, total in digest.buckets.items()
            ],
        },
        {"type": "context", "elements": [_text(_not_chased(digest))]},
    ]
    if digest.lines:
        first = digest.first_line_number
        last = first + len(digest.lines) - 1
        blocks += [
            {"type": "divider"},
            {
                "type": "section",
                "text": _text(messages.digest_top_heading(first, last, digest.overdue.count)),
            },
        ]
        for offset, line in enumerate(digest.lines):
            blocks += line_blocks(line, first + offset, digest)
        blocks += _pager(digest)
    else:
        blocks.append({"type": "section", "text": _text(messages.DIGEST_NOTHING_OVERDUE)})
    if len(blocks) > MAX_BLOCKS:  # a page size too large for Slack is a programming error
        raise ValueError(f"digest page has {len(blocks)} blocks; Slack allows {MAX_BLOCKS}")
    return blocks


# The dispute modal ----------------------------------------------------------------------------


def dispute_modal(form: DisputeForm, invoice_number: str | None, customer: str | None) -> dict:
    """The modal that asks why an invoice is disputed (its submission marks it disputed)."""
    what = messages.dispute_modal_intro(
        escape(invoice_number or messages.DIGEST_NO_NUMBER),
        escape(customer or messages.DIGEST_NO_CUSTOMER),
    )
    return {
        "type": "modal",
        "callback_id": str(View.DIGEST_DISPUTE),
        "private_metadata": encode(form),
        "title": _plain(messages.DISPUTE_MODAL_TITLE, 24),
        "submit": _plain(messages.DISPUTE_MODAL_SUBMIT, 24),
        "close": _plain(messages.DISPUTE_MODAL_CLOSE, 24),
        "blocks": [
            {"type": "section", "text": _text(what)},
            {
                "type": "input",
                "block_id": str(Block.DISPUTE_REASON),
                "label": _plain(messages.DISPUTE_MODAL_LABEL, 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": str(Field.VALUE),
                    "multiline": True,
                    "max_length": DISPUTE_REASON_MAX,
                },
            },
        ],
    }


def last_sync_label(at: datetime | None) -> str:
    """When the figures were last synced, as the digest and App Home say it."""
    if at is None:
        return messages.DIGEST_NEVER_SYNCED
    return messages.digest_last_sync(f"{at:%Y-%m-%d %H:%M} UTC")
