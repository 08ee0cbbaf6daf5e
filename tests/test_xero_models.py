"""Xero JSON decodes into typed DTOs: Decimals, dates, nested lists; errors into typed errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import msgspec
import pytest

from bot.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroUnreadableAnswer,
    XeroValidationError,
    error_from_response,
)
from bot.xero.models import (
    decode_connections,
    decode_contact_page,
    decode_invoice_page,
    decode_organisations,
)

INVOICE = {
    "Type": "ACCREC",
    "InvoiceID": "243216c5-369e-4056-ac67-05388f86dc81",
    "InvoiceNumber": "INV-0001",
    "Reference": "PO 12",
    "Payments": [
        {
            "PaymentID": "0d666415-cf77-43fa-80c7-56775591d426",
            "Date": "/Date(1518134400000+0000)/",
            "Amount": 1000.00,
            "CurrencyRate": 1.000000,
        }
    ],
    "CreditNotes": [
        {
            "CreditNoteID": "3c5c7dec-534a-46e0-ad1b-f0f69822cfd5",
            "CreditNoteNumber": "CN-0001",
            "AppliedAmount": 0.10,
            "Total": 0.10,
        }
    ],
    "Prepayments": [],
    "Overpayments": [],
    "AmountDue": 0.1,
    "AmountPaid": 1000.00,
    "AmountCredited": 0.10,
    "CurrencyRate": 1.000000,
    "SentToContact": True,
    "Contact": {"ContactID": "375ac066-85a0-4044-a8be-3159856d5c85", "Name": "Mr Contact"},
    "DateString": "2018-10-20T00:00:00",
    "Date": "/Date(1539993600000+0000)/",
    "DueDateString": "2018-12-10T00:00:00",
    "DueDate": "/Date(1544400000000+0000)/",
    "ExpectedPaymentDate": "/Date(1545004800000+0000)/",
    "FullyPaidOnDate": "/Date(1544918400000+0000)/",
    "Status": "AUTHORISED",
    "LineItems": [{"Description": "ignored", "UnitAmount": 20.0}],
    "SubTotal": 870.00,
    "TotalTax": 130.10,
    "Total": 1000.10,
    "UpdatedDateUTC": "/Date(1518685950940+0000)/",
    "CurrencyCode": "NZD",
}


def page(*invoices: dict, **extra: object) -> bytes:
    return json.dumps({"Invoices": list(invoices), **extra}).encode()


def test_invoice_money_is_decimal_straight_from_the_json_text() -> None:
    raw = page(INVOICE).replace(b"1000.1,", b"1000.10000000000000000001,")
    invoice = decode_invoice_page(raw).invoices[0]
    assert invoice.total == Decimal("1000.10000000000000000001")
    assert invoice.total_tax == Decimal("130.1") and invoice.sub_total == Decimal("870.0")
    assert invoice.amount_paid == Decimal("1000.0") and isinstance(invoice.amount_due, Decimal)
    assert invoice.payments[0].amount == Decimal("1000.0")


def test_invoice_dates_are_typed_and_updated_date_is_aware_utc() -> None:
    invoice = decode_invoice_page(page(INVOICE)).invoices[0]
    assert invoice.date == date(2018, 10, 20)
    assert invoice.due_date == date(2018, 12, 10)
    assert invoice.expected_payment_date == date(2018, 12, 17)
    assert invoice.fully_paid_on_date == date(2018, 12, 16)
    assert invoice.updated_date_utc == datetime(2018, 2, 15, 9, 12, 30, 940000, tzinfo=UTC)
    assert invoice.payments[0].date == date(2018, 2, 9)


def test_date_string_fields_win_when_they_disagree_with_ms_fields() -> None:
    changed = {**INVOICE, "DueDateString": "2018-12-11T00:00:00", "ExpectedPaymentDateString": ""}
    changed["UpdatedDateUTCString"] = "2018-02-15T09:12:31Z"
    invoice = decode_invoice_page(page(changed)).invoices[0]
    assert invoice.due_date == date(2018, 12, 11)
    assert invoice.expected_payment_date == date(2018, 12, 17)  # empty string: fall back
    assert invoice.updated_date_utc == datetime(2018, 2, 15, 9, 12, 31, tzinfo=UTC)


def test_invoice_knows_allocations_block_edits() -> None:
    invoice = decode_invoice_page(page(INVOICE)).invoices[0]
    assert invoice.has_payments and invoice.has_allocations
    assert invoice.credit_notes[0].applied_amount == Decimal("0.1")
    clean = {k: v for k, v in INVOICE.items() if k not in ("Payments", "CreditNotes")}
    bare = decode_invoice_page(page({**clean, "AmountPaid": 0, "AmountCredited": 0})).invoices[0]
    assert not bare.has_payments and not bare.has_allocations


def test_minimal_invoice_gets_safe_defaults() -> None:
    minimal = {"InvoiceID": "i", "Contact": {"ContactID": "c"}}
    invoice = decode_invoice_page(page(minimal)).invoices[0]
    assert invoice.total == 0 and invoice.payments == () and invoice.date is None
    assert invoice.expected_payment_date is None and invoice.updated_date_utc is None


def test_pagination_is_read_from_the_camel_case_envelope() -> None:
    parsed = decode_invoice_page(
        page(INVOICE, pagination={"page": 2, "pageSize": 100, "pageCount": 3, "itemCount": 201})
    )
    assert parsed.pagination is not None
    assert (parsed.pagination.page, parsed.pagination.page_count) == (2, 3)
    assert parsed.pagination.item_count == 201


def test_a_page_without_pagination_still_decodes() -> None:
    assert decode_invoice_page(b'{"Invoices": []}').pagination is None


def test_wrong_types_raise_a_validation_error_naming_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="Total"):
        decode_invoice_page(page({**INVOICE, "Total": {"no": 1}}))


def test_contact_keeps_persons_phones_addresses_and_merge_target() -> None:
    contact = {
        "ContactID": "c-1",
        "Name": "Harbour Joinery",
        "FirstName": "Ana",
        "LastName": "Reti",
        "EmailAddress": "accounts@harbour.example",
        "AccountNumber": "AR-1",
        "ContactStatus": "ARCHIVED",
        "MergedToContactID": "c-2",
        "IsCustomer": True,
        "DefaultCurrency": "NZD",
        "ContactPersons": [
            {
                "FirstName": "Bo",
                "LastName": "Li",
                "EmailAddress": "bo@harbour.example",
                "IncludeInEmails": True,
            }
        ],
        "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "021 555"}],
        "Addresses": [{"AddressType": "POBOX", "AddressLine1": "PO Box 1", "City": "Wellington"}],
        "UpdatedDateUTC": "/Date(1451988985943+1300)/",
    }
    parsed = decode_contact_page(json.dumps({"Contacts": [contact]}).encode()).contacts[0]
    assert parsed.merged_to_contact_id == "c-2" and parsed.contact_status == "ARCHIVED"
    assert parsed.contact_persons[0].include_in_emails is True
    assert parsed.phones[0].phone_type == "MOBILE" and parsed.addresses[0].city == "Wellington"
    assert parsed.updated_date_utc == datetime(2016, 1, 5, 10, 16, 25, 943000, tzinfo=UTC)


def test_organisation_reads_short_code_timezone_and_lock_dates() -> None:
    raw = json.dumps(
        {
            "Organisations": [
                {
                    "OrganisationID": "o-1",
                    "Name": "Kauri",
                    "ShortCode": "!mBdtL",
                    "CountryCode": "NZ",
                    "Timezone": "NEWZEALANDSTANDARDTIME",
                    "BaseCurrency": "NZD",
                    "PeriodLockDate": "/Date(1543536000000+0000)/",
                    "EndOfYearLockDate": "/Date(1375228800000+0000)/",
                }
            ]
        }
    ).encode()
    org = decode_organisations(raw)[0]
    assert (org.short_code, org.timezone, org.base_currency) == (
        "!mBdtL",
        "NEWZEALANDSTANDARDTIME",
        "NZD",
    )
    assert org.period_lock_date == date(2018, 11, 30)
    assert org.end_of_year_lock_date == date(2013, 7, 31)


def test_connections_decode_from_camel_case() -> None:
    raw = json.dumps(
        [
            {
                "id": "conn-1",
                "authEventId": "ev-1",
                "tenantId": "t-1",
                "tenantType": "ORGANISATION",
                "tenantName": "Demo Company (NZ)",
                "createdDateUtc": "2026-07-14T01:02:03.0000000",
                "updatedDateUtc": "2026-07-14T01:02:03.0000000",
            }
        ]
    ).encode()
    (connection,) = decode_connections(raw)
    assert (connection.id, connection.tenant_id, connection.tenant_name) == (
        "conn-1",
        "t-1",
        "Demo Company (NZ)",
    )


def test_dtos_are_immutable() -> None:
    invoice = decode_invoice_page(page(INVOICE)).invoices[0]
    with pytest.raises(AttributeError):
        invoice.total = Decimal(0)  # type: ignore[misc]


# Errors built from responses ---------------------------------------------------------------


def response(status: int, body: object = b"", headers: dict | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers or {})


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (429, b"", {"Retry-After": "12", "X-Rate-Limit-Problem": "minute"}, XeroRateLimited),
        (401, {"Detail": "TokenExpired: token expired at 01/01/2026"}, {}, XeroAuthError),
        (403, {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}, {}, XeroAuthError),
        (404, {"Title": "Not Found"}, {}, XeroNotFound),
        (500, {"Detail": "An error occurred"}, {}, XeroServerError),
        (500, b"<html>oops</html>", {}, XeroUnreadableAnswer),
        (503, b"", {}, XeroUnreadableAnswer),
        (400, {"Message": "The where clause is invalid"}, {}, XeroValidationError),
        # Xero's front end, not the API: never a refusal of what we asked (issue 7, A.2).
        (400, b"<!DOCTYPE html><html><body><h1>400 Bad Request</h1></body></html>", {},
         XeroUnreadableAnswer),
        (400, b"Bad Request", {"Content-Type": "text/plain"}, XeroUnreadableAnswer),
        (400, b"", {}, XeroUnreadableAnswer),
        (400, {}, {}, XeroUnreadableAnswer),
        (403, b"<html>Access denied by the firewall</html>", {}, XeroUnreadableAnswer),
        (409, {"Title": "Conflict"}, {}, XeroError),
    ],
)
def test_responses_map_to_the_most_specific_error(status, body, headers, kind) -> None:
    error = error_from_response(response(status, body, headers))
    assert type(error) is kind
    assert "<" not in str(error)  # a response's HTML never reaches a log line


def test_rate_limit_error_carries_retry_after_and_problem() -> None:
    error = error_from_response(
        response(429, b"", {"Retry-After": "12", "X-Rate-Limit-Problem": "day"})
    )
    assert isinstance(error, XeroRateLimited)
    assert (error.retry_after, error.problem) == (12.0, "day")


def test_auth_errors_say_why_and_that_a_reconnect_is_needed() -> None:
    expired = error_from_response(response(401, {"Detail": "TokenExpired"}))
    gone = error_from_response(response(403, {"Detail": "AuthenticationUnsuccessful"}))
    assert isinstance(expired, XeroAuthError) and expired.reason == "token_expired"
    assert isinstance(gone, XeroAuthError) and gone.reason == "tenant_disconnected"


def test_validation_exception_collects_every_element_message() -> None:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [
            {"ValidationErrors": [{"Message": "Invoice not of valid status for modification"}]},
            {
                "ValidationErrors": [
                    {
                        "Message": "The document date cannot be before the period lock date, "
                        "currently set at 30-Nov-2018"
                    }
                ]
            },
        ],
    }
    error = error_from_response(response(400, body))
    assert isinstance(error, XeroValidationError)
    assert error.messages == [
        "Invoice not of valid status for modification",
        "The document date cannot be before the period lock date, currently set at 30-Nov-2018",
    ]
    assert "Invoice not of valid status" in str(error)


def test_decoded_invoices_add_nothing_for_the_cycle_collector() -> None:
    """A full sync holds pages of these: tracked ones made it run full collections (CPU)."""
    import gc

    invoice = decode_invoice_page(page(INVOICE)).invoices[0]
    minimal = decode_invoice_page(page({"InvoiceID": "i", "Contact": {"ContactID": "c"}}))
    bare = minimal.invoices[0]
    assert not gc.is_tracked(invoice) and not gc.is_tracked(bare)
    empty = (bare.payments, bare.credit_notes, bare.prepayments, bare.overpayments)
    assert all(found == () and not gc.is_tracked(found) for found in empty)
    assert invoice.payments[0].amount == Decimal("1000.0")  # still a sequence of Payment
