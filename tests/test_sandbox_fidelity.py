"""Sandbox Accounting responses match Xero's OpenAPI schemas and Xero's JSON habits."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.sandbox.ledger import build_ledger
from tests.spec_validation import SpecValidator, accounting_client, load_spec, spec_path

TODAY = date(2026, 7, 20)
API = "/api.xro/2.0"
MS_DATE = re.compile(r"^/Date\(-?\d+\+0000\)/$")
ENVELOPE_DATE = re.compile(r"^/Date\(\d+\)/$")
DATE_STRING = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
DATE_KEYS = {
    "Date",
    "DueDate",
    "UpdatedDateUTC",
    "ExpectedPaymentDate",
    "FullyPaidOnDate",
    "PeriodLockDate",
    "EndOfYearLockDate",
    "CreatedDateUTC",
}


@pytest.fixture(scope="module")
def spec() -> SpecValidator:
    return SpecValidator(load_spec(spec_path()))


@pytest.fixture(scope="module")
def ledger():
    return build_ledger(seed=9, today=TODAY, now=datetime(2026, 7, 20, 12, tzinfo=UTC))


@pytest.fixture(scope="module")
def api(ledger):
    client = accounting_client(ledger)
    client.headers["xero-tenant-id"] = ledger.organisations[1].organisation_id  # the locked org
    return client


def walk(node: Any, key: str = ""):
    """Yield (key, value) for every dict entry below node."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def assert_xero_habits(body: dict) -> None:
    assert ENVELOPE_DATE.match(body["DateTimeUTC"]) and body["Status"] == "OK"
    for key, value in walk({k: v for k, v in body.items() if k != "DateTimeUTC"}):
        assert (
            key == "pagination"
            or key in ("page", "pageSize", "pageCount", "itemCount")
            or PASCAL.match(key)
        ), key
        if key in DATE_KEYS:
            assert MS_DATE.match(value), (key, value)
        elif key.endswith("DateString") and key != "UpdatedDateUTCString":
            assert DATE_STRING.match(value), (key, value)
        elif key == "UpdatedDateUTCString":
            assert ISO_UTC.match(value), value


def tenant(ledger):
    return ledger.organisations[1].organisation_id


def some(ledger, pred):
    return next(i for i in ledger.iter_invoices(tenant(ledger)) if pred(i))


def editable(i) -> bool:
    lock = date(2026, 4, 30)  # the locked org's PeriodLockDate for TODAY
    return (
        i.type == "ACCREC"
        and i.status == "AUTHORISED"
        and not i.allocated
        and i.date > lock
    )


@pytest.mark.parametrize(
    "path, params, component",
    [
        ("/Organisation", {}, "Organisations"),
        ("/Users", {}, "Users"),
        ("/Users", {"where": "IsSubscriber==true"}, "Users"),
        ("/Contacts", {}, "Contacts"),
        ("/Contacts", {"page": 1, "includeArchived": "true"}, "Contacts"),
        ("/Contacts", {"summaryOnly": "true"}, "Contacts"),
        ("/Invoices", {}, "Invoices"),
        ("/Invoices", {"page": 2, "pageSize": 150}, "Invoices"),
        ("/Invoices", {"summaryOnly": "true", "page": 1}, "Invoices"),
        ("/Invoices", {"where": 'Type=="ACCREC" && AmountDue > 0', "order": "DueDate"}, "Invoices"),
    ],
)
def test_list_responses_validate_against_the_spec(spec, api, path, params, component):
    body = api.get(API + path, params=params).json()
    assert spec.errors(component, body) == []
    assert_xero_habits(body)


def test_single_resources_validate_against_the_spec(spec, api, ledger):
    paid = some(ledger, lambda i: i.status == "PAID")
    credited = some(ledger, lambda i: bool(i.credits))
    for inv in (paid, credited, some(ledger, editable)):
        body = api.get(API + f"/Invoices/{inv.invoice_id}").json()
        assert spec.errors("Invoices", body) == [] and body["Invoices"][0]["LineItems"]
        assert_xero_habits(body)
    contact = ledger.contacts(tenant(ledger))[0]
    body = api.get(API + f"/Contacts/{contact.contact_id}").json()
    assert spec.errors("Contacts", body) == []
    assert_xero_habits(body)
    online = api.get(API + f"/Invoices/{paid.invoice_id}/OnlineInvoice").json()
    assert spec.errors("OnlineInvoices", online) == []


def test_organisation_shows_lock_dates_timezone_and_status(spec, api):
    org = api.get(API + "/Organisation").json()["Organisations"][0]
    assert org["OrganisationStatus"] == "ACTIVE" and org["IsDemoCompany"] is False
    assert org["Timezone"] in spec.spec["components"]["schemas"]["TimeZone"]["enum"]
    assert MS_DATE.match(org["PeriodLockDate"]) and MS_DATE.match(org["EndOfYearLockDate"])
    assert re.match(r"^![A-Za-z0-9]{5}$", org["ShortCode"])


def test_users_carry_the_undocumented_global_user_id(api, ledger):
    users = api.get(API + "/Users").json()["Users"]
    finance = ledger.user_by_email("finance@sandbox.example")
    row = next(u for u in users if u["EmailAddress"] == finance.email)
    assert row["GlobalUserID"] == finance.global_user_id and row["UserID"] != finance.global_user_id


