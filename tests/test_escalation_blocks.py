"""Escalation cards and the forewarn as Block Kit: pure functions checked by equality."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from bot.blocks.escalation import escalation_blocks, escalation_text
from bot.blocks.forewarn import CUSTOMERS_SHOWN, forewarn_blocks, forewarn_text
from bot.chasing.escalation_view import CardInvoice, EmailPreview, EscalationView
from bot.chasing.forewarn_view import ForewarnCustomer, ForewarnView
from bot.payloads import EscalationRef, SkipRef, decode
from storage.models import ApprovalStatus
from tests.fakes import slack_limits

VIEW = EscalationView(
    request_id=3, organisation="Kiwi & Co", customer="Acme <Ltd>", step="14 days overdue",
    total="NZ$250.00",
    invoices=(CardInvoice("INV-7", "NZ$250.00", "17 Nov 2026", 14),),
    history=("30 Nov 2026 10:04 · chaser-bot: emailed ap@acme.example about INV-7",),
    email=EmailPreview("Alex Boss <alex@kiwi.example>", ("ceo@acme.example",),
                       "Final notice: INV-7", "Dear Acme,\n\nPay <now> & thanks."),
    status=ApprovalStatus.PENDING,
)


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def _confirm(text: str) -> dict:
    return {"title": _plain("Are you sure?"), "text": {"type": "mrkdwn", "text": text},
            "confirm": _plain("Yes"), "deny": _plain("Cancel")}


HEAD = [
    {"type": "header", "text": _plain("Escalation to approve: Acme <Ltd>")},
    {"type": "section", "text": {"type": "mrkdwn", "text":
        "*Kiwi &amp; Co* would send an escalated reminder to *Acme &lt;Ltd&gt;* about 1 "
        "invoice totalling *NZ$250.00* (14 days overdue)."}},
    {"type": "section", "text": {"type": "mrkdwn", "text":
        "• INV-7: NZ$250.00, due 17 Nov 2026 (14 days overdue)"}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text":
        "*History*\n30 Nov 2026 10:04 · chaser-bot: emailed ap@acme.example about INV-7"}]},
    {"type": "divider"},
    {"type": "section", "text": {"type": "mrkdwn", "text":
        "*The email that would go*\nFrom: Alex Boss &lt;alex@kiwi.example&gt;\n"
        "To: ceo@acme.example\nSubject: Final notice: INV-7"}},
    {"type": "section", "text": {"type": "mrkdwn", "text":
        "> Dear Acme,\n> \n> Pay &lt;now&gt; &amp; thanks."}},
]


def test_a_pending_card_shows_everything_and_asks_for_a_decision():
    value = '{"v":"e1","r":3}'
    assert escalation_blocks(VIEW) == [*HEAD, {
        "type": "actions", "block_id": "escalation_actions", "elements": [
            {"type": "button", "action_id": "escalation_approve", "style": "primary",
             "text": _plain("Approve and send"), "value": value,
             "confirm": _confirm("Send the escalated email to ceo@acme.example now?")},
            {"type": "button", "action_id": "escalation_decline", "style": "danger",
             "text": _plain("Decline"), "value": value,
             "confirm": _confirm("Stop chasing these invoices? You can resume them later.")},
            {"type": "static_select", "action_id": "escalation_snooze",
             "placeholder": _plain("Snooze…"), "options": [
                 {"text": _plain(label), "value": f'{{"v":"e1","r":3,"h":{hours}}}'}
                 for label, hours in (("4 hours", 4), ("1 day", 24), ("3 days", 72),
                                      ("1 week", 168))]},
        ]}]
    assert escalation_text(VIEW) == "Escalation to approve: Acme <Ltd>, NZ$250.00"


def test_the_buttons_carry_a_payload_we_can_read_back():
    actions = escalation_blocks(VIEW)[-1]["elements"]
    assert decode(actions[0]["value"]) == EscalationRef(3)
    assert decode(actions[2]["options"][1]["value"]) == EscalationRef(3, 24)


def test_a_decided_card_says_who_decided_and_when_instead_of_the_buttons():
    approved = replace(VIEW, status=ApprovalStatus.SENT, decided_by="U0BOSS01",
                       decided_at="Tue 1 Dec at 10:31", outcome="sent to ceo@acme.example")
    assert escalation_blocks(approved) == [*HEAD, {
        "type": "context", "block_id": "escalation_decision", "elements": [{
            "type": "mrkdwn",
            "text": ":white_check_mark: Approved by <@U0BOSS01> on Tue 1 Dec at 10:31: "
                    "email sent."}]}]
    snoozed = replace(VIEW, status=ApprovalStatus.SNOOZED, decided_by="U0BOSS01",
                      decided_at="Tue 1 Dec at 10:31", ask_again_at="Wed 2 Dec at 10:31")
    assert escalation_blocks(snoozed)[-1]["elements"][0]["text"] == (
        ":alarm_clock: Snoozed by <@U0BOSS01> on Tue 1 Dec at 10:31: you'll be asked again "
        "on Wed 2 Dec at 10:31.")
    declined = replace(VIEW, status=ApprovalStatus.DECLINED, decided_by="U0DEP",
                       decided_at="Tue 1 Dec at 10:31")
    assert escalation_text(declined) == (
        "Escalation to approve: Acme <Ltd>, NZ$250.00. :no_entry_sign: Declined by <@U0DEP> "
        "on Tue 1 Dec at 10:31: chasing these invoices stopped.")


def test_a_long_card_stays_within_slacks_limits():
    many = replace(VIEW, invoices=tuple(CardInvoice(f"INV-{n}", "NZ$1.00", "1 Dec 2026", 1)
                                        for n in range(200)),
                   email=replace(VIEW.email, body="x" * 10_000),
                   history=tuple(f"line {n}" for n in range(50)))
    blocks = escalation_blocks(many)
    assert slack_limits.block_problems(blocks, slack_limits.MESSAGE_BLOCKS) == []
    assert blocks[2]["text"]["text"].endswith("…and 190 more")


FOREWARN = ForewarnView(
    connection_id=4, organisation="Kiwi Plumbing", run_date=date(2026, 12, 2),
    send_at="Wed 2 Dec at 10:00", emails=3, total="NZ$1,350.00",
    customers=(
        ForewarnCustomer(11, "Acme Ltd", 2, 3, "NZ$1,100.00", ("ap@acme.example",)),
        ForewarnCustomer(12, "Bolt & Nut", 1, 1, "NZ$250.00",
                         ("a@bolt.example", "b@bolt.example", "c@bolt.example",
                          "d@bolt.example"), needs_approval=True, skipped_by="U0CLERK01"),
    ),
)


def test_the_forewarn_lists_tomorrows_emails_with_a_skip_button_per_customer():
    assert forewarn_blocks(FOREWARN) == [
        {"type": "header", "text": {"type": "plain_text",
                                    "text": "Tomorrow's chase: Kiwi Plumbing"}},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            "3 emails to 2 customers for *NZ$1,350.00*, going out Wed 2 Dec at 10:00. "
            "Skip anyone who should not hear from us tomorrow."}},
        {"type": "divider"},
        {"type": "section", "block_id": "forewarn_customer_11", "text": {"type": "mrkdwn",
            "text": "*Acme Ltd*: 2 emails, 3 invoices, NZ$1,100.00\nTo: ap@acme.example"},
         "accessory": {"type": "button", "action_id": "forewarn_skip",
                       "text": {"type": "plain_text", "text": "Skip"},
                       "value": '{"v":"s1","c":4,"k":11,"d":"2026-12-02"}'}},
        {"type": "section", "block_id": "forewarn_customer_12", "text": {"type": "mrkdwn",
            "text": "*Bolt &amp; Nut*: 1 email, 1 invoice, NZ$250.00\n"
                    "To: a@bolt.example, b@bolt.example, c@bolt.example +1"
                    " · needs a manager's approval\n"
                    ":fast_forward: Skipped by <@U0CLERK01>: not chased tomorrow."}},
    ]
    assert decode(forewarn_blocks(FOREWARN)[3]["accessory"]["value"]) == SkipRef(
        4, 11, "2026-12-02")
    assert forewarn_text(FOREWARN) == (
        "Tomorrow's chase for Kiwi Plumbing: 3 emails for NZ$1,350.00")


def test_a_forewarn_with_nothing_to_send_says_so():
    empty = replace(FOREWARN, emails=0, customers=())
    assert forewarn_blocks(empty)[1] == {"type": "section", "text": {
        "type": "mrkdwn", "text": "Nothing to send Wed 2 Dec at 10:00: no reminders are due."}}


def test_a_forewarn_for_many_customers_fits_one_message():
    crowd = replace(FOREWARN, customers=tuple(
        ForewarnCustomer(n, f"Customer {n}", 1, 1, "NZ$1.00", ("x@y.example",))
        for n in range(CUSTOMERS_SHOWN + 25)))
    blocks = forewarn_blocks(crowd)
    assert slack_limits.block_problems(blocks, slack_limits.MESSAGE_BLOCKS) == []
    assert blocks[-1]["elements"][0]["text"] == (
        "…and 25 more customers: run `chaser chase --dry-run` for the whole plan.")
