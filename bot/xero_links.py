"""Deep links into Xero's web app for one organisation (by its ShortCode)."""

from __future__ import annotations

from urllib.parse import quote

# Xero's documented deep-link form (developer.xero.com/documentation/api-guides/deep-link-xero):
# organisationlogin picks the organisation by ShortCode, then redirects inside it.
DEEP_LINK = (
    "https://go.xero.com/organisationlogin/default.aspx?shortcode={short_code}&redirecturl={path}"
)


def _link(short_code: str | None, path: str) -> str | None:
    if not short_code:
        return None  # without the ShortCode Xero cannot tell which organisation to open
    return DEEP_LINK.format(short_code=quote(short_code, safe="!"), path=path)


def invoice_link(short_code: str | None, xero_invoice_id: str) -> str | None:
    """The sales invoice's page in Xero ("View an invoice" in Xero's deep-link guide)."""
    return _link(short_code, f"/AccountsReceivable/View.aspx?InvoiceID={quote(xero_invoice_id)}")


def contact_link(short_code: str | None, xero_contact_id: str | None) -> str | None:
    """The contact's page in Xero (the guide's new-UI form), where its details are edited."""
    if not xero_contact_id:
        return None
    return _link(short_code, f"/Contacts/View/{quote(xero_contact_id)}")
