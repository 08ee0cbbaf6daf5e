"""The digest's Block Kit: pure functions checked by equality and against Slack's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from bot.blocks.digest import MAX_BLOCKS, digest_blocks, digest_text, dispute_modal
from bot.chasing.digest import PAGE_SIZE, Digest, DigestLine
from bot.chasing.policy import SkipReason
from bot.chasing.receivables import AgingBucket, BucketTotal
from bot.messages import TERMINAL
from bot.payloads import DisputeForm, InvoiceRef, PageRef, decode, encode

TODAY = date(2026, 12, 1)
LINK = "https://go.xero.com/organisationlogin/default.aspx?shortcode=!Kauri&redirecturl="


def total(count: int, base: str, **by_currency: str) -> BucketTotal:
    return BucketTotal(count=count, totals={c: Decimal(a) for c, a in by_currency.items()},
                       base=Decimal(base))


def line(**overrides: object) -> DigestLine:
    values: dict[str, object] = {
        "invoice_id": 42,
        "xero_invoice_id": "inv-42",
        "invoice_number": "INV-0042",
        "customer": "Acme & Sons <Ltd>",
        "xero_contact_id": "con-7",
        "amount_due": Decimal("1200.00"),
        "currency": "USD",
        "base_amount": Decimal("2000.00"),
        "days_overdue": 45,
        "due_date": date(2026, 10, 17),
        "expected_payment_date": None,
        "expected_date_local": False,
        "paused": False,
        "disputed": False,
        "disputed_reason": None,
        "skip_reason": None,
    }
    values.update(overrides)
    return DigestLine(**values)  # type: ignore[arg-type]


def digest(lines: tuple[DigestLine, ...] = (), **overrides: object) -> Digest:
    values: dict[str, object] = {
        "connection_id": 3,
        "organisation": "Kauri Plumbing",
        "short_code": "!Kauri",
        "base_currency": "NZD",
        "today": TODAY,
        "status": "connected",
        "account_paused": False,
        "account_paused_until": None,
        "last_sync_at": datetime(2026, 11, 30, 19, 30, tzinfo=UTC),
        "open": total(3, "2500.00", NZD="500.00", USD="1200.00"),
        "overdue": total(len(lines) or 1, "2000.00", USD="1200.00"),
        "buckets": {
            AgingBucket.NOT_YET_DUE: total(2, "500.00", NZD="500.00"),
            AgingBucket.DAYS_1_30: BucketTotal(),
            AgingBucket.DAYS_31_60: total(1, "2000.00", USD="1200.00"),
            AgingBucket.DAYS_61_90: BucketTotal(),
            AgingBucket.DAYS_90_PLUS: BucketTotal(),
        },
        "not_chased": {SkipReason.NO_EMAIL: 2, SkipReason.INVOICE_PAUSED: 1,
                       SkipReason.CUSTOMER_PAUSED: 1, SkipReason.DISPUTED: 1},
        "lines": lines,
    }
    values.update(overrides)
    return Digest(**values)  # type: ignore[arg-type]


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict[str, object]:
    return {"type": "plain_text", "text": text, "emoji": True}


def test_a_one_invoice_digest_is_exactly_these_blocks():
    ref = encode(InvoiceRef(c=3, i=42))
    invoice_url = f"{LINK}/AccountsReceivable/View.aspx?InvoiceID=inv-42"
    contact_url = f"{LINK}/Contacts/View/con-7"
    assert digest_blocks(digest((line(),))) == [
        {"type": "header", "text": plain("Overdue digest · Kauri Plumbing")},
        {"type": "context", "elements": [mrkdwn("1 Dec 2026 · last synced 2026-11-30 19:30 UTC")]},
        {"type": "section", "text": mrkdwn(
            "*Open:* 3 invoices · NZD 500.00 · USD 1,200.00 (≈ NZD 2,500.00)\n"
            "*Overdue:* 1 invoice · USD 1,200.00 (≈ NZD 2,000.00)"
        )},
        {"type": "section", "fields": [
            mrkdwn("*Not yet due*\n2 · NZD 500.00"),
            mrkdwn("*1–30 days*\n0 · nothing"),
            mrkdwn("*31–60 days*\n1 · USD 1,200.00 (≈ NZD 2,000.00)"),
            mrkdwn("*61–90 days*\n0 · nothing"),
            mrkdwn("*90+ days*\n0 · nothing"),
        ]},
        {"type": "context", "elements": [
            mrkdwn("Not chased: 2 paused · 1 disputed · won't be chased: 2 no email")
        ]},
        {"type": "divider"},
        {"type": "section",
         "text": mrkdwn("*Most overdue* (1–1 of 1, by amount × days overdue)")},
        {
            "type": "section",
            "block_id": f"dl:-:{ref}",  # no expected date shown
            "text": mrkdwn(
                f"*1. <{invoice_url}|INV-0042>* · Acme &amp; Sons &lt;Ltd&gt;\n"
                "USD 1,200.00 (≈ NZD 2,000.00) · *45 days overdue* (due 17 Oct 2026)"
            ),
            "accessory": {
                "type": "datepicker",
                "action_id": "digest_expected_date",
                "placeholder": {"type": "plain_text", "text": "Expected payment date",
                                "emoji": True},
            },
        },
        {"type": "actions", "block_id": "db:42", "elements": [
            {"type": "button", "text": plain("Pause chasing"), "action_id": "digest_pause",
             "value": ref},
            {"type": "button", "text": plain("Mark disputed"), "action_id": "digest_dispute",
             "value": ref, "style": "danger"},
            {"type": "button", "text": plain("View in Xero"),
             "action_id": "digest_view_invoice", "url": invoice_url},
            {"type": "button", "text": plain("Edit contact in Xero"),
             "action_id": "digest_edit_contact", "url": contact_url},
        ]},
    ]


def test_the_notification_text_names_the_organisation_and_the_base_total():
    assert digest_text(digest((line(),))) == (
        "Overdue digest for Kauri Plumbing: 1 invoice overdue, NZD 2,000.00."
    )


def test_a_paused_disputed_invoice_offers_resume_and_resolve_and_shows_why():
    held = line(paused=True, disputed=True, disputed_reason="Wrong quantity",
                expected_payment_date=date(2026, 12, 20), expected_date_local=True,
                skip_reason=SkipReason.INVOICE_PAUSED)
    section, actions = digest_blocks(digest((held,)))[7:9]
    assert section["accessory"]["initial_date"] == "2026-12-20"
    assert section["text"]["text"].endswith(
        "\n:calendar: expected 20 Dec 2026 (kept in chaser-bot only) · "
        ":double_vertical_bar: chasing paused · :warning: disputed: “Wrong quantity”"
    )
    assert [b["action_id"] for b in actions["elements"][:2]] == ["digest_resume",
                                                                  "digest_resolve"]


def test_without_a_short_code_there_are_no_links_to_xero():
    blocks = digest_blocks(digest((line(),), short_code=None))
    assert "<" not in blocks[7]["text"]["text"].split("·")[0]
    assert [b["action_id"] for b in blocks[8]["elements"]] == ["digest_pause", "digest_dispute"]


def test_a_full_page_stays_inside_slacks_limits_and_offers_show_more():
    long_name = "Very Long Customer Name " * 200
    lines = tuple(line(invoice_id=n, customer=long_name, disputed=True,
                       disputed_reason="x" * 3000) for n in range(PAGE_SIZE))
    many = digest(lines, overdue=total(50, "1", NZD="1"))
    blocks = digest_blocks(many)
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        assert len(block.get("text", {}).get("text", "")) <= 3000
        for element in block.get("elements", []):
            assert len(element.get("value", "")) <= 2000
    pager = blocks[-1]
    assert pager["block_id"] == "digest_pager"
    (more,) = pager["elements"]
    assert more["text"]["text"] == "Show more"
    assert decode(more["value"]) == PageRef(c=3, p=1)


def test_the_last_page_goes_back_to_the_top_and_numbers_continue():
    lines = (line(invoice_id=1), line(invoice_id=2))
    last = digest(lines, overdue=total(PAGE_SIZE + 2, "1", NZD="1"), page=1)
    blocks = digest_blocks(last)
    assert blocks[6]["text"]["text"].startswith(f"*Most overdue* ({PAGE_SIZE + 1}–{PAGE_SIZE + 2}")
    assert blocks[7]["text"]["text"].startswith(f"*{PAGE_SIZE + 1}. ")
    (back,) = blocks[-1]["elements"]
    assert (back["text"]["text"], decode(back["value"])) == ("Back to the top", PageRef(c=3, p=0))


def test_nothing_overdue_says_so():
    blocks = digest_blocks(digest((), overdue=BucketTotal()))
    assert blocks[-1] == {"type": "section", "text": mrkdwn("Nothing is overdue. :tada:")}


def test_a_lost_connection_is_said_first_with_the_surfaces_command():
    lost = digest((line(),), status="needs_reconnect")
    assert "`/chaser connect`" in digest_blocks(lost)[2]["text"]["text"]
    assert "`chaser connect`" in digest_blocks(lost, TERMINAL)[2]["text"]["text"]


def test_an_account_pause_is_said_with_its_end_date():
    paused = replace(digest((line(),)), account_paused=True,
                     account_paused_until=date(2026, 12, 24))
    assert digest_blocks(paused)[2]["text"]["text"] == (
        ":double_vertical_bar: *Chasing is paused for this organisation until 24 Dec 2026.*"
    )


def test_the_dispute_modal_carries_the_invoice_and_the_message_to_update():
    form = DisputeForm(c=3, i=42, ch="C1", ts="1.2")
    modal = dispute_modal(form, "INV-0042", "Acme")
    assert modal["callback_id"] == "digest_dispute"
    assert decode(modal["private_metadata"]) == form
    assert modal["blocks"][1]["block_id"] == "dispute_reason"
    assert modal["blocks"][1]["element"]["action_id"] == "value"
    assert len(modal["title"]["text"]) <= 24
