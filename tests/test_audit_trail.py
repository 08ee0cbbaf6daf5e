"""The audit trail: entries indexed by invoice and customer, one query, one way to show them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.chasing.audit_trail import describe, render_trail, trail_lines
from bot.messages import SLACK, TERMINAL
from storage.audit import latest_audit, record_audit, subjects_of
from storage.db import session_scope

T0 = datetime(2026, 3, 2, 21, 4, tzinfo=UTC)


def test_subjects_come_from_the_shared_detail_keys():
    detail = {"invoice_id": 1, "invoice_ids": [2, 3], "contact_id": 9,
              "invoices": [{"invoice_id": 4, "number": "INV-4"}, {"number": "no id"}],
              "skipped": [{"invoice_id": 99}]}
    assert subjects_of(detail) == ({1, 2, 3, 4}, {9})
    assert subjects_of(None) == (set(), set())
    assert subjects_of({"invoice_id": True, "contact_id": "7"}) == (set(), set())


def _record(session, action, minutes, *, actor="U012ABCDEF", connection_id, **detail):
    return record_audit(session, action=action, actor=actor, connection_id=connection_id,
                        detail=detail, at=T0 + timedelta(minutes=minutes))


def test_an_invoices_trail_holds_its_entries_and_its_customers_own_newest_first(
    session_factory, connection_id
):
    with session_scope(session_factory) as session:
        _record(session, "reminder_sent", 1, connection_id=connection_id, actor="scheduler",
                contact_id=5, to=["ap@acme.test"],
                invoices=[{"invoice_id": 10, "number": "INV-10"}])
        _record(session, "reminder_sent", 2, connection_id=connection_id, actor="scheduler",
                contact_id=5, invoices=[{"invoice_id": 11, "number": "INV-11"}])
        _record(session, "contact.paused", 3, connection_id=connection_id, contact_id=5,
                customer="Acme", until="2026-04-01")
        _record(session, "invoice.disputed", 4, connection_id=connection_id, invoice_id=10,
                invoice_number="INV-10", reason="wrong price")
        _record(session, "chase_run", 5, connection_id=connection_id, actor="scheduler",
                emails_sent=2, skipped_count=0, skipped=[{"invoice_id": 10}])
    with session_scope(session_factory) as session:
        invoice_trail = [e.action for e in latest_audit(session, invoice_id=10, contact_id=5)]
        customer_trail = [e.action for e in latest_audit(session, contact_id=5)]
        organisation = [e.action for e in latest_audit(session, connection_id=connection_id,
                                                       limit=2)]
        runs = [e.action for e in latest_audit(session, connection_id=connection_id,
                                               actions=("chase_run",))]
    assert invoice_trail == ["invoice.disputed", "contact.paused", "reminder_sent"]
    assert customer_trail == ["contact.paused", "reminder_sent", "reminder_sent"]
    assert organisation == ["chase_run", "invoice.disputed"]
    assert runs == ["chase_run"]


def test_trail_lines_read_the_same_in_slack_and_the_terminal_but_for_mentions(
    session_factory, connection_id
):
    with session_scope(session_factory) as session:
        _record(session, "escalation.approved", 0, connection_id=connection_id,
                invoices=[{"invoice_id": 10, "number": "INV-10"}])
        _record(session, "reminder_sent", 1, connection_id=connection_id, actor="scheduler",
                to=["ap@acme.test", "boss@acme.test"], escalated=True,
                invoices=[{"invoice_id": 10, "number": "INV-10"}])
    with session_scope(session_factory) as session:
        lines = trail_lines(latest_audit(session, invoice_id=10), ZoneInfo("Pacific/Auckland"))
    assert render_trail(lines, SLACK) == [
        "3 Mar 2026 10:05 · chaser-bot: emailed ap@acme.test, boss@acme.test about INV-10 "
        "(escalated)",
        "3 Mar 2026 10:04 · <@U012ABCDEF>: approved the escalated email about INV-10",
    ]
    assert render_trail(lines, TERMINAL)[1] == (
        "3 Mar 2026 10:04 · U012ABCDEF: approved the escalated email about INV-10"
    )


def test_an_empty_trail_says_so():
    assert render_trail([], TERMINAL) == ["No history recorded yet."]


@pytest.mark.parametrize(
    ("action", "detail", "expected"),
    [
        ("invoice.expected_payment_date",
         {"invoice_id": 1, "invoice_number": "INV-1", "to": "2026-04-01"},
         "set the expected payment date of INV-1 to 2026-04-01"),
        ("forewarn.skipped", {"customer": "Acme", "run_date": "2026-03-03"},
         "skipped Acme from the chase on 2026-03-03"),
        ("reminder_failed", {"invoices": [{"number": f"INV-{n}"} for n in range(7)],
                             "to": ["a@b.test"], "error": "550 no such user"},
         "could not email a@b.test about INV-0, INV-1, INV-2, INV-3, INV-4 and 2 more: "
         "550 no such user"),
        ("connection.needs_reconnect", {"reason": "invalid_grant"},
         "Xero needs reconnecting (invalid_grant)"),
        ("something.new_here", {}, "something new here"),
        ("escalation.refused", {"decision": "approve", "invoice_number": "INV-9"},
         "tried to approve the escalation about INV-9 (not a manager)"),
    ],
)
def test_each_action_reads_as_one_sentence(action, detail, expected):
    assert describe(action, detail).render(TERMINAL) == expected


def test_values_with_braces_are_shown_as_they_are():
    message = describe("reminder_failed", {"to": ["x@y.test"], "error": "bad {template}"})
    assert message.render(SLACK) == "could not email x@y.test about the invoice: bad {template}"
