"""Reminder emails: templates (escaped, strict, Babel-formatted) and the real SMTP conversation."""

from __future__ import annotations

import ssl
from datetime import UTC, date, datetime
from decimal import Decimal
from email import message_from_bytes, policy

import pytest
from jinja2 import UndefinedError

from bot.chasing.emails import (
    InvoiceLine,
    build_message,
    date_text,
    email_locale,
    money_text,
    render,
    template_environment,
)
from bot.chasing.mailer import OutboxMailer, SmtpMailer, parse_smtp_url
from bot.chasing.ports import MailRefused, MailUnavailable
from bot.chasing.schedules import TEMPLATES

LINE = InvoiceLine("INV-7", "$1,234.50", "$1,234.50", "NZD", "1 Dec 2026", 3,
                   "https://in.xero.com/abc?x=1&y=2")


def rendered(family: str = "overdue", lines: tuple[InvoiceLine, ...] = (LINE,), **kw: str):
    values = {"contact_name": "Jane", "sender_name": "Sam", "organisation_name": "Kiwi"}
    values.update(kw)
    return render(family, invoices=list(lines), totals=["$2,469.00"], **values)


@pytest.mark.parametrize("family", TEMPLATES)
@pytest.mark.parametrize("count", [1, 2])
def test_every_template_renders_text_and_html_with_its_placeholders(family: str,
                                                                    count: int) -> None:
    email = rendered(family, (LINE,) * count)
    assert email.subject and "\n" not in email.subject
    for body in (email.text, email.html):
        assert "Jane" in body and "Sam" in body and "INV-7" in body
    if family != "thank_you":
        assert "$1,234.50" in email.text and "1 Dec 2026" in email.text
        assert "https://in.xero.com/abc?x=1&y=2" in email.text
        assert 'href="https://in.xero.com/abc?x=1&amp;y=2"' in email.html
    if count == 2 and family != "thank_you":
        assert "<table" in email.html and "$2,469.00" in email.html


def test_html_is_autoescaped_but_text_is_not() -> None:
    email = rendered(contact_name="<b>Acme & Sons</b>")
    assert "&lt;b&gt;Acme &amp; Sons&lt;/b&gt;" in email.html
    assert "Dear <b>Acme & Sons</b>," in email.text


def test_a_misspelt_placeholder_fails_the_render_instead_of_sending_blanks() -> None:
    template = template_environment().from_string("Dear {{ contact_nmae }}")
    with pytest.raises(UndefinedError):
        template.render(contact_name="Jane")


def test_a_link_less_invoice_says_nothing_about_paying_online() -> None:
    email = rendered(lines=(InvoiceLine("INV-8", "$1", "$1", "NZD", "1 Dec", 2, None),))
    assert "online" not in email.text and "<a " not in email.html


def test_amounts_and_dates_follow_the_currency_and_the_organisations_locale() -> None:
    assert email_locale(None, "NZ") == "en_NZ"
    assert email_locale("de_DE", "NZ") == "de_DE"
    assert email_locale(None, "ZZ") == "en"
    assert money_text(Decimal("1234.5"), "NZD", "en_NZ") == "$1,234.50"
    assert money_text(Decimal("1234.5"), "EUR", "de_DE") == "1.234,50\xa0€"
    assert money_text(Decimal("10"), "USD", "en_GB") == "US$10.00"
    assert date_text(date(2026, 12, 1), "en_GB") == "1 Dec 2026"
    assert date_text(date(2026, 12, 1), "en_US") == "Dec 1, 2026"


def message(to: str = "ap@acme.example", message_id: str = "<m1@kiwi.example>"):
    return build_message(
        rendered(), from_name="Sam\nAccounts", from_address="chaser@kiwi.example",
        reply_to="sam@kiwi.example", to=[to], message_id=message_id,
        date_sent=datetime(2026, 12, 1, tzinfo=UTC), in_reply_to="<first@kiwi.example>",
    )


def test_the_message_threads_and_replies_go_to_the_sender() -> None:
    # Read back as a mail client would: parsed from the bytes that go on the wire.
    built = message_from_bytes(message().as_bytes(), policy=policy.default)
    assert built["Reply-To"] == "sam@kiwi.example"
    assert built["From"] == "Sam Accounts <chaser@kiwi.example>"
    assert built["Subject"] == rendered().subject
    assert built["Message-ID"] == "<m1@kiwi.example>"
    assert built["In-Reply-To"] == built["References"] == "<first@kiwi.example>"
    assert built.get_body(("plain",)) is not None and built.get_body(("html",)) is not None


