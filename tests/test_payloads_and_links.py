"""Button payloads round-trip and stay small; Xero deep links follow Xero's documented form."""

from __future__ import annotations

import pytest

from bot.payloads import (
    DisputeForm,
    InvoiceRef,
    PageRef,
    PayloadError,
    decode,
    decode_as,
    encode,
)
from bot.xero_links import contact_link, invoice_link


@pytest.mark.parametrize(
    "payload",
    [InvoiceRef(c=3, i=42), PageRef(c=3, p=2), DisputeForm(c=3, i=42, ch="C1", ts="1.2")],
)
def test_payloads_round_trip(payload):
    assert decode(encode(payload)) == payload


def test_an_invoice_payload_is_compact_and_versioned():
    assert encode(InvoiceRef(c=3, i=42)) == '{"v":"i1","c":3,"i":42}'


@pytest.mark.parametrize(
    "text", [None, "", "not json", '{"v":"i9","c":1,"i":2}', '{"v":"i1","c":"x","i":2}']
)
def test_foreign_or_unknown_payloads_are_refused(text):
    with pytest.raises(PayloadError):
        decode(text)


def test_a_payload_of_the_wrong_kind_is_refused():
    with pytest.raises(PayloadError, match="expected PageRef"):
        decode_as(encode(InvoiceRef(c=1, i=2)), PageRef)


def test_invoice_and_contact_links_use_the_organisation_short_code():
    # developer.xero.com/documentation/api-guides/deep-link-xero: "View an invoice" and the
    # new-UI contact form.
    assert invoice_link("!NLglS", "1cf1a11c-a067-4a05-9c8b-06f281f7afed") == (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=!NLglS"
        "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=1cf1a11c-a067-4a05-9c8b-06f281f7afed"
    )
    assert contact_link("!NLglS", "8275f116-6419-4b82-889a-f41dcc1d6186") == (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=!NLglS"
        "&redirecturl=/Contacts/View/8275f116-6419-4b82-889a-f41dcc1d6186"
    )


def test_without_a_short_code_or_contact_there_is_no_link():
    assert invoice_link(None, "abc") is None
    assert contact_link("!NLglS", None) is None
