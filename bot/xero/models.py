"""Typed, immutable DTOs decoded straight from Xero JSON with msgspec."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
from msgspec import Struct, field
from msgspec.structs import force_setattr

from bot.xero.dates import pick_date, pick_datetime

ZERO = Decimal(0)

# Why this shape: msgspec decodes bytes into these Structs in C, and JSON numbers into
# Decimal straight from their text (never via float). Xero's dates come in two spellings
# (`Date` = /Date(ms+0000)/ and `DateString` = ISO), so the raw strings are decoded into
# `*_raw` fields and `__post_init__` fills the typed field once, preferring the ISO one.
# Field names that rename="pascal" gets wrong (InvoiceID, UpdatedDateUTC) are spelled out.
#
# Nested arrays are tuples and the DTOs are untracked by the garbage collector (gc=False):
# decoded JSON cannot form a reference cycle, and a full sync holds a few pages of them while
# storing. As lists (4 per invoice) they made every page 5,000 tracked objects surviving into
# the oldest generation, which triggered full collections of the whole heap: about 20% of the
# invoice pass's CPU. An empty array decodes to the shared `()`, which is never tracked.


class _Dto(Struct, frozen=True, kw_only=True, rename="pascal", gc=False):
    """Xero's PascalCase JSON; immutable and (see above) invisible to the cycle collector."""


class Pagination(Struct, frozen=True, kw_only=True, rename="camel"):
    page: int = 0
    page_size: int = 0
    page_count: int = 0
    item_count: int = 0


class ContactRef(_Dto, kw_only=True):
    contact_id: str = field(name="ContactID")
    name: str = ""
    contact_number: str | None = None


class Payment(_Dto, kw_only=True):
    payment_id: str = field(name="PaymentID")
    amount: Decimal = ZERO
    reference: str | None = None
    currency_rate: Decimal | None = None
    date_raw: str | None = field(default=None, name="Date")
    date: dt.date | None = field(default=None, name="-Date")

    def __post_init__(self) -> None:
        force_setattr(self, "date", pick_date(None, self.date_raw))


class Allocation(_Dto, kw_only=True):
    """A credit note, prepayment or overpayment applied to an invoice."""

    credit_note_id: str | None = field(default=None, name="CreditNoteID")
    prepayment_id: str | None = field(default=None, name="PrepaymentID")
    overpayment_id: str | None = field(default=None, name="OverpaymentID")
    credit_note_number: str | None = None
    total: Decimal = ZERO
    applied_amount: Decimal = ZERO


class Invoice(_Dto, kw_only=True):
    invoice_id: str = field(name="InvoiceID")
    invoice_number: str | None = None
    reference: str | None = None
    type: str = "ACCREC"
    status: str = ""
    contact: ContactRef
    currency_code: str = ""
    currency_rate: Decimal | None = None
    sub_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    total: Decimal = ZERO
    amount_due: Decimal = ZERO
    amount_paid: Decimal = ZERO
    amount_credited: Decimal = ZERO
    sent_to_contact: bool = False
    has_attachments: bool = False
    payments: tuple[Payment, ...] = ()
    credit_notes: tuple[Allocation, ...] = ()
    prepayments: tuple[Allocation, ...] = ()
    overpayments: tuple[Allocation, ...] = ()
    url: str | None = None

    date_raw: str | None = field(default=None, name="Date")
    date_string: str | None = field(default=None, name="DateString")
    due_date_raw: str | None = field(default=None, name="DueDate")
    due_date_string: str | None = field(default=None, name="DueDateString")
    fully_paid_on_date_raw: str | None = field(default=None, name="FullyPaidOnDate")
    expected_payment_date_raw: str | None = field(default=None, name="ExpectedPaymentDate")
    expected_payment_date_string: str | None = field(default=None, name="ExpectedPaymentDateString")
    updated_date_utc_raw: str | None = field(default=None, name="UpdatedDateUTC")
    updated_date_utc_string: str | None = field(default=None, name="UpdatedDateUTCString")

    # Typed values, filled from the raw strings above ("-" names never occur in Xero JSON).
    date: dt.date | None = field(default=None, name="-Date")
    due_date: dt.date | None = field(default=None, name="-DueDate")
    fully_paid_on_date: dt.date | None = field(default=None, name="-FullyPaidOnDate")
    expected_payment_date: dt.date | None = field(default=None, name="-ExpectedPaymentDate")
    updated_date_utc: dt.datetime | None = field(default=None, name="-UpdatedDateUTC")

    def __post_init__(self) -> None:
        force_setattr(self, "date", pick_date(self.date_string, self.date_raw))
        force_setattr(self, "due_date", pick_date(self.due_date_string, self.due_date_raw))
        if self.fully_paid_on_date_raw:
            force_setattr(self, "fully_paid_on_date", pick_date(None, self.fully_paid_on_date_raw))
        if self.expected_payment_date_raw or self.expected_payment_date_string:
            force_setattr(
                self,
                "expected_payment_date",
                pick_date(self.expected_payment_date_string, self.expected_payment_date_raw),
            )
        force_setattr(
            self,
            "updated_date_utc",
            pick_datetime(self.updated_date_utc_string, self.updated_date_utc_raw),
        )

    @property
    def has_payments(self) -> bool:
        return bool(self.payments) or self.amount_paid > 0

    @property
    def has_allocations(self) -> bool:
        """Payments, credit notes, prepayments or overpayments applied: Xero refuses edits."""
        return (
            self.has_payments
            or bool(self.credit_notes or self.prepayments or self.overpayments)
            or self.amount_credited > 0
        )


