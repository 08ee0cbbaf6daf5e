"""Alert messages: a customer's parent message and each alert in its thread (pure)."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.blocks.mrkdwn import escape, money
from bot.chasing.ports import Alert, AlertCustomer, InvoiceOverdue, PaymentReceived
from bot.messages import SLACK
from bot.xero_links import contact_link, invoice_link

TEXT_LIMIT = 3000  # Block Kit: a section's text


def _customer(customer: AlertCustomer) -> str:
    return escape(customer.name or messages.ALERT_UNKNOWN_CUSTOMER)


def _invoice(number: str | None) -> str:
    return escape(number) if number else messages.ALERT_UNNUMBERED_INVOICE


def _section(text: str, link: str | None, label: str) -> list[dict[str, Any]]:
    if link:
        text += f"\n<{link}|{label}>"
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:TEXT_LIMIT]}}]


def customer_thread(customer: AlertCustomer) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks) of a customer's parent message."""
    text = messages.alert_thread(_customer(customer), customer.tenant_name).render(SLACK)
    link = contact_link(customer.short_code, customer.xero_contact_id)
    fallback = messages.alert_thread_fallback(_customer(customer)).render(SLACK)
    return fallback, _section(text, link, messages.ALERT_VIEW_CONTACT)


def alert(item: Alert) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks) of one alert."""
    if isinstance(item, PaymentReceived):
        still_due = money(item.currency, item.still_due) if item.still_due > 0 else None
        text = messages.payment_received(
            _customer(item.customer), money(item.currency, item.amount),
            _invoice(item.invoice_number), messages.days_after_due(item.days_after_due),
            still_due,
        ).render(SLACK)
    else:
        assert isinstance(item, InvoiceOverdue)
        text = messages.invoice_overdue(
            _customer(item.customer), money(item.currency, item.amount_due),
            _invoice(item.invoice_number), item.days_overdue,
            money(item.base_currency, item.threshold),
        ).render(SLACK)
    link = invoice_link(item.customer.short_code, item.xero_invoice_id)
    return text, _section(text, link, messages.ALERT_VIEW_INVOICE)
