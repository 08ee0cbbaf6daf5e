"""Alert messages as Block Kit: pure builders, checked by equality."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.blocks.alerts import alert, customer_thread, money
from bot.chasing.ports import AlertCustomer, InvoiceOverdue, PaymentReceived

CUSTOMER = AlertCustomer(team_id="T1", connection_id=1, tenant_name="Demo Co", short_code="!ab1",
                         name="Bell & <Sons>", xero_contact_id="c-1")
INVOICE_LINK = ("https://go.xero.com/organisationlogin/default.aspx?shortcode=!ab1"
                "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=i-1")


def section(text: str) -> list[dict]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def test_money_has_two_decimals_grouped_and_rounds_half_up() -> None:
    assert money("NZD", Decimal("1234.505")) == "NZD 1,234.51"
    assert money(None, Decimal("5")) == "5.00"


def test_customer_thread_names_the_customer_escaped_and_links_the_contact() -> None:
    text, blocks = customer_thread(CUSTOMER)
    assert text == "Alerts about Bell &amp; &lt;Sons&gt;"  # Slack reads this as mrkdwn too
    assert blocks == section(
        "*Bell &amp; &lt;Sons&gt;* · payments and overdue invoices (Demo Co). Alerts are in the "
        "thread.\n<https://go.xero.com/organisationlogin/default.aspx?shortcode=!ab1"
        "&redirecturl=/Contacts/View/c-1|View customer in Xero>")


def test_payment_alert_says_who_paid_how_much_on_which_invoice_and_how_late() -> None:
    item = PaymentReceived(customer=CUSTOMER, xero_invoice_id="i-1", invoice_number="INV-0042",
                           amount=Decimal("500"), currency="NZD", paid_on=date(2026, 6, 15),
                           days_after_due=12, still_due=Decimal("650.5"))
    text, blocks = alert(item)
    assert text == ("Payment received: *Bell &amp; &lt;Sons&gt;* paid NZD 500.00 on invoice "
                    "INV-0042, 12 days after the due date. NZD 650.50 is still due.")
    assert blocks == section(text + f"\n<{INVOICE_LINK}|View invoice in Xero>")


def test_payment_alert_in_full_on_the_due_date_and_without_a_short_code() -> None:
    customer = AlertCustomer(team_id="T1", connection_id=1, tenant_name=None, short_code=None,
                             name=None, xero_contact_id=None)
    item = PaymentReceived(customer=customer, xero_invoice_id="i-1", invoice_number=None,
                           amount=Decimal("1"), currency="USD", paid_on=date(2026, 6, 15),
                           days_after_due=-1, still_due=Decimal(0))
    text, blocks = alert(item)
    assert text == ("Payment received: *A customer* paid USD 1.00 on invoice without a number, "
                    "1 day before the due date. It is now paid in full.")
    assert blocks == section(text)


def test_overdue_alert_gives_amount_days_and_the_threshold() -> None:
    item = InvoiceOverdue(customer=CUSTOMER, xero_invoice_id="i-1", invoice_number="INV-7",
                          amount_due=Decimal("25000"), currency="AUD", due_date=date(2026, 6, 14),
                          days_overdue=1, threshold=Decimal("20000"), base_currency="NZD")
    text, blocks = alert(item)
    assert text == ("Overdue: invoice INV-7 for *Bell &amp; &lt;Sons&gt;* (AUD 25,000.00 due) "
                    "is 1 day past its due date (your alert amount is NZD 20,000.00).")
    assert blocks == section(text + f"\n<{INVOICE_LINK}|View invoice in Xero>")
