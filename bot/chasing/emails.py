"""Reminder emails: jinja2 templates rendered to plain text and HTML, amounts and dates by Babel.

Templates live in bot/chasing/templates/ as `<family>.<single|grouped>.<txt|html>.j2`; the
text variant sets `subject`. HTML is autoescaped (a customer called "<b>Acme</b>" stays text)
and every template is StrictUndefined, so a misspelt placeholder fails the render, never
sends "Dear ,".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision
from jinja2 import Environment, PackageLoader, StrictUndefined

from storage.money import quantize_money

FALLBACK_LOCALE = "en"


@lru_cache(maxsize=1)
def template_environment() -> Environment:
    """The one jinja2 environment for reminder templates."""
    return Environment(
        loader=PackageLoader("bot.chasing", "templates"),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=256)
def email_locale(configured: str | None, country_code: str | None) -> str:
    """The Babel locale for amounts and dates: the setting, else English of the country."""
    if configured:
        try:
            return str(Locale.parse(configured.replace("-", "_")))
        except (UnknownLocaleError, ValueError):
            pass
    if country_code:
        try:
            english = Locale.parse(f"en_{country_code.upper()}")
            # Babel fills an unknown territory in from likely subtags: only a real match counts.
            if english.territory == country_code.upper():
                return str(english)
        except (UnknownLocaleError, ValueError):
            pass
    return FALLBACK_LOCALE


def money_text(amount: Decimal, currency: str | None, locale: str) -> str:
    """An amount in its currency for the locale, e.g. "NZ$1,234.50" or "1.234,50 €"."""
    code = currency or "XXX"
    # Round by the money rule first: Babel's own rounding is half-even (10.125 -> 10.12),
    # which would disagree by a cent with the digest and with what storage keeps.
    places = Decimal(1).scaleb(-get_currency_precision(code))
    return format_currency(quantize_money(amount, places), code, locale=locale)


def date_text(day: date, locale: str) -> str:
    """A date as the locale writes it in prose, e.g. "30 Nov 2026"."""
    return format_date(day, format="medium", locale=locale)


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice as an email shows it (values already formatted)."""

    number: str
    amount_due: str
    total: str
    currency: str
    due_date: str
    days_overdue: int
    online_url: str | None


@dataclass(frozen=True)
class Rendered:
    """A rendered email: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


def _one_line(text: str) -> str:
    # Header values may not hold line breaks (and a customer name from Xero might).
    return re.sub(r"\s+", " ", text).strip()


def render(
    family: str,
    *,
    invoices: Sequence[InvoiceLine],
    contact_name: str,
    sender_name: str,
    organisation_name: str,
    totals: Sequence[str] = (),
) -> Rendered:
    """Render a template family: the single variant for one invoice, grouped for several."""
    environment = template_environment()
    variant = "single" if len(invoices) == 1 else "grouped"
    context = {
        "contact_name": contact_name,
        "sender_name": sender_name,
        "organisation_name": organisation_name,
        "invoice": invoices[0],
        "invoices": list(invoices),
        "totals": list(totals),
    }
    text_template = environment.get_template(f"{family}.{variant}.txt.j2")
    module = text_template.make_module(context)
    subject = _one_line(str(module.subject))
    html = environment.get_template(f"{family}.{variant}.html.j2").render(
        context, subject=subject
    )
    return Rendered(subject=subject, text=str(module).lstrip("\n"), html=html)


def _header(text: str) -> str:
    """A header value: as is when ASCII, else RFC 2047 encoded words."""
    text = _one_line(text)
    return text if text.isascii() else Header(text, "utf-8").encode()


def build_message(
    rendered: Rendered,
    *,
    from_name: str,
    from_address: str,
    reply_to: str,
    to: Sequence[str],
    message_id: str,
    date_sent: datetime,
    in_reply_to: str | None = None,
) -> Message:
    """A MIME message (text with an HTML alternative) with threading headers.

    Built with the compat32 MIME classes: the same bytes on the wire as EmailMessage, without
    its header parsing, which cost more than the rest of a send (benchmarks/reminders_send.py).
    """
    message = MIMEMultipart("alternative")
    message["Subject"] = _header(rendered.subject)
    message["From"] = formataddr((_one_line(from_name), from_address), charset="utf-8")
    message["To"] = ", ".join(to)
    message["Reply-To"] = reply_to
    message["Date"] = format_datetime(date_sent)
    message["Message-ID"] = message_id
    if in_reply_to:
        # Later chases of the same invoice join the first one's thread in the customer's inbox.
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    # RFC 3834: automatic mail; well-behaved autoresponders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.attach(MIMEText(rendered.text, "plain", "utf-8"))
    message.attach(MIMEText(rendered.html, "html", "utf-8"))
    return message
