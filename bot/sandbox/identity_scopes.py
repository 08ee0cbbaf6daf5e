"""Which OAuth scopes exist and which ones each Accounting endpoint accepts, broad or granular."""

from __future__ import annotations

OIDC_SCOPES = frozenset({"openid", "profile", "email"})

# Broad scopes from xero_accounting.yaml v16.1.0 securitySchemes, plus the granular scopes Xero
# introduced on 2 March 2026 (https://developer.xero.com/faq/granular-scopes; names from
# XeroAPI/xero-mcp-server SCOPES_V2). Both kinds are accepted, as Xero does until September 2027.
_READ_WRITE = (
    "accounting.transactions", "accounting.contacts", "accounting.settings",
    "accounting.attachments", "accounting.invoices", "accounting.payments",
    "accounting.banktransactions", "accounting.manualjournals", "accounting.classicexpenses",
)
_READ_ONLY = (
    "accounting.reports.read", "accounting.journals.read", "accounting.budgets.read",
    "accounting.reports.tenninetynine.read", "accounting.reports.aged.read",
    "accounting.reports.balancesheet.read", "accounting.reports.profitandloss.read",
    "accounting.reports.trialbalance.read", "accounting.reports.banksummary.read",
    "accounting.reports.budgetsummary.read", "accounting.reports.executivesummary.read",
    "accounting.reports.taxreports.read",
)
KNOWN_SCOPES = frozenset(
    {*OIDC_SCOPES, "offline_access", "paymentservices", *_READ_ONLY,
     *_READ_WRITE, *(f"{scope}.read" for scope in _READ_WRITE)}
)

# Resource (first path segment after /api.xro/2.0) → its granular scope. Resources the broad
# `accounting.transactions` covered are marked so it is accepted alongside the granular one.
_RESOURCE_SCOPE: dict[str, tuple[str, bool]] = {}
for _scope, _resources, _is_transaction in (
    ("accounting.invoices", "Invoices CreditNotes LinkedTransactions PurchaseOrders Quotes "
                            "RepeatingInvoices Items", True),
    ("accounting.payments", "Payments BatchPayments Overpayments Prepayments", True),
    ("accounting.banktransactions", "BankTransactions BankTransfers", True),
    ("accounting.manualjournals", "ManualJournals", True),
    ("accounting.classicexpenses", "ExpenseClaims Receipts", True),
    ("accounting.contacts", "Contacts ContactGroups", False),
    ("accounting.settings", "Organisation Organisations Users Accounts Currencies TaxRates "
                            "BrandingThemes TrackingCategories InvoiceReminders", False),
):
    for _resource in _resources.split():
        _RESOURCE_SCOPE[_resource.lower()] = (_scope, _is_transaction)


def unknown_scopes(requested: list[str]) -> list[str]:
    """Scopes in the request that Xero would reject as invalid_scope."""
    return [scope for scope in requested if scope not in KNOWN_SCOPES]


def accepted_scopes(method: str, path: str) -> frozenset[str] | None:
    """Scopes any one of which lets a token call `method path`; None when the path is unmapped.

    Reads accept the write scope and `.read`; writes need the write scope. GET Invoices, for
    example, accepts accounting.invoices(.read) and accounting.transactions(.read).
    """
    resource = path.removeprefix("/api.xro/2.0").strip("/").split("/", 1)[0].lower()
    if resource == "reports":
        return frozenset({"accounting.reports.read"} | {s for s in _READ_ONLY if "reports." in s})
    if resource == "journals":
        return frozenset({"accounting.journals.read"})
    if resource not in _RESOURCE_SCOPE:
        return None
    scope, is_transaction = _RESOURCE_SCOPE[resource]
    write = [scope, "accounting.transactions"] if is_transaction else [scope]
    if method.upper() in ("GET", "HEAD"):
        return frozenset(write + [f"{s}.read" for s in write])
    return frozenset(write)