@pytest.mark.parametrize(
    ("tls", "login"),
    [("none", None), ("starttls", ("chaser", "s3cret")), ("implicit", ("chaser", "s3cret"))],
)
def test_smtp_sends_over_plain_starttls_and_implicit_tls_with_login(smtp_server, tls: str,
                                                                    login) -> None:
    server = smtp_server(tls=tls, login=login)
    mailer = SmtpMailer(server.url, ssl_context=server.client_context)
    with mailer.connect() as connection:  # one connection, two messages
        connection.send(message(message_id="<a@kiwi.example>"))
        connection.send(message(message_id="<b@kiwi.example>"))
    assert server.handler.message_ids() == ["<a@kiwi.example>", "<b@kiwi.example>"]
    assert server.received[0].rcpt_tos == ["ap@acme.example"]
    assert server.received[0].mail_from == "chaser@kiwi.example"


def test_a_wrong_password_is_one_clear_line(smtp_server) -> None:
    server = smtp_server(tls="starttls", login=("chaser", "s3cret"))
    url = server.url.replace("s3cret", "wrong")
    mailer = SmtpMailer(url, ssl_context=server.client_context)
    with pytest.raises(MailUnavailable, match="refused the SMTP login"), mailer.connect():
        pass


def test_an_untrusted_certificate_is_refused(smtp_server) -> None:
    server = smtp_server(tls="starttls")
    mailer = SmtpMailer(server.url.split("?")[0], ssl_context=ssl.create_default_context())
    with pytest.raises(MailUnavailable, match="cannot reach"), mailer.connect():
        pass


def test_a_refused_message_raises_mail_refused_and_the_connection_goes_on(smtp_server) -> None:
    server = smtp_server()
    server.handler.refuse_next.append("451 4.3.0 Try again later")
    with SmtpMailer(server.url).connect() as connection:
        with pytest.raises(MailRefused, match="451"):
            connection.send(message(message_id="<refused@kiwi.example>"))
        connection.send(message(message_id="<next@kiwi.example>"))
    assert server.handler.message_ids() == ["<next@kiwi.example>"]


def test_nobody_listening_is_mail_unavailable() -> None:
    from tests.fakes.smtp import free_port

    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}?starttls=off", timeout=5)
    with pytest.raises(MailUnavailable, match="cannot reach"), mailer.connect():
        pass


def test_smtp_url_shapes() -> None:
    assert parse_smtp_url("smtp://u:p%40ss@mail.example").port == 587
    assert parse_smtp_url("smtp://u:p%40ss@mail.example").password == "p@ss"
    assert parse_smtp_url("smtps://mail.example").port == 465
    with pytest.raises(ValueError):
        parse_smtp_url("http://mail.example")


def test_the_outbox_writes_each_message_as_an_eml_file(tmp_path) -> None:
    outbox = OutboxMailer(tmp_path / "outbox")
    with outbox.connect() as connection:
        connection.send(message(message_id="<one@kiwi.example>"))
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert [f.name for f in files] == ["one@kiwi.example.eml"]
    assert b"Reply-To: sam@kiwi.example" in files[0].read_bytes()


def test_non_ascii_names_and_subjects_are_encoded_and_read_back_intact() -> None:
    built = build_message(
        rendered(contact_name="Māori Tours", organisation_name="Café Ōtaki"),
        from_name="Zoë Müller", from_address="chaser@kiwi.example", reply_to="z@kiwi.example",
        to=["ap@acme.example"], message_id="<u@kiwi.example>",
        date_sent=datetime(2026, 12, 1, tzinfo=UTC),
    )
    wire = built.as_bytes()
    assert wire.isascii()  # 7-bit headers (RFC 2047) and encoded bodies
    parsed = message_from_bytes(wire, policy=policy.default)
    assert parsed["From"].addresses[0].display_name == "Zoë Müller"
    assert "Café Ōtaki" in str(parsed["Subject"])
    assert "Dear Māori Tours" in parsed.get_body(("plain",)).get_content()
