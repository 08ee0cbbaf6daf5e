"""The sandbox Accounting API over HTTP: queries, paging, If-Modified-Since, writes and errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.sandbox.ledger import build_ledger
from tests.spec_validation import accounting_client

TODAY = date(2026, 7, 20)
NOW = datetime(2026, 7, 20, 12, 0, tzinfo=UTC)
API = "/api.xro/2.0"


@pytest.fixture
def ledger():
    return build_ledger(seed=5, today=TODAY, now=NOW)


@pytest.fixture
def api(ledger):
    client = accounting_client(ledger)
    client.headers["xero-tenant-id"] = ledger.organisations[0].organisation_id
    return client


def get(api, path, **params):
    response = api.get(API + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def query_error(api, path, **params):
    response = api.get(API + path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ErrorNumber"] == 16 and body["Type"] == "QueryParseException"
    return body["Message"]


def clean_invoice(ledger, org=0):
    tenant = ledger.organisations[org].organisation_id
    lock = ledger.organisations[org].period_lock_date or date.min
    return next(
        i
        for i in ledger.iter_invoices(tenant)
        if i.type == "ACCREC"
        and i.status == "AUTHORISED"
        and not i.allocated
        and i.date > lock
    )


def test_unpaged_invoices_have_no_pagination_and_no_line_items(api):
    body = get(api, "/Invoices")
    # 500 sales invoices and 75 bills (15%): every document, as Xero lists them unfiltered.
    assert "pagination" not in body and len(body["Invoices"]) == 575
    assert len(get(api, "/Invoices", where='Type=="ACCREC"')["Invoices"]) == 500
    assert all("LineItems" not in i for i in body["Invoices"])
    assert set(body["Invoices"][0]["Contact"]) >= {"ContactID", "Name"}


def test_paged_invoices_carry_pagination_and_line_items_in_a_stable_order(api):
    first = get(api, "/Invoices", page=1, pageSize=200)
    third = get(api, "/Invoices", page=3, pageSize=200)
    assert first["pagination"] == {"page": 1, "pageSize": 200, "pageCount": 3, "itemCount": 575}
    assert len(first["Invoices"]) == 200 and len(third["Invoices"]) == 175
    assert all(i["LineItems"] for i in first["Invoices"])
    again = get(api, "/Invoices", page=1, pageSize=200)
    assert [i["InvoiceID"] for i in again["Invoices"]] == [
        i["InvoiceID"] for i in first["Invoices"]
    ]
    assert get(api, "/Invoices", page=1)["pagination"]["pageSize"] == 100


def test_page_size_above_a_thousand_is_capped_and_bad_paging_is_a_query_error(api):
    assert get(api, "/Invoices", page=1, pageSize=5000)["pagination"]["pageSize"] == 1000
    assert "whole numbers" in query_error(api, "/Invoices", page="two")


@pytest.mark.parametrize("path", ["/Invoices", "/Contacts"])
@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": 1, "pageSize": 0},
        {"page": 1, "pageSize": -5},
        {"pageSize": "ten"},
        {"includeArchived": "yes"},
        {"includeArchived": "1"},
        {"summaryOnly": "maybe"},
        {"IDs": "not-a-guid"},
        {"IDs": "00000000-0000-0000-0000-000000000000,INV-00001"},
    ],
)
def test_malformed_list_parameters_are_query_parse_exceptions(api, path, params):
    assert query_error(api, path, **params)


@pytest.mark.parametrize(
    "params",
    [
        {"ContactIDs": "bob"},
        {"Statuses": "AUTHORISED,OPEN"},
        {"Statuses": "paidish"},
        {"createdByMyApp": "sure"},
    ],
)
def test_malformed_invoice_filters_are_query_parse_exceptions(api, params):
    assert query_error(api, "/Invoices", **params)


def test_well_formed_flags_statuses_and_guids_in_any_case_are_accepted(api, ledger):
    contact = ledger.contacts(ledger.organisations[0].organisation_id)[0]
    found = get(api, "/Invoices", Statuses="paid,Authorised", includeArchived="TRUE",
                summaryOnly="False", ContactIDs=contact.contact_id.upper())["Invoices"]
    assert found and {i["Status"] for i in found} <= {"PAID", "AUTHORISED"}
    assert {i["Contact"]["ContactID"] for i in found} == {contact.contact_id}


def test_summary_only_omits_heavy_fields(api):
    body = get(api, "/Invoices", summaryOnly="true", page=1)
    assert all("LineItems" not in i and "Payments" not in i for i in body["Invoices"])
    assert all("AmountDue" in i for i in body["Invoices"])


@pytest.mark.parametrize(
    "where, check",
    [
        ('Type=="ACCREC"', lambda i: i["Type"] == "ACCREC"),
        (
            'Status=="AUTHORISED" && AmountDue > 0',
            lambda i: i["Status"] == "AUTHORISED" and i["AmountDue"] > 0,
        ),
        ("AmountDue>=10.5", lambda i: i["AmountDue"] >= 10.5),
        ("DueDate < DateTime(2026,1,1)", lambda i: i["DueDateString"] < "2026-01-01"),
        (
            'Date >= DateTime(2026, 01, 01) AND Reference.Contains("PO")',
            lambda i: i["DateString"] >= "2026" and "PO" in i["Reference"],
        ),
        ('Status=="DRAFT" || Status=="VOIDED"', lambda i: i["Status"] in ("DRAFT", "VOIDED")),
        (
            'Contact.Name.ToLower().StartsWith("a") || !(Type=="ACCREC")',
            lambda i: i["Contact"]["Name"].lower().startswith("a") or i["Type"] != "ACCREC",
        ),
    ],
)
def test_where_filters_invoices(api, ledger, where, check):
    found = get(api, "/Invoices", where=where)["Invoices"]
    assert found and all(check(i) for i in found)
    # Exactly the matching rows, in creation order: a filter that drops valid rows fails too.
    tenant = ledger.organisations[0].organisation_id
    book = [ledger.invoice_json(inv) for inv in ledger.iter_invoices(tenant)]
    assert [i["InvoiceID"] for i in found] == [i["InvoiceID"] for i in book if check(i)]


def test_where_by_contact_guid_and_explicit_id_lists(api, ledger):
    contact = ledger.contacts(ledger.organisations[0].organisation_id)[0]
    by_where = get(api, "/Invoices", where=f'Contact.ContactID==Guid("{contact.contact_id}")')
    by_param = get(api, "/Invoices", ContactIDs=contact.contact_id)
    assert by_where["Invoices"] and by_where["Invoices"] == by_param["Invoices"]
    picks = by_where["Invoices"][:2]
    by_ids = get(api, "/Invoices", IDs=",".join(i["InvoiceID"] for i in picks))["Invoices"]
    assert {i["InvoiceID"] for i in by_ids} == {i["InvoiceID"] for i in picks}
    numbers = get(api, "/Invoices", InvoiceNumbers=picks[0]["InvoiceNumber"])["Invoices"]
    assert [i["InvoiceID"] for i in numbers] == [picks[0]["InvoiceID"]]


def test_statuses_search_term_and_order(api):
    found = get(api, "/Invoices", Statuses="PAID,VOIDED")["Invoices"]
    assert {i["Status"] for i in found} == {"PAID", "VOIDED"}
    dues = [i["DueDateString"] for i in get(api, "/Invoices", order="DueDate DESC")["Invoices"]]
    assert dues == sorted(dues, reverse=True)
    stamps = [
        i["UpdatedDateUTC"] for i in get(api, "/Invoices", order="UpdatedDateUTC ASC")["Invoices"]
    ]
    assert [int(s[6:-7]) for s in stamps] == sorted(int(s[6:-7]) for s in stamps)
    numbered = get(api, "/Invoices", searchTerm="inv-0001")["Invoices"]
    assert numbered and all("INV-0001" in i["InvoiceNumber"] for i in numbered)


@pytest.mark.parametrize(
    "where, message",
    [
        ('Colour=="red"', "No property or field 'Colour' exists in type 'Invoice'"),
        (
            'DueDate > "2024-01-01"',
            "Operator '>' incompatible with operand types 'DateTime?' and 'String'",
        ),
        ("AmountDue >", "Expression expected"),
        ('Contact.ContactID==Guid("nope")', "Unrecognized Guid format"),
        ('(Status=="PAID"', "')' or operator expected"),
    ],
)
def test_bad_where_is_a_query_parse_exception_not_a_server_error(api, where, message):
    assert message in query_error(api, "/Invoices", where=where)


def test_bad_order_field_is_a_query_parse_exception(api):
    assert "'Colour'" in query_error(api, "/Invoices", order="Colour DESC")


def test_if_modified_since_accepts_iso_and_rfc1123_and_returns_only_changes(api, ledger):
    inv = clean_invoice(ledger)
    ledger.clock = lambda: NOW + timedelta(minutes=10)
    ledger.set_due_date(ledger.organisations[0].organisation_id, inv.invoice_id, TODAY)
    for header in ("2026-07-20T12:05:00", "2026-07-20T12:05:00Z", "Mon, 20 Jul 2026 12:05:00 GMT"):
        response = api.get(API + "/Invoices", headers={"If-Modified-Since": header})
        assert [i["InvoiceID"] for i in response.json()["Invoices"]] == [inv.invoice_id]
    # Compared to the second: a timestamp in the same second still matches.
    same_second = api.get(
        API + "/Invoices", headers={"If-Modified-Since": "2026-07-20T12:10:00.900Z"}
    )
    assert len(same_second.json()["Invoices"]) == 1
    everything = api.get(API + "/Invoices", headers={"If-Modified-Since": "2000-01-01T00:00:00"})
    assert len(everything.json()["Invoices"]) == 575


def test_malformed_if_modified_since_is_a_400(api):
    response = api.get(API + "/Invoices", headers={"If-Modified-Since": "yesterday-ish"})
    assert response.status_code == 400 and response.json()["ErrorNumber"] == 16


def test_invoice_by_id_or_number_has_full_contact_and_missing_is_xeros_404(api, ledger):
    inv = clean_invoice(ledger)
    by_id = get(api, f"/Invoices/{inv.invoice_id}")["Invoices"][0]
    by_number = get(api, f"/Invoices/{inv.number}")["Invoices"][0]
    assert by_id == by_number and by_id["LineItems"] and "Phones" in by_id["Contact"]
    missing = api.get(API + "/Invoices/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.text == "The resource you're looking for cannot be found"
    other_tenant = ledger.organisations[1].organisation_id
    assert (
        api.get(
            API + f"/Invoices/{inv.invoice_id}", headers={"xero-tenant-id": other_tenant}
        ).status_code
        == 404
    )


def test_online_invoice_url_for_approved_but_not_draft(api, ledger):
    tenant = ledger.organisations[0].organisation_id
    draft = next(i for i in ledger.iter_invoices(tenant) if i.status == "DRAFT")
    url = get(api, f"/Invoices/{clean_invoice(ledger).invoice_id}/OnlineInvoice")
    assert url["OnlineInvoices"][0]["OnlineInvoiceUrl"].startswith("https://in.xero.com/")
    refused = api.get(API + f"/Invoices/{draft.invoice_id}/OnlineInvoice")
    assert refused.status_code == 400 and refused.json()["Type"] == "ValidationException"


def test_contacts_hide_archived_unless_asked_and_show_merge_only_when_paged(api):
    plain = get(api, "/Contacts")["Contacts"]
    assert all(c["ContactStatus"] == "ACTIVE" for c in plain)
    assert all(
        "MergedToContactID" not in c
        for c in get(api, "/Contacts", includeArchived="true")["Contacts"]
    )
    paged = get(api, "/Contacts", includeArchived="true", page=1)["Contacts"]
    merged = [c for c in paged if c["ContactStatus"] == "ARCHIVED"]
    assert len(merged) == 1 and merged[0]["MergedToContactID"] == paged[0]["ContactID"]
    assert len(paged) == len(plain) + 1


def test_contacts_where_search_and_by_id(api, ledger):
    with_email = get(api, "/Contacts", where='EmailAddress!=null && EmailAddress!=""')["Contacts"]
    assert with_email and all(c["EmailAddress"] for c in with_email)
    named = get(api, "/Contacts", where=f'Name.Contains("{with_email[0]["Name"][:6]}")')
    assert with_email[0]["ContactID"] in {c["ContactID"] for c in named["Contacts"]}
    found = get(api, "/Contacts", searchTerm=with_email[0]["EmailAddress"].upper())["Contacts"]
    assert [c["ContactID"] for c in found] == [with_email[0]["ContactID"]]
    one = get(api, f"/Contacts/{with_email[0]['ContactID']}")["Contacts"][0]
    assert set(one["Balances"]) == {"AccountsReceivable", "AccountsPayable"}


def test_users_and_where_is_subscriber(api):
    users = get(api, "/Users")["Users"]
    assert {u["OrganisationRole"] for u in users} >= {"STANDARD", "FINANCIALADVISER", "READONLY"}
    subscribers = get(api, "/Users", where="IsSubscriber==true")["Users"]
    assert [u["EmailAddress"] for u in subscribers] == ["finance@sandbox.example"]


def post(api, invoice_id, body, **headers):
    return api.post(API + f"/Invoices/{invoice_id}", json=body, headers=headers)


@pytest.mark.parametrize(
    "value", ["2026-12-01", "2026-12-01T00:00:00", "/Date(1796083200000+0000)/"]
)
def test_post_sets_expected_payment_date_bumps_updated_and_notifies(api, ledger, value):
    events = []
    ledger.subscribe(events.append)
    inv = clean_invoice(ledger)
    ledger.clock = lambda: NOW + timedelta(minutes=1)
    response = post(
        api,
        inv.invoice_id,
        {"Invoices": [{"InvoiceID": inv.invoice_id, "ExpectedPaymentDate": value}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()["Invoices"][0]
    assert body["ExpectedPaymentDateString"] == "2026-12-01T00:00:00"
    assert body["UpdatedDateUTCString"] == "2026-07-20T12:01:00Z"
    assert [(e.category, e.event_type, e.resource_id) for e in events] == [
        ("INVOICE", "UPDATE", inv.invoice_id)
    ]


def test_post_accepts_a_bare_invoice_and_clears_only_with_the_string_field(api, ledger):
    inv = clean_invoice(ledger)
    post(api, inv.invoice_id, {"InvoiceID": inv.invoice_id, "ExpectedPaymentDate": "2026-09-01"})
    kept = post(api, inv.invoice_id, {"Invoices": [{"ExpectedPaymentDate": ""}]}).json()
    assert kept["Invoices"][0]["ExpectedPaymentDateString"] == "2026-09-01T00:00:00"
    cleared = post(api, inv.invoice_id, {"Invoices": [{"ExpectedPaymentDateString": ""}]}).json()
    assert "ExpectedPaymentDate" not in cleared["Invoices"][0]


def validation_messages(response):
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    assert body["Message"] == "A validation exception occurred"
    return [m["Message"] for m in body["Elements"][0]["ValidationErrors"]]


def test_post_refused_when_a_payment_or_credit_is_allocated(api, ledger):
    tenant = ledger.organisations[0].organisation_id
    sales = [i for i in ledger.iter_invoices(tenant) if i.type == "ACCREC"]
    part_paid = next(i for i in sales if i.status == "AUTHORISED" and i.payments)
    credited = next(i for i in sales if i.credits)
    for inv in (part_paid, credited):
        response = post(api, inv.invoice_id, {"Invoices": [{"ExpectedPaymentDate": "2026-12-01"}]})
        assert validation_messages(response) == [
            "This document cannot be edited as it has a payment or credit note allocated to it."
        ]


def test_post_refused_for_wrong_status_and_locked_period(api, ledger):
    tenant = ledger.organisations[0].organisation_id
    paid = next(i for i in ledger.iter_invoices(tenant) if i.status == "PAID")
    response = post(api, paid.invoice_id, {"Invoices": [{"ExpectedPaymentDate": "2026-12-01"}]})
    assert validation_messages(response) == ["Invoice not of valid status for modification"]
    org = ledger.organisations[1]
    old = next(
        i
        for i in ledger.iter_invoices(org.organisation_id)
        if i.type == "ACCREC"
        and i.status == "AUTHORISED"
        and not i.allocated
        and i.date <= org.period_lock_date
    )
    response = api.post(
        API + f"/Invoices/{old.invoice_id}",
        json={"Invoices": [{"ExpectedPaymentDate": "2026-12-01"}]},
        headers={"xero-tenant-id": org.organisation_id},
    )
    lock = org.period_lock_date.strftime("%d-%b-%Y")
    assert validation_messages(response) == [
        f"The document date cannot be before the period lock date, currently set at {lock}."
    ]


def test_post_with_bad_json_or_bad_date_is_a_validation_error_not_a_crash(api, ledger):
    inv = clean_invoice(ledger)
    bad_json = api.post(
        API + f"/Invoices/{inv.invoice_id}",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert validation_messages(bad_json)
    bad_date = post(api, inv.invoice_id, {"Invoices": [{"ExpectedPaymentDate": "31/12/2026"}]})
    assert validation_messages(bad_date) == ["ExpectedPaymentDate is not a valid date."]


def test_post_with_a_body_invoice_id_that_is_not_the_paths_is_a_validation_error(api, ledger):
    inv = clean_invoice(ledger)
    other = next(i for i in ledger.iter_invoices(ledger.organisations[0].organisation_id)
                 if i.invoice_id != inv.invoice_id)
    body = {"Invoices": [{"InvoiceID": other.invoice_id, "ExpectedPaymentDate": "2026-12-01"}]}
    messages = validation_messages(post(api, inv.invoice_id, body))
    assert messages == ["The InvoiceID in the request body does not match the one in the URL."]
    assert ledger.invoice(ledger.organisations[0].organisation_id, inv.invoice_id).expected is None
    by_number = post(api, inv.number, {"InvoiceID": inv.invoice_id.upper(),
                                       "ExpectedPaymentDate": "2026-12-01"})
    assert by_number.status_code == 200, by_number.text


def test_idempotency_key_replays_the_first_response_without_reapplying(api, ledger):
    events = []
    ledger.subscribe(events.append)
    inv = clean_invoice(ledger)
    body = {"Invoices": [{"ExpectedPaymentDate": "2026-10-01"}]}
    first = post(api, inv.invoice_id, body, **{"Idempotency-Key": "k-1"})
    second = post(api, inv.invoice_id, body, **{"Idempotency-Key": "k-1"})
    assert first.content == second.content and len(events) == 1