class ContactPerson(_Dto, kw_only=True):
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    include_in_emails: bool = False


class Phone(_Dto, kw_only=True):
    phone_type: str = ""
    phone_number: str | None = None
    phone_area_code: str | None = None
    phone_country_code: str | None = None


class Address(_Dto, kw_only=True):
    address_type: str = ""
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    address_line4: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    attention_to: str | None = None


class Contact(_Dto, kw_only=True):
    contact_id: str = field(name="ContactID")
    name: str = ""
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    account_number: str | None = None
    contact_number: str | None = None
    contact_status: str = "ACTIVE"
    merged_to_contact_id: str | None = field(default=None, name="MergedToContactID")
    is_customer: bool = False
    is_supplier: bool = False
    default_currency: str | None = None
    contact_persons: tuple[ContactPerson, ...] = ()
    phones: tuple[Phone, ...] = ()
    addresses: tuple[Address, ...] = ()
    updated_date_utc_raw: str | None = field(default=None, name="UpdatedDateUTC")
    updated_date_utc: dt.datetime | None = field(default=None, name="-UpdatedDateUTC")

    def __post_init__(self) -> None:
        force_setattr(self, "updated_date_utc", pick_datetime(None, self.updated_date_utc_raw))


class Organisation(_Dto, kw_only=True):
    organisation_id: str = field(name="OrganisationID")
    name: str = ""
    legal_name: str | None = None
    short_code: str | None = None
    country_code: str | None = None
    timezone: str | None = None
    base_currency: str | None = None
    organisation_status: str | None = None
    organisation_type: str | None = None
    edition: str | None = None
    is_demo_company: bool = False
    financial_year_end_day: int | None = None
    financial_year_end_month: int | None = None
    period_lock_date_raw: str | None = field(default=None, name="PeriodLockDate")
    end_of_year_lock_date_raw: str | None = field(default=None, name="EndOfYearLockDate")
    period_lock_date: dt.date | None = field(default=None, name="-PeriodLockDate")
    end_of_year_lock_date: dt.date | None = field(default=None, name="-EndOfYearLockDate")

    def __post_init__(self) -> None:
        force_setattr(self, "period_lock_date", pick_date(None, self.period_lock_date_raw))
        force_setattr(
            self, "end_of_year_lock_date", pick_date(None, self.end_of_year_lock_date_raw)
        )


class User(_Dto, kw_only=True):
    user_id: str = field(name="UserID")
    email_address: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organisation_role: str | None = None
    is_subscriber: bool = False
    # Undocumented but served: equals the id_token's `xero_userid` (Xero-NetStandard #562).
    global_user_id: str | None = field(default=None, name="GlobalUserID")


class XeroTenantConnection(Struct, frozen=True, kw_only=True, rename="camel"):
    """One row of GET /connections: an organisation this user's tokens may reach."""

    id: str
    tenant_id: str
    tenant_type: str = "ORGANISATION"
    tenant_name: str | None = None
    auth_event_id: str | None = None
    created_date_utc: str | None = None
    updated_date_utc: str | None = None


class OnlineInvoice(_Dto, kw_only=True):
    online_invoice_url: str | None = None


# Response envelopes -----------------------------------------------------------------------


class InvoicePage(Struct, frozen=True, kw_only=True):
    invoices: list[Invoice] = field(default=[], name="Invoices")
    pagination: Pagination | None = None


class ContactPage(Struct, frozen=True, kw_only=True):
    contacts: list[Contact] = field(default=[], name="Contacts")
    pagination: Pagination | None = None


class _Organisations(Struct, frozen=True):
    Organisations: list[Organisation] = []


class _Users(Struct, frozen=True):
    Users: list[User] = []


class _OnlineInvoices(Struct, frozen=True):
    OnlineInvoices: list[OnlineInvoice] = []


_invoice_page = msgspec.json.Decoder(InvoicePage)
_contact_page = msgspec.json.Decoder(ContactPage)
_organisations = msgspec.json.Decoder(_Organisations)
_users = msgspec.json.Decoder(_Users)
_online_invoices = msgspec.json.Decoder(_OnlineInvoices)
_connections = msgspec.json.Decoder(list[XeroTenantConnection])


def decode_invoice_page(raw: bytes) -> InvoicePage:
    """Parse a GET /Invoices response body."""
    return _invoice_page.decode(raw)


def decode_contact_page(raw: bytes) -> ContactPage:
    """Parse a GET /Contacts response body."""
    return _contact_page.decode(raw)


def decode_organisations(raw: bytes) -> list[Organisation]:
    """Parse a GET /Organisation response body."""
    return _organisations.decode(raw).Organisations


def decode_users(raw: bytes) -> list[User]:
    """Parse a GET /Users response body."""
    return _users.decode(raw).Users


def decode_online_invoices(raw: bytes) -> list[OnlineInvoice]:
    """Parse a GET /Invoices/{id}/OnlineInvoice response body."""
    return _online_invoices.decode(raw).OnlineInvoices


def decode_connections(raw: bytes) -> list[XeroTenantConnection]:
    """Parse a GET /connections response body."""
    return _connections.decode(raw)
