"""The chase run on a real database (SQLite and PostgreSQL) and a real SMTP server on loopback."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from bot.chasing.mailer import SmtpMailer
from bot.chasing.plan import plan_chase
from bot.chasing.policy import SkipReason
from bot.chasing.reminders import ReminderSender
from bot.chasing.schedule_store import assign_customer, save_schedule
from bot.chasing.schedules import DEFAULT_SCHEDULE, Part, ScheduleSpec, StepSpec
from storage.db import session_scope
from storage.models import AuditEntry, Contact, Invoice, Reminder, ReminderState
from storage.reminders import decide_held
from tests.chasing_world import IN_WINDOW, NZ, TODAY, Clock, make_books
from tests.fakes.smtp import free_port


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


def sender_for(session_factory, server, clock) -> ReminderSender:
    return ReminderSender(session_factory=session_factory, mailer=SmtpMailer(server.url),
                          clock=clock)


def run(session_factory, books, server, clock, **kw):
    plan = plan_chase(session_factory, books.connection_id, clock(), **kw)
    return plan, sender_for(session_factory, server, clock).run(plan)


def ledger(session_factory) -> dict[tuple[str, str], str]:
    with session_scope(session_factory) as session:
        rows = session.execute(
            select(Invoice.invoice_number, Reminder.step_key, Reminder.state)
            .join(Invoice, Invoice.id == Reminder.invoice_id)
        ).all()
    return {(number, key): state.value for number, key, state in rows}


def test_a_run_sends_each_due_step_once_and_a_rerun_sends_nothing(session_factory,
                                                                   smtp_server) -> None:
    server, clock = smtp_server(), Clock()
    books = make_books(session_factory)
    acme = books.customer("Acme Ltd", "ap@acme.example", first_name="Jane")
    books.invoice(acme, "INV-1", days(-1), "120.50")
    books.invoice(acme, "INV-2", days(-30), "99.00")
    books.invoice(acme, "INV-3", days(7), "10.00")
    books.invoice(acme, "INV-4", days(20), "10.00")
    plan, result = run(session_factory, books, server, clock)
    # Chaser's grouping: one email for the overdue invoices, one for those due soon.
    assert [(e.template, [i.number for i in e.invoices]) for e in plan.emails] == [
        ("overdue", ["INV-2", "INV-1"]), ("due_soon", ["INV-3"])
    ] or [(e.template, [i.number for i in e.invoices]) for e in plan.emails] == [
        ("due_soon", ["INV-3"]), ("overdue", ["INV-2", "INV-1"])
    ]
    assert [u.number for u in plan.upcoming] == ["INV-4"]
    assert (result.emails_sent, result.invoices_sent, result.failed) == (2, 3, 0)
    assert len(server.received) == 2
    assert ledger(session_factory) == {
        ("INV-1", "overdue:1"): "sent", ("INV-2", "overdue:29"): "sent",
        ("INV-3", "before_due:7"): "sent",
    }
    _, again = run(session_factory, books, server, clock)
    assert again.emails_sent == 0 and len(server.received) == 2
    overdue = next(r for r in server.received if "overdue" in str(r.message["Subject"]))
    assert overdue.rcpt_tos == ["ap@acme.example"]
    assert str(overdue.message["Reply-To"]) == "sam@kiwiplumbing.example"
    assert "<table" in overdue.message.get_body(("html",)).get_content()


def test_days_missed_while_down_are_caught_up_once_not_once_per_day(session_factory,
                                                                     smtp_server) -> None:
    server, clock = smtp_server(), Clock()
    books = make_books(session_factory)
    acme = books.customer("Acme Ltd", "ap@acme.example")
    books.invoice(acme, "INV-1", days(-1))
    run(session_factory, books, server, clock)
    # Down for three weeks: repeats on days 8, 15 and 22 were missed; one email on return.
    clock.now = IN_WINDOW + timedelta(days=21)  # Tuesday again
    _, result = run(session_factory, books, server, clock)
    assert result.emails_sent == 1
    clock.now += timedelta(days=1)
    _, result = run(session_factory, books, server, clock)
    assert result.emails_sent == 0
    assert sorted(ledger(session_factory)) == [("INV-1", "overdue:1"), ("INV-1", "overdue:22")]
    assert len(server.received) == 2
    first, second = (r.message for r in server.received)
    # The later chase joins the first one's thread.
    assert second["In-Reply-To"] == first["Message-ID"]


def test_outside_the_window_nothing_goes_and_the_plan_says_when(session_factory,
                                                                smtp_server) -> None:
    server = smtp_server()
    clock = Clock(IN_WINDOW.replace(day=5))  # Saturday
    books = make_books(session_factory)
    books.invoice(books.customer("Acme", "ap@acme.example"), "INV-1", days(-1))
    plan, result = run(session_factory, books, server, clock)
    assert not plan.window_open and plan.send_at == IN_WINDOW.replace(day=7, hour=10, minute=0)
    assert [e.invoices[0].number for e in plan.emails] == ["INV-1"]  # what Monday will send
    assert result.emails_sent == 0 and server.received == []
    # "Chase now" ignores the window, as Chaser's does.
    _, now = run(session_factory, books, server, clock, ignore_window=True)
    assert now.emails_sent == 1


def test_a_refused_send_is_marked_failed_and_retried_by_the_next_run(session_factory,
                                                                     smtp_server) -> None:
    server, clock = smtp_server(), Clock()
    books = make_books(session_factory)
    books.invoice(books.customer("Acme", "ap@acme.example"), "INV-1", days(-1))
    server.handler.refuse_next.append("451 4.3.0 Mailbox busy, try later")
    _, result = run(session_factory, books, server, clock)
    assert result.failed == 1 and ledger(session_factory) == {("INV-1", "overdue:1"): "failed"}
    _, retry = run(session_factory, books, server, clock)
    assert retry.emails_sent == 1 and ledger(session_factory) == {("INV-1", "overdue:1"): "sent"}
    assert len(server.received) == 1


def test_an_unreachable_mail_server_claims_nothing_and_loses_nothing(session_factory) -> None:
    clock = Clock()
    books = make_books(session_factory)
    books.invoice(books.customer("Acme", "ap@acme.example"), "INV-1", days(-1))
    plan = plan_chase(session_factory, books.connection_id, clock())
    down = ReminderSender(session_factory=session_factory, clock=clock,
                          mailer=SmtpMailer(f"smtp://127.0.0.1:{free_port()}?starttls=off"))
    result = down.run(plan)
    assert result.stopped and "unavailable" in result.stopped
    assert ledger(session_factory) == {}
    assert len(plan_chase(session_factory, books.connection_id, clock()).emails) == 1


def test_every_skipped_invoice_carries_its_reason(session_factory) -> None:
    books = make_books(session_factory)
    books.settings(minimum_chase_amount="50")
    ok = books.customer("Acme", "ap@acme.example")
    paused = books.customer("Paused Co", "ap@paused.example", chasing_paused=True)
    books.invoice(ok, "DISPUTED", days(-3), disputed=True)
    books.invoice(ok, "SMALL", days(-3), "20.00")
    books.invoice(ok, "PROMISED", days(-3), expected_payment_date=days(5))
    books.invoice(ok, "ON-HOLD", days(-3), chasing_paused=True)
    books.invoice(paused, "CUSTOMER-PAUSED", days(-3))
    books.invoice(books.customer("Silent Ltd"), "NO-EMAIL", days(-3))
    books.invoice(ok, "NO-DUE", None)
    plan = plan_chase(session_factory, books.connection_id, IN_WINDOW)
    assert {s.number: s.reason for s in plan.skipped} == {
        "DISPUTED": SkipReason.DISPUTED, "SMALL": SkipReason.BELOW_MINIMUM,
        "PROMISED": SkipReason.BEFORE_EXPECTED_DATE, "ON-HOLD": SkipReason.INVOICE_PAUSED,
        "CUSTOMER-PAUSED": SkipReason.CUSTOMER_PAUSED, "NO-EMAIL": SkipReason.NO_EMAIL,
        "NO-DUE": SkipReason.NO_DUE_DATE,
    }
    assert plan.emails == []


def test_a_customer_on_an_escalating_schedule_gets_the_escalated_sender_and_recipients(
    session_factory, smtp_server
) -> None:
    server, clock = smtp_server(), Clock()
    books = make_books(session_factory)
    late = books.customer("Late Payers", "ap@late.example", escalated=("ceo@late.example",))
    books.invoice(late, "INV-9", days(-30))
    firm = ScheduleSpec("Firm", (
        StepSpec(Part.OVERDUE, 1, "overdue"),
        StepSpec(Part.OVERDUE, 21, "final_notice", grouped=False, escalated_sender=True,
                 escalated_recipients=True),
    ))
    with session_scope(session_factory) as session:
        save_schedule(session, books.connection_id, firm, by="test", now=clock())
        contact = session.get(Contact, late)
        assign_customer(session, books.connection_id, contact, "firm", by="test", now=clock())
    _, result = run(session_factory, books, server, clock)
    assert result.emails_sent == 1
    sent = server.received[0]
    assert sent.rcpt_tos == ["ceo@late.example"]
    assert str(sent.message["Reply-To"]) == "alex@kiwiplumbing.example"
    assert "Alex Boss" in str(sent.message["From"])
    assert str(sent.message["Subject"]).startswith("Final reminder: invoice INV-9")
    assert ledger(session_factory) == {("INV-9", "overdue:21"): "sent"}


def test_a_thank_you_goes_once_after_a_chased_invoice_is_paid(session_factory,
                                                             smtp_server) -> None:
    server, clock = smtp_server(), Clock()
    books = make_books(session_factory)
    acme = books.customer("Acme", "ap@acme.example")
    chased = books.invoice(acme, "INV-1", days(-1))
    books.invoice(acme, "NEVER-CHASED", days(-90), "50.00", status="PAID",
                  fully_paid_on_date=TODAY)
    run(session_factory, books, server, clock)
    with session_scope(session_factory) as session:
        invoice = session.get(Invoice, chased)
        invoice.status, invoice.amount_due, invoice.fully_paid_on_date = "PAID", 0, days(1)
    clock.now += timedelta(days=1)
    plan, result = run(session_factory, books, server, clock)
    assert [(e.template, e.invoices[0].number) for e in plan.emails] == [("thank_you", "INV-1")]
    _, again = run(session_factory, books, server, clock)
    assert result.emails_sent == 1 and again.emails_sent == 0
    assert str(server.received[-1].message["Subject"]) == "Thank you for paying invoice INV-1"


def test_a_step_needing_approval_is_held_then_sent_once_approved(session_factory,
                                                                smtp_server) -> None:
    server, clock = smtp_server(), Clock()
    books = make_books(session_factory)
    books.invoice(books.customer("Acme", "ap@acme.example"), "INV-1", days(-1))
    careful = ScheduleSpec("Default", (StepSpec(Part.OVERDUE, 1, "overdue",
                                                needs_approval=True),))
    with session_scope(session_factory) as session:
        save_schedule(session, books.connection_id, careful, by="test", now=clock())
    held: list[str] = []
    plan = plan_chase(session_factory, books.connection_id, clock())
    result = sender_for(session_factory, server, clock).run(
        plan, hold=lambda email, message_id: held.append(message_id))
    assert result.held_for_approval == 1 and result.emails_sent == 0 and len(held) == 1
    again = plan_chase(session_factory, books.connection_id, clock())
    assert [s.reason for s in again.skipped] == [SkipReason.AWAITING_APPROVAL]
    with session_scope(session_factory) as session:
        assert decide_held(session, held[0], approve=True, now=clock(), by="U123") == 1
    _, sent = run(session_factory, books, server, clock)
    assert sent.emails_sent == 1 and len(server.received) == 1
    assert ledger(session_factory) == {("INV-1", "overdue:1"): "sent"}


def test_each_email_and_each_run_with_its_skips_is_audited(session_factory,
                                                          smtp_server) -> None:
    server, clock = smtp_server(), Clock()
    books = make_books(session_factory)
    acme = books.customer("Acme", "ap@acme.example")
    books.invoice(acme, "INV-1", days(-1))
    books.invoice(acme, "DISPUTED", days(-1), disputed=True)
    run(session_factory, books, server, clock)
    with session_scope(session_factory) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    actions = [e.action for e in entries]
    assert actions[-2:] == ["reminder_sent", "chase_run"]
    sent, summary = entries[-2], entries[-1]
    assert sent.actor == "scheduler" and sent.at == IN_WINDOW.astimezone(NZ)
    assert sent.detail["invoices"][0]["number"] == "INV-1"
    assert sent.detail["to"] == ["ap@acme.example"]
    assert summary.detail["skipped"] == [{"invoice_id": summary.detail["skipped"][0]["invoice_id"],
                                          "number": "DISPUTED", "reason": "disputed",
                                          "label": "disputed", "step": None}]


def test_a_new_organisation_gets_chasers_default_schedule(session_factory) -> None:
    from bot.chasing.schedule_store import schedules

    books = make_books(session_factory)
    with session_scope(session_factory) as session:
        found = schedules(session, books.connection_id, now=IN_WINDOW)
    assert len(found) == 1 and found[0].is_default and found[0].spec == DEFAULT_SCHEDULE
    assert ReminderState.SENT.value == "sent"
