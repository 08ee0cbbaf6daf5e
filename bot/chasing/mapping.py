"""Xero DTOs turned into storage row dicts (contacts, their emails, ACCREC invoices).

Also the pure rules a sync needs to compare those rows with what is stored locally.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.xero.models import Address, Contact, Invoice, Phone

# Xero's own statuses for contacts we never chase: archived ones, and (via MergedToContactID)
# duplicates merged into another contact. Xero's GDPRREQUEST contacts are off limits too.
UNCHASEABLE_CONTACT_STATUSES = frozenset({"ARCHIVED", "GDPRREQUEST"})


def contact_is_chaseable(contact_status: str | None, merged_to_xero_contact_id: str | None) -> bool:
    """Whether reminders may go to a contact: active in Xero and not merged into another."""
    return (
        contact_status or "ACTIVE"
    ) not in UNCHASEABLE_CONTACT_STATUSES and not merged_to_xero_contact_id


def _phone(phone: Phone) -> dict[str, str] | None:
    parts = [phone.phone_country_code, phone.phone_area_code, phone.phone_number]
    number = " ".join(part.strip() for part in parts if part and part.strip())
    return {"type": phone.phone_type or "DEFAULT", "number": number} if number else None


def _address(address: Address) -> dict[str, str] | None:
    fields = {
        "type": address.address_type,
        "line1": address.address_line1,
        "line2": address.address_line2,
        "line3": address.address_line3,
        "line4": address.address_line4,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "attention_to": address.attention_to,
    }
    kept = {name: value for name, value in fields.items() if value}
    # An address with only its type is Xero's empty placeholder (every contact has two).
    return kept if kept.keys() - {"type"} else None


def contact_row(contact: Contact) -> dict[str, Any]:
    """The contacts-table row for one Xero contact."""
    phones = [p for p in map(_phone, contact.phones) if p]
    addresses = [a for a in map(_address, contact.addresses) if a]
    return {
        "xero_contact_id": contact.contact_id,
        "name": contact.name or None,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "account_number": contact.account_number or contact.contact_number,
        "contact_status": contact.contact_status,
        "merged_to_xero_contact_id": contact.merged_to_contact_id,
        "is_customer": contact.is_customer,
        "phones": phones or None,
        "addresses": addresses or None,
        "default_currency": contact.default_currency,
        "updated_date_utc": contact.updated_date_utc,
    }


def contact_emails(contact: Contact) -> list[dict[str, Any]]:
    """Every address Xero would email: the contact's own, then people with IncludeInEmails.

    No role is given, so a new address starts as `normal` and an address that stays keeps
    the role a user chose in the app (see replace_contact_emails). People with
    IncludeInEmails off are not stored: they asked Xero not to be emailed, and nothing in
    Xero says who the escalation contact is, so `escalated` is only ever set by a user.
    """
    emails: list[dict[str, Any]] = []
    seen: set[str] = set()
    name = contact.name or None
    if contact.email_address and contact.email_address.strip():
        address = contact.email_address.strip()
        seen.add(address.lower())
        emails.append(
            {"email": address, "name": name, "source": "contact", "include_in_emails": True}
        )
    for person in contact.contact_persons:
        address = (person.email_address or "").strip()
        if not address or not person.include_in_emails or address.lower() in seen:
            continue
        seen.add(address.lower())
        full_name = " ".join(p for p in (person.first_name, person.last_name) if p) or None
        emails.append(
            {"email": address, "name": full_name, "source": "person", "include_in_emails": True}
        )
    return emails


def invoice_row(invoice: Invoice) -> dict[str, Any]:
    """The invoices-table row for one Xero invoice (Xero's ExpectedPaymentDate included)."""
    return {
        "xero_invoice_id": invoice.invoice_id,
        "invoice_number": invoice.invoice_number,
        "reference": invoice.reference,
        "type": invoice.type,
        "xero_contact_id": invoice.contact.contact_id,
        "date": invoice.date,
        "due_date": invoice.due_date,
        "status": invoice.status,
        "currency_code": invoice.currency_code or None,
        "currency_rate": invoice.currency_rate,
        "sub_total": invoice.sub_total,
        "total_tax": invoice.total_tax,
        "total": invoice.total,
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "amount_credited": invoice.amount_credited,
        "fully_paid_on_date": invoice.fully_paid_on_date,
        "sent_to_contact": invoice.sent_to_contact,
        "has_payments": invoice.has_payments,
        "has_credit_notes": bool(invoice.credit_notes),
        "has_prepayments": bool(invoice.prepayments),
        "has_overpayments": bool(invoice.overpayments),
        "updated_date_utc": invoice.updated_date_utc,
        "expected_payment_date": invoice.expected_payment_date,
    }


def contact_email_key(email: dict[str, Any]) -> tuple[str, str | None, str, bool]:
    """An address as storage's contact_email_keys reports a stored one, for comparing."""
    return (email["email"].lower(), email.get("name"), email["source"], email["include_in_emails"])


def overtaken_local_dates(
    rows: list[dict[str, Any]], held: dict[str, datetime | None]
) -> list[str]:
    """Invoices (of `rows`) whose locally held expected date yields; they leave `held`.

    `held` maps each invoice whose date Xero refused to its UpdatedDateUTC when we held it.
    The date yields once Xero itself has an expected date on a changed invoice: "changed"
    (a newer UpdatedDateUTC than when we last stored it) is what tells a date a person
    later set in Xero apart from the old date Xero refused to let us clear.
    """
    released = [
        row["xero_invoice_id"]
        for row in rows
        if row["expected_payment_date"] is not None
        and row["xero_invoice_id"] in held
        and row["updated_date_utc"] is not None
        and (
            held[row["xero_invoice_id"]] is None
            or row["updated_date_utc"] > held[row["xero_invoice_id"]]
        )
    ]
    for xero_id in released:
        held.pop(xero_id, None)
    return released
