"""Xero's JSON dialect: /Date(ms+0000)/ dates, PascalCase records, envelopes and error bodies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec

from .records import AdvanceAllocation, Contact, Invoice, Organisation, SandboxUser

# Decimal as a JSON number keeps "40.00" as 40.00, which is how Xero writes money.
_encoder = msgspec.json.Encoder(decimal_format="number")
encode = _encoder.encode
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZERO = Decimal("0.00")


def _ms(moment: datetime) -> int:
    delta = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def ms_date(day: date) -> str:
    """A date-only field: midnight UTC, e.g. /Date(1539993600000+0000)/."""
    return f"/Date({_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))}+0000)/"


def ms_datetime(moment: datetime) -> str:
    return f"/Date({_ms(moment)}+0000)/"


def date_string(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def iso_utc(moment: datetime) -> str:
    """UpdatedDateUTCString: whole seconds with a Z, as in Xero's examples."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(provider: str, now: datetime, **body: object) -> dict:
    """The wrapper every Accounting API response has; keys after DateTimeUTC come from `body`."""
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": provider,
        "DateTimeUTC": f"/Date({_ms(now)})/",
        **body,
    }


def error(number: int, kind: str, message: str, elements: list[dict] | None = None) -> dict:
    body: dict = {"ErrorNumber": number, "Type": kind, "Message": message}
    if elements is not None:
        body["Elements"] = elements
    return body


def organisation(org: Organisation) -> dict:
    out = {
        "APIKey": org.organisation_id.replace("-", "")[:30].upper(),
        "Name": org.name,
        "LegalName": org.legal_name,
        "PaysTax": org.tax_rate > 0,
        "Version": org.version,
        "OrganisationType": org.organisation_type,
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country_code,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "TaxNumber": org.tax_number,
        "FinancialYearEndDay": org.financial_year_end_day,
        "FinancialYearEndMonth": org.financial_year_end_month,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "TWOMONTHS",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
    }
    # Lock dates are "Shown if set".
    if org.period_lock_date:
        out["PeriodLockDate"] = ms_date(org.period_lock_date)
    if org.end_of_year_lock_date:
        out["EndOfYearLockDate"] = ms_date(org.end_of_year_lock_date)
    out |= {
        "CreatedDateUTC": ms_datetime(org.created),
        "OrganisationEntityType": org.organisation_type,
        "Timezone": org.timezone,
        "ShortCode": org.short_code,
        "OrganisationID": org.organisation_id,
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }
    return out


def user(person: SandboxUser, tenant_id: str) -> dict:
    return {
        "UserID": person.user_id(tenant_id),
        "EmailAddress": person.email,
        "FirstName": person.first_name,
        "LastName": person.last_name,
        "UpdatedDateUTC": ms_datetime(person.updated),
        "IsSubscriber": person.is_subscriber,
        "OrganisationRole": person.roles[tenant_id],
        # Undocumented but real (Xero-NetStandard #562): equals the id_token's xero_userid.
        "GlobalUserID": person.global_user_id,
    }


def contact_summary(c: Contact) -> dict:
    """The contact as embedded in invoice lists."""
    return {
        "ContactID": c.contact_id,
        "Name": c.name,
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }


def contact(
    c: Contact,
    balances: tuple[Decimal, Decimal, Decimal, Decimal] | None,
    *,
    detailed: bool,
    summary_only: bool = False,
) -> dict:
    """detailed: paged or fetched by id, when Xero adds MergedToContactID and the defaults."""
    out = {"ContactID": c.contact_id}
    if detailed and c.merged_to:
        out["MergedToContactID"] = c.merged_to
    out |= {
        "ContactNumber": c.contact_number,
        "AccountNumber": c.account_number,
        "ContactStatus": c.status,
        "Name": c.name,
        "FirstName": c.first_name,
        "LastName": c.last_name,
        "EmailAddress": c.email,
        "BankAccountDetails": "",
    }
    if not summary_only:
        out |= {"Addresses": c.addresses, "Phones": c.phones}
    out |= {
        "UpdatedDateUTC": ms_datetime(c.updated),
        "ContactGroups": [],
        "IsSupplier": c.is_supplier,
        "IsCustomer": c.is_customer,
        "DefaultCurrency": c.currency,
    }
    if detailed or summary_only:
        out |= {
            "SalesDefaultLineAmountType": "EXCLUSIVE",
            "PurchasesDefaultLineAmountType": "EXCLUSIVE",
        }
    if balances is not None and not summary_only:
        ar_out, ar_over, ap_out, ap_over = balances
        out["Balances"] = {
            "AccountsReceivable": {"Outstanding": ar_out, "Overdue": ar_over},
            "AccountsPayable": {"Outstanding": ap_out, "Overdue": ap_over},
        }
    out |= {"ContactPersons": c.persons, "HasAttachments": False, "HasValidationErrors": False}
    return out


