"""The sandbox ledger: deterministic generation, a believable book, mutations and their events."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bot.sandbox.generator import Ids
from bot.sandbox.ledger import ChangeEvent, EditRefused, build_ledger

TODAY = date(2026, 7, 20)
NOW = datetime(2026, 7, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger():
    return build_ledger(seed=7, today=TODAY, now=NOW)


def tenant(ledger, n=0):
    return ledger.organisations[n].organisation_id


def invoices(ledger, n=0):
    return list(ledger.iter_invoices(tenant(ledger, n)))


def first(ledger, pred, n=0):
    return next(i for i in invoices(ledger, n) if pred(i))


def test_same_seed_builds_the_same_book_and_a_different_seed_a_different_one():
    a, b = build_ledger(seed=3, today=TODAY), build_ledger(seed=3, today=TODAY)
    c = build_ledger(seed=4, today=TODAY)
    assert [a.invoice_json(i) for i in invoices(a)] == [b.invoice_json(i) for i in invoices(b)]
    assert [o.organisation_id for o in a.organisations] == [
        o.organisation_id for o in b.organisations
    ]
    assert [i.invoice_id for i in invoices(a)] != [i.invoice_id for i in invoices(c)]
    assert [x.total for x in invoices(a)] != [x.total for x in invoices(c)]


def test_generated_ids_are_uuid4_shaped_and_invert_to_their_origin():
    ids = Ids(11)
    made = ids.make("invoice", 3, 99_999, 2)
    assert made[14] == "4" and made[19] in "89ab"
    assert ids.parse(made) == ("invoice", 3, 99_999, 2)
    assert ids.parse("00000000-0000-4000-8000-000000000000") is None
    assert ids.parse("not-a-guid") is None


def test_book_has_every_status_bills_and_the_awkward_cases(ledger):
    book = invoices(ledger)
    kinds = Counter((i.type, i.status) for i in book)
    for status in ("AUTHORISED", "PAID", "VOIDED", "DRAFT", "DELETED"):
        assert kinds[("ACCREC", status)] > 0, status
    assert any(t == "ACCPAY" for t, _ in kinds)
    assert any(i.status == "AUTHORISED" and i.payments and i.amount_due > 0 for i in book)
    assert any(i.credits and i.amount_credited > 0 for i in book)
    assert any(i.currency != ledger.organisations[0].base_currency and i.rate != 1 for i in book)
    assert any(i.expected for i in book)
    paid = first(ledger, lambda i: i.status == "PAID")
    assert paid.amount_due == 0 and paid.fully_paid_on is not None


@pytest.mark.parametrize("count", [0, 1, 33, 500])
def test_invoices_counts_sales_invoices_per_org_and_bills_default_to_fifteen_percent(count):
    book = build_ledger(seed=2, orgs=2, contacts=12, invoices=count, today=TODAY)
    bills = round(count * 0.15 + 1e-9)  # 15%, halves rounded up: 33 -> 4.95 -> 5 bills
    for n in range(2):
        kinds = Counter(i.type for i in invoices(book, n))
        assert kinds == Counter({"ACCREC": count, "ACCPAY": bills} if bills else {"ACCREC": count})
        assert book.invoice_count(tenant(book, n)) == count + bills


def test_bills_are_their_own_count_spread_among_sales_invoices_and_numbered_apart():
    book = build_ledger(seed=2, orgs=1, contacts=12, invoices=40, bills=10, today=TODAY)
    t, book_invoices = tenant(book), invoices(book)
    sales = [i for i in book_invoices if i.type == "ACCREC"]
    bills = [i for i in book_invoices if i.type == "ACCPAY"]
    assert [i.number for i in sales] == [f"INV-{n:05d}" for n in range(1, 41)]
    assert [i.number for i in bills] == [f"BILL-{n:05d}" for n in range(1, 11)]
    assert bills[0].index < 10 and bills[-1].index >= 40  # spread out, not all at the end
    suppliers = {c.index for c in book.contacts(t) if c.is_supplier}
    assert all(i.contact_idx in suppliers for i in bills)
    assert all(book.invoice(t, i.number).index == i.index for i in (*sales, *bills))
    assert book.invoice(t, "INV-00041") is None and book.invoice(t, "BILL-00011") is None
    added = book.add_invoice(t)
    assert added["InvoiceNumber"] == "INV-00041"
    assert book.invoice(t, "INV-00041").invoice_id == added["InvoiceID"]
    no_bills = build_ledger(seed=2, orgs=1, invoices=40, bills=0, today=TODAY)
    assert {i.type for i in invoices(no_bills)} == {"ACCREC"}


def test_a_book_without_suppliers_still_gets_its_bills_from_a_contact_marked_supplier():
    book = build_ledger(seed=2, orgs=1, contacts=1, invoices=5, bills=3, today=TODAY)
    (only,) = book.contacts(tenant(book))
    assert only.is_supplier and only.is_customer
    assert Counter(i.type for i in invoices(book)) == Counter({"ACCREC": 5, "ACCPAY": 3})


def test_negative_invoice_or_bill_counts_are_refused():
    with pytest.raises(ValueError):
        build_ledger(invoices=-1)
    with pytest.raises(ValueError):
        build_ledger(invoices=10, bills=-1)


def test_due_dates_spread_across_every_ageing_bucket(ledger):
    ages = [(TODAY - i.due_date).days for i in invoices(ledger) if i.status == "AUTHORISED"]
    buckets = [
        lambda d: d < 0,
        lambda d: 1 <= d <= 30,
        lambda d: 31 <= d <= 60,
        lambda d: 61 <= d <= 90,
        lambda d: d > 90,
    ]
    assert all(any(b(d) for d in ages) for b in buckets)


def test_contacts_have_several_emails_phones_addresses_and_an_archived_merged_duplicate(ledger):
    people = ledger.contacts(tenant(ledger))
    persons = [p for c in people for p in c.persons]
    assert {p["IncludeInEmails"] for p in persons} == {True, False}
    assert all(
        {ph["PhoneType"] for ph in c.phones} == {"DEFAULT", "DDI", "FAX", "MOBILE"} for c in people
    )
    assert all([a["AddressType"] for a in c.addresses] == ["POBOX", "STREET"] for c in people)
    archived = [c for c in people if c.status == "ARCHIVED"]
    assert len(archived) == 1 and archived[0].merged_to == people[0].contact_id
    assert all(ledger.contact_of(i).status == "ACTIVE" for i in invoices(ledger))


def test_one_organisation_has_lock_dates_and_invoices_dated_before_them(ledger):
    locked = [o for o in ledger.organisations if o.period_lock_date]
    assert len(locked) == 1 and locked[0].end_of_year_lock_date < locked[0].period_lock_date
    before = [i for i in invoices(ledger, locked[0].index) if i.date <= locked[0].period_lock_date]
    assert any(i.status == "AUTHORISED" and not i.allocated for i in before)
    assert {o.base_currency for o in ledger.organisations} == {"NZD", "AUD"}


def test_users_cover_every_role_and_share_global_ids_across_tenants(ledger):
    roles = {r for u in ledger.users for r in u.roles.values()}
    assert roles == {"STANDARD", "FINANCIALADVISER", "READONLY", "INVOICEONLY"}
    finance = ledger.user_by_email("FINANCE@sandbox.example")
    assert set(finance.roles) == {o.organisation_id for o in ledger.organisations}
    assert finance.user_id(tenant(ledger, 0)) != finance.user_id(tenant(ledger, 1))
    assert ledger.user_by_email("nobody@example.com") is None
    with pytest.raises(KeyError):
        ledger.organisation("missing")


def test_generated_updates_are_all_before_now(ledger):
    assert max(i.updated for i in invoices(ledger)) < NOW
    assert max(c.updated for c in ledger.contacts(tenant(ledger))) < NOW


def test_add_invoice_creates_a_new_authorised_invoice_and_tells_listeners(ledger):
    events: list[ChangeEvent] = []
    ledger.subscribe(events.append)
    body = ledger.add_invoice(tenant(ledger), total="230.00", due_in_days=-10)
    assert body["Total"] == Decimal("230.00") and body["AmountDue"] == Decimal("230.00")
    assert body["DueDateString"] == f"{TODAY - timedelta(days=10)}T00:00:00"
    assert events == [ChangeEvent(tenant(ledger), "INVOICE", "CREATE", body["InvoiceID"], NOW)]
    assert ledger.invoice(tenant(ledger), body["InvoiceID"]).total == Decimal("230.00")


def test_paying_in_full_marks_the_invoice_paid_and_moves_balances(ledger):
    inv = first(
        ledger,
        lambda i: (
            i.status == "AUTHORISED" and not i.allocated and i.type == "ACCREC"
        ),
    )
    contact = ledger.contact_of(inv)
    before = ledger.balances(tenant(ledger), contact)[0]
    body = ledger.add_payment(tenant(ledger), inv.invoice_id, inv.amount_due)
    assert body["Status"] == "PAID" and body["AmountDue"] == 0 and "FullyPaidOnDate" in body
    assert ledger.balances(tenant(ledger), contact)[0] == before - inv.amount_due
    with pytest.raises(ValueError):
        ledger.add_payment(tenant(ledger), inv.invoice_id, "1.00")


def test_credit_note_allocation_reduces_amount_due(ledger):
    inv = first(ledger, lambda i: i.status == "AUTHORISED" and i.amount_due > 10)
    body = ledger.add_credit_note(tenant(ledger), inv.invoice_id, "10.00")
    assert body["AmountCredited"] == inv.amount_credited + 10
    assert body["AmountDue"] == inv.amount_due - 10


def test_due_date_change_on_part_paid_invoice_keeps_updated_date_and_is_silent(ledger):
    events: list[ChangeEvent] = []
    ledger.subscribe(events.append)
    inv = first(ledger, lambda i: i.status == "AUTHORISED" and i.payments)
    ledger.clock = lambda: NOW + timedelta(hours=1)
    body = ledger.set_due_date(tenant(ledger), inv.invoice_id, TODAY + timedelta(days=9))
    assert body["DueDateString"] == f"{TODAY + timedelta(days=9)}T00:00:00"
    assert ledger.invoice(tenant(ledger), inv.invoice_id).updated == inv.updated
    assert events == []
    since = list(ledger.iter_invoices(tenant(ledger), NOW))
    assert inv.invoice_id not in {i.invoice_id for i in since}


def test_due_date_change_on_unpaid_invoice_bumps_updated_date(ledger):
    inv = first(ledger, lambda i: i.status == "AUTHORISED" and not i.payments)
    ledger.set_due_date(tenant(ledger), inv.invoice_id, TODAY)
    assert ledger.invoice(tenant(ledger), inv.invoice_id).updated == NOW


def test_expected_payment_date_refused_with_xero_messages(ledger):
    t = tenant(ledger)
    part_paid = first(ledger, lambda i: i.status == "AUTHORISED" and i.payments)
    with pytest.raises(EditRefused, match="payment or credit note allocated"):
        ledger.set_expected_payment_date(t, part_paid.invoice_id, TODAY)
    paid = first(ledger, lambda i: i.status == "PAID")
    with pytest.raises(EditRefused, match="not of valid status"):
        ledger.set_expected_payment_date(t, paid.invoice_id, TODAY)
    locked = next(o for o in ledger.organisations if o.period_lock_date)
    old = first(
        ledger,
        lambda i: (
            i.status == "AUTHORISED"
            and not i.allocated
            and i.type == "ACCREC"
            and i.date <= locked.period_lock_date
        ),
        locked.index,
    )
    with pytest.raises(EditRefused, match=r"period lock date, currently set at \d\d-\w{3}-\d{4}\."):
        ledger.set_expected_payment_date(locked.organisation_id, old.invoice_id, TODAY)


def test_void_edit_and_archive_bump_updated_and_emit_updates(ledger):
    events: list[ChangeEvent] = []
    ledger.subscribe(events.append)
    inv = first(ledger, lambda i: i.status == "AUTHORISED" and not i.payments)
    assert ledger.void_invoice(tenant(ledger), inv.invoice_id)["Status"] == "VOIDED"
    contact = ledger.contacts(tenant(ledger))[1]
    body = ledger.edit_contact(tenant(ledger), contact.contact_id, EmailAddress="ap@new.example")
    assert body["EmailAddress"] == "ap@new.example"
    assert ledger.archive_contact(tenant(ledger), contact.contact_id)["ContactStatus"] == "ARCHIVED"
    assert [(e.category, e.event_type) for e in events] == [
        ("INVOICE", "UPDATE"),
        ("CONTACT", "UPDATE"),
        ("CONTACT", "UPDATE"),
    ]
    with pytest.raises(TypeError):
        ledger.edit_contact(tenant(ledger), contact.contact_id, Colour="red")


def test_hundred_thousand_invoices_build_instantly_and_incremental_reads_skip_the_base():
    started = time.perf_counter()
    big = build_ledger(seed=1, orgs=1, invoices=100_000, today=TODAY, now=NOW)
    t = tenant(big)
    assert big.invoice_count(t) == 115_000  # 100,000 sales invoices and 15,000 bills
    last = big.invoice_at(t, 114_999)
    assert big.invoice(t, "INV-100000").type == "ACCREC"
    assert big.invoice(t, last.invoice_id).number == last.number
    assert time.perf_counter() - started < 1.0
    big.clock = lambda: NOW + timedelta(minutes=5)
    big.add_payment(t, big.invoice_at(t, 10).invoice_id, "0.01") if big.invoice_at(
        t, 10
    ).status == "AUTHORISED" else big.add_invoice(t)
    started = time.perf_counter()
    changed = list(big.iter_invoices(t, NOW))
    assert len(changed) == 1 and time.perf_counter() - started < 0.05


BUCKETS = {
    "not yet due": lambda d: d < 0,
    "1-30": lambda d: 1 <= d <= 30,
    "31-60": lambda d: 31 <= d <= 60,
    "61-90": lambda d: 61 <= d <= 90,
    "90+": lambda d: d > 90,
}


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_no_generated_invoice_is_dated_in_the_future_yet_every_ageing_bucket_is_filled(seed):
    book = build_ledger(seed=seed, invoices=2000, today=TODAY)
    for org in book.organisations:
        generated = list(book.iter_invoices(org.organisation_id))
        assert max(i.date for i in generated) <= TODAY
        assert all(p.date <= TODAY for i in generated for p in i.payments)
        ages = [(TODAY - i.due_date).days for i in generated if i.status == "AUTHORISED"]
        for name, bucket in BUCKETS.items():
            assert any(bucket(d) for d in ages), name


def test_some_generated_invoices_carry_a_prepayment_or_overpayment_in_amount_credited(ledger):
    book = invoices(ledger)
    advanced = [i for i in book if i.prepayments or i.overpayments]
    assert any(i.prepayments for i in advanced) and any(i.overpayments for i in advanced)
    for inv in advanced:
        applied = sum(a.amount for a in (*inv.prepayments, *inv.overpayments))
        assert inv.amount_credited == applied + sum(c.amount for c in inv.credits)
        assert inv.amount_due == inv.total - inv.amount_paid - inv.amount_credited > 0
        assert inv.expected is None


def test_a_prepayment_reduces_amount_due_shows_in_the_invoice_and_refuses_edits(ledger):
    t = tenant(ledger)
    inv = first(ledger, lambda i: i.status == "AUTHORISED" and not i.allocated)
    body = ledger.add_prepayment(t, inv.invoice_id, "25.00")
    assert body["AmountCredited"] == Decimal("25.00")
    assert body["AmountDue"] == inv.amount_due - Decimal("25.00")
    [prepayment] = body["Prepayments"]
    assert prepayment["AppliedAmount"] == Decimal("25.00") and prepayment["PrepaymentID"]
    with pytest.raises(EditRefused) as refused:
        ledger.set_expected_payment_date(t, inv.invoice_id, TODAY + timedelta(days=5))
    assert refused.value.messages == [
        "This document cannot be edited as it has a payment or credit note allocated to it."
    ]
    over = ledger.add_overpayment(t, inv.invoice_id, "5")
    assert over["AmountCredited"] == Decimal("30.00") and len(over["Overpayments"]) == 1


def test_prepaying_the_whole_balance_settles_the_invoice(ledger):
    t = tenant(ledger)
    inv = first(ledger, lambda i: i.status == "AUTHORISED" and not i.allocated)
    body = ledger.add_prepayment(t, inv.invoice_id, inv.amount_due)
    assert (body["Status"], body["AmountDue"]) == ("PAID", 0)
    with pytest.raises(ValueError):
        ledger.add_prepayment(t, inv.invoice_id, "1.00")


@pytest.mark.parametrize(
    "amount", ["NaN", "Infinity", "-Infinity", "-5", "0", "0.001", "1e40", True]
)
def test_non_finite_negative_or_zero_amounts_are_value_errors(ledger, amount):
    t = tenant(ledger)
    inv = first(ledger, lambda i: i.status == "AUTHORISED" and not i.allocated)
    for change in (ledger.add_payment, ledger.add_credit_note, ledger.add_prepayment):
        with pytest.raises(ValueError):
            change(t, inv.invoice_id, amount)
    with pytest.raises(ValueError):
        ledger.add_invoice(t, total=amount)


def test_new_invoices_only_take_statuses_xero_lets_you_create(ledger):
    t = tenant(ledger)
    assert ledger.add_invoice(t, status="DRAFT")["Status"] == "DRAFT"
    for status in ("PAID", "VOIDED", "authorised", "ARCHIVED"):
        with pytest.raises(ValueError):
            ledger.add_invoice(t, status=status)


@pytest.mark.parametrize(
    "fields",
    [{"Name": 5}, {"Name": "  "}, {"EmailAddress": None}, {"ContactPersons": "x"},
     {"ContactPersons": [1]}, {"DefaultCurrency": "XYZ"}],
)
def test_contact_edits_with_wrong_types_are_refused_and_change_nothing(ledger, fields):
    t = tenant(ledger)
    contact = ledger.contacts(t)[0]
    before = ledger.contact_json(t, contact)
    with pytest.raises((TypeError, ValueError)):
        ledger.edit_contact(t, contact.contact_id, **fields)
    assert ledger.contact_json(t, contact) == before
