"""Time parsing one 1,000-invoice GET /Invoices page: json.loads vs ours vs xero-python."""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

from bot.xero.models import decode_invoice_page

PAGE_SIZE = 1000
DAY_MS = 86_400_000


def _ms(epoch_ms: int) -> str:
    return f"/Date({epoch_ms}+0000)/"


def _iso(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_ms // 1000))


def build_invoice(rng: random.Random, number: int) -> dict:
    """One ACCREC invoice shaped like a paged GET /Invoices item (line items included)."""
    issued = 1_735_689_600_000 + rng.randrange(0, 400) * DAY_MS  # from 2025-01-01, midnight UTC
    due = issued + 30 * DAY_MS
    lines = []
    for _ in range(1 if number % 10 else 2):
        quantity = Decimal(rng.randrange(1, 20))
        price = Decimal(rng.randrange(1000, 200_000)) / 100
        lines.append(
            {
                "LineItemID": str(uuid.UUID(int=rng.getrandbits(128))),
                "Description": "Monthly retainer",
                "Quantity": float(quantity),
                "UnitAmount": float(price),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
                "TaxAmount": float((quantity * price * Decimal("0.15")).quantize(Decimal("0.01"))),
                "LineAmount": float(quantity * price),
            }
        )
    sub_total = sum(Decimal(str(line["LineAmount"])) for line in lines)
    tax = sum(Decimal(str(line["TaxAmount"])) for line in lines)
    total = sub_total + tax
    paid = (total / 2).quantize(Decimal("0.01")) if number % 5 == 0 else Decimal(0)
    invoice = {
        "Type": "ACCREC",
        "InvoiceID": str(uuid.UUID(int=rng.getrandbits(128))),
        "InvoiceNumber": f"INV-{number:05d}",
        "Reference": f"PO {rng.randrange(10_000, 99_999)}",
        "Payments": [],
        "CreditNotes": [],
        "Prepayments": [],
        "Overpayments": [],
        "AmountDue": float(total - paid),
        "AmountPaid": float(paid),
        "AmountCredited": 0.0,
        "SentToContact": number % 3 != 0,
        "CurrencyRate": 1.0,
        "IsDiscounted": False,
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": {
            "ContactID": str(uuid.UUID(int=rng.getrandbits(128))),
            "Name": f"Customer {rng.randrange(1, 400)} Ltd",
        },
        "DateString": _iso(issued),
        "Date": _ms(issued),
        "DueDateString": _iso(due),
        "DueDate": _ms(due),
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": lines,
        "SubTotal": float(sub_total),
        "TotalTax": float(tax),
        "Total": float(total),
        "UpdatedDateUTC": _ms(issued + rng.randrange(0, DAY_MS)),
        "CurrencyCode": "NZD",
    }
    if paid:
        invoice["Payments"] = [
            {
                "PaymentID": str(uuid.UUID(int=rng.getrandbits(128))),
                "Date": _ms(issued + 7 * DAY_MS),
                "Amount": float(paid),
                "Reference": "Part payment",
                "CurrencyRate": 1.0,
                "HasAccount": False,
                "HasValidationErrors": False,
            }
        ]
    if number % 7 == 0:
        invoice["ExpectedPaymentDate"] = _ms(due + 14 * DAY_MS)
        invoice["ExpectedPaymentDateString"] = _iso(due + 14 * DAY_MS)
    return invoice


def build_page(count: int = PAGE_SIZE, seed: int = 7) -> bytes:
    """A whole GET /Invoices?page=1&pageSize=1000 response body."""
    rng = random.Random(seed)
    body = {
        "Id": str(uuid.UUID(int=rng.getrandbits(128))),
        "Status": "OK",
        "ProviderName": "chaser-bot benchmark",
        "DateTimeUTC": "/Date(1752451200000)/",
        "pagination": {"page": 1, "pageSize": count, "pageCount": 3, "itemCount": 3 * count},
        "Invoices": [build_invoice(rng, n) for n in range(1, count + 1)],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def xero_python_parser() -> Callable[[bytes], object] | None:
    """xero-python's own path: ApiClient.deserialize(response, 'Invoices', model_finder)."""
    try:
        from xero_python.accounting import AccountingApi
        from xero_python.api_client import ApiClient, Configuration
        from xero_python.api_client.oauth2 import OAuth2Token
    except ImportError:
        return None

    api_client = ApiClient(Configuration(oauth2_token=OAuth2Token()))
    finder = AccountingApi(api_client).get_model_finder()

    class _Response:  # what ApiClient.deserialize reads from its RESTResponse
        def __init__(self, raw: bytes) -> None:
            self.text = raw.decode()
            self.data = raw

    return lambda raw: api_client.deserialize(_Response(raw), "Invoices", finder)


def best_ms(parse: Callable[[bytes], object], raw: bytes, runs: int) -> float:
    """Median wall time of `runs` parses, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parse(raw)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(runs: int = 21) -> None:
    raw = build_page()
    parsed = decode_invoice_page(raw)
    assert len(parsed.invoices) == PAGE_SIZE and parsed.invoices[0].date is not None
    print(f"page: {PAGE_SIZE} invoices, {len(raw) / 1e6:.2f} MB, median of {runs} runs")
    ours = best_ms(decode_invoice_page, raw, runs)
    rows = [("json.loads", best_ms(json.loads, raw, runs)), ("chaser-bot (msgspec)", ours)]
    sdk = xero_python_parser()
    if sdk is not None:
        rows.append(("xero-python deserialize", best_ms(sdk, raw, max(5, runs // 3))))
    for name, ms in rows:
        print(f"  {name:<26} {ms:8.2f} ms")
    if sdk is not None:
        print(f"  speed-up vs xero-python: {rows[2][1] / ours:.1f}x")


if __name__ == "__main__":
    main()