def invoice(
    inv: Invoice,
    contact_json: dict,
    lines: Callable[[Invoice], list[dict]] | None,
    *,
    summary_only: bool = False,
) -> dict:
    """lines=None leaves LineItems out (unpaged lists and summaryOnly)."""
    out: dict = {
        "Type": inv.type,
        "InvoiceID": inv.invoice_id,
        "InvoiceNumber": inv.number,
        "Reference": inv.reference,
    }
    if not summary_only:
        out |= {
            "Payments": [
                {
                    "PaymentID": p.payment_id,
                    "Date": ms_date(p.date),
                    "Amount": p.amount,
                    "Reference": p.reference,
                    "CurrencyRate": p.rate,
                    "HasAccount": False,
                    "HasValidationErrors": False,
                }
                for p in inv.payments
            ],
            "CreditNotes": [
                {
                    "CreditNoteID": c.credit_note_id,
                    "CreditNoteNumber": c.number,
                    "AppliedAmount": c.amount,
                    "Date": ms_date(c.date),
                    "DateString": date_string(c.date),
                    "Total": c.total,
                    "HasErrors": False,
                }
                for c in inv.credits
            ],
            "Prepayments": [_advance(inv, a, "Prepayment") for a in inv.prepayments],
            "Overpayments": [_advance(inv, a, "Overpayment") for a in inv.overpayments],
        }
    paid, credited = inv.amount_paid, inv.amount_credited
    out |= {
        "AmountDue": inv.amount_due,
        "AmountPaid": paid,
        "AmountCredited": credited,
        "SentToContact": inv.sent,
        "CurrencyRate": inv.rate,
        "IsDiscounted": False,
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": contact_json,
        "DateString": date_string(inv.date),
        "Date": ms_date(inv.date),
        "DueDateString": date_string(inv.due_date),
        "DueDate": ms_date(inv.due_date),
    }
    if inv.expected is not None:  # "Shown on sales invoices ... when this has been set"
        out["ExpectedPaymentDate"] = ms_date(inv.expected)
        out["ExpectedPaymentDateString"] = date_string(inv.expected)
    out |= {"Status": inv.status, "LineAmountTypes": inv.line_amount_types}
    if lines is not None:
        out["LineItems"] = lines(inv)
    out |= {
        "SubTotal": inv.subtotal,
        "TotalTax": inv.tax,
        "Total": inv.total,
        "UpdatedDateUTC": ms_datetime(inv.updated),
        "UpdatedDateUTCString": iso_utc(inv.updated),
        "CurrencyCode": inv.currency,
    }
    if inv.fully_paid_on is not None and inv.status == "PAID":
        out["FullyPaidOnDate"] = ms_date(inv.fully_paid_on)
    return out


def _advance(inv: Invoice, applied: AdvanceAllocation, kind: str) -> dict:
    """A prepayment or overpayment as embedded in the invoice it was applied to."""
    side = "RECEIVE" if inv.type == "ACCREC" else "SPEND"
    return {
        f"{kind}ID": applied.advance_id,
        "Type": f"{side}-{kind.upper()}",
        "Date": ms_date(applied.date),
        "DateString": date_string(applied.date),
        "Status": "PAID" if applied.total == applied.amount else "AUTHORISED",
        "Reference": applied.reference,
        "Total": applied.total,
        "AppliedAmount": applied.amount,
        "RemainingCredit": applied.total - applied.amount,
        "CurrencyCode": inv.currency,
        "CurrencyRate": inv.rate,
    }