def test_post_success_and_validation_error_validate_against_the_spec(spec, api, ledger):
    ok = api.post(
        API + f"/Invoices/{some(ledger, editable).invoice_id}",
        json={"Invoices": [{"ExpectedPaymentDate": "2026-12-01"}]},
    )
    assert ok.status_code == 200 and spec.errors("Invoices", ok.json()) == []
    assert_xero_habits(ok.json())
    refused = api.post(
        API + f"/Invoices/{some(ledger, lambda i: i.status == 'PAID').invoice_id}",
        json={"Invoices": [{"ExpectedPaymentDate": "2026-12-01"}]},
    )
    assert refused.status_code == 400 and spec.errors("Error", refused.json()) == []
    query = api.get(API + "/Invoices", params={"where": "Nope==1"})
    assert query.status_code == 400 and spec.errors("Error", query.json()) == []


def test_money_is_a_json_number_with_two_decimals(api, ledger):
    raw = api.get(API + f"/Invoices/{some(ledger, editable).invoice_id}").text
    assert re.search(r'"Total":\d+\.\d{2}[,}]', raw) and re.search(
        r'"CurrencyRate":\d+\.\d{6}', raw
    )


def test_date_only_fields_are_midnight_utc(api, ledger):
    inv = api.get(API + f"/Invoices/{some(ledger, editable).invoice_id}").json()["Invoices"][0]
    millis = int(inv["Date"][6:-7])
    assert datetime.fromtimestamp(millis / 1000, UTC).isoformat()[:19] == inv["DateString"]


def test_a_page_of_a_thousand_invoices_out_of_a_hundred_thousand_is_fast():
    big = build_ledger(seed=2, orgs=1, invoices=100_000, today=TODAY)
    client = accounting_client(big)
    client.headers["xero-tenant-id"] = big.organisations[0].organisation_id
    started = time.perf_counter()
    body = client.get(API + "/Invoices", params={"page": 100, "pageSize": 1000}).json()
    # 100,000 sales invoices and 15,000 bills.
    assert len(body["Invoices"]) == 1000 and body["pagination"]["itemCount"] == 115_000
    assert time.perf_counter() - started < 1.0


def _ids(ledger, pred, n=2):
    found = [i for i in ledger.iter_invoices(tenant(ledger)) if pred(i)]
    return ",".join(i.invoice_id for i in found[:n])


@pytest.mark.parametrize(
    "path, params, headers",
    [
        ("/Invoices", {}, {"If-Modified-Since": "2026-06-01T00:00:00"}),
        ("/Invoices", {"page": 1}, {"If-Modified-Since": "Mon, 01 Jun 2026 00:00:00 GMT"}),
        ("/Contacts", {}, {"If-Modified-Since": "2025-06-01T00:00:00"}),
        ("/Invoices", {"Statuses": "AUTHORISED,PAID"}, {}),
        ("/Invoices", {"Statuses": "DRAFT", "page": 1}, {}),
        ("/Invoices", {"IDs": "{paid},{credited}", "page": 1}, {}),
        ("/Invoices", {"ContactIDs": "{contact}"}, {}),
        ("/Invoices", {"searchTerm": "inv-000"}, {}),
        ("/Contacts", {"IDs": "{contact}", "page": 1}, {}),
        ("/Contacts", {"searchTerm": "a"}, {}),
    ],
)
def test_filtered_lists_validate_against_the_spec(spec, api, ledger, path, params, headers):
    names = {
        "paid": _ids(ledger, lambda i: i.status == "PAID", 1),
        "credited": _ids(ledger, lambda i: bool(i.credits), 1),
        "contact": ledger.contacts(tenant(ledger))[0].contact_id,
    }
    query = {k: str(v).format(**names) for k, v in params.items()}
    response = api.get(API + path, params=query, headers=headers)
    body = response.json()
    component = path.strip("/")
    assert response.status_code == 200 and body[component], (path, query, headers)
    assert spec.errors(component, body) == []
    assert_xero_habits(body)


def test_an_invoice_with_a_prepayment_and_one_with_an_overpayment_validate(spec, api, ledger):
    for pick in (lambda i: bool(i.prepayments), lambda i: bool(i.overpayments)):
        inv = some(ledger, pick)
        body = api.get(API + f"/Invoices/{inv.invoice_id}").json()
        shown = body["Invoices"][0]
        applied = shown["Prepayments"] + shown["Overpayments"]
        assert applied and shown["AmountCredited"] == sum(a["AppliedAmount"] for a in applied)
        assert spec.errors("Invoices", body) == []
        assert_xero_habits(body)


@pytest.mark.parametrize(
    "path, params",
    [
        ("/Invoices", {"IDs": "nope"}),
        ("/Invoices", {"ContactIDs": "nope"}),
        ("/Invoices", {"Statuses": "OPEN"}),
        ("/Invoices", {"includeArchived": "yes"}),
        ("/Invoices", {"page": 0}),
        ("/Contacts", {"summaryOnly": "1"}),
        ("/Contacts", {"page": 1, "pageSize": 0}),
    ],
)
def test_query_parse_errors_validate_against_the_spec(spec, api, path, params):
    response = api.get(API + path, params=params)
    body = response.json()
    assert response.status_code == 400 and body["Type"] == "QueryParseException"
    assert spec.errors("Error", body) == []


def test_mismatched_invoice_id_error_validates_against_the_spec(spec, api, ledger):
    inv, other = some(ledger, editable), some(ledger, lambda i: i.status == "PAID")
    response = api.post(API + f"/Invoices/{inv.invoice_id}",
                        json={"InvoiceID": other.invoice_id, "ExpectedPaymentDate": "2026-12-01"})
    assert response.status_code == 400 and response.json()["Type"] == "ValidationException"
    assert spec.errors("Error", response.json()) == []
