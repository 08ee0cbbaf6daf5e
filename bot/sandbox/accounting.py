"""Accounting API routes (/api.xro/2.0/...): Organisation, Users, Contacts and Invoices."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from . import xerojson
from .filters import (
    CONTACT_SCHEMA,
    USER_SCHEMA,
    QueryError,
    compile_order,
    compile_where,
    parse_if_modified_since,
    sort_records,
)
from .ledger import EditRefused, Ledger
from .params import MAX_PAGE_SIZE, Paging, flag, guid_list
from .records import Invoice
from .selection import InvoiceSelector

JSON = "application/json; charset=utf-8"
NOT_FOUND = "The resource you're looking for cannot be found"
STREAM_CHUNK = 500  # unpaged lists are encoded this many records at a time (bounded memory)
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def _json(body: Any, status: int = 200) -> Response:
    return Response(xerojson.encode(body), status_code=status, media_type=JSON)


def _query_error(message: str) -> Response:
    return _json(xerojson.error(16, "QueryParseException", message), 400)


def _validation(elements: list[dict]) -> Response:
    return _json(
        xerojson.error(10, "ValidationException", "A validation exception occurred", elements), 400
    )


def _not_found() -> Response:
    # Xero answers a missing resource with this bare sentence, not JSON (Xero-OpenAPI #163).
    return Response(NOT_FOUND, status_code=404, media_type="text/html; charset=utf-8")


class AccountingApi:
    """Request handlers; the tenant is request.state.tenant_id, set by the auth middleware."""

    def __init__(self, ledger: Ledger, *, max_page_size: int = MAX_PAGE_SIZE) -> None:
        self.ledger = ledger
        self.max_page_size = max_page_size
        self.selector = InvoiceSelector(ledger)
        self._idempotent: dict[tuple[str, str], tuple[int, bytes]] = {}

    def _envelope(self, request: Request, **body: Any) -> dict:
        provider = getattr(request.state, "provider_name", None) or "Chaser Sandbox"
        return xerojson.envelope(provider, self.ledger.now(), **body)

    @staticmethod
    def _since(request: Request) -> datetime | None:
        header = request.headers.get("if-modified-since")
        return parse_if_modified_since(header) if header else None

    async def organisation(self, request: Request) -> Response:
        org = self.ledger.organisation(request.state.tenant_id)
        return _json(self._envelope(request, Organisations=[xerojson.organisation(org)]))

    async def users(self, request: Request) -> Response:
        tenant = request.state.tenant_id
        try:
            pairs = [(u, tenant) for u in self.ledger.users_for(tenant)]
            since = self._since(request)
            if since:
                pairs = [p for p in pairs if p[0].updated.replace(microsecond=0) >= since]
            if where := request.query_params.get("where"):
                pairs = [p for p in pairs if compile_where(where, USER_SCHEMA)(p)]
            if order := request.query_params.get("order"):
                pairs = sort_records(pairs, compile_order(order, USER_SCHEMA))
        except QueryError as exc:
            return _query_error(str(exc))
        except ValueError as exc:
            return _query_error(str(exc))
        return _json(self._envelope(request, Users=[xerojson.user(u, t) for u, t in pairs]))

    # -- contacts -----------------------------------------------------------------------
    async def contacts(self, request: Request) -> Response:
        # Off the event loop: the first call totals balances over every invoice of the tenant.
        return await run_in_threadpool(self._contacts, request)

    def _contacts(self, request: Request) -> Response:
        tenant, q = request.state.tenant_id, request.query_params
        try:
            paging, since = Paging.of(q, self.max_page_size), self._since(request)
            summary = flag(q, "summaryOnly")
            rows = list(self.ledger.contacts(tenant))
            if since:
                rows = [c for c in rows if c.updated.replace(microsecond=0) >= since]
            if ids := set(guid_list(q, "IDs")):
                rows = [c for c in rows if c.contact_id in ids]
            if not flag(q, "includeArchived"):
                rows = [c for c in rows if c.status != "ARCHIVED"]
            if term := q.get("searchTerm", "").strip().lower():
                rows = [
                    c
                    for c in rows
                    if any(
                        term in v.lower()
                        for v in (c.name, c.first_name, c.last_name, c.contact_number, c.email)
                    )
                ]
            if where := q.get("where"):
                pred = compile_where(where, CONTACT_SCHEMA)
                rows = [c for c in rows if pred(c)]
            if order := q.get("order"):
                rows = sort_records(rows, compile_order(order, CONTACT_SCHEMA))
        except (QueryError, ValueError) as exc:
            return _query_error(str(exc))
        body: dict = {}
        if paging.page is not None:
            body["pagination"] = paging.meta(len(rows))
            start, end = paging.window(len(rows))
            rows = rows[start:end]
        body["Contacts"] = [
            xerojson.contact(
                c,
                None if summary else self.ledger.balances(tenant, c),
                detailed=paging.page is not None,
                summary_only=summary,
            )
            for c in rows
        ]
        return _json(self._envelope(request, **body))

    async def contact(self, request: Request) -> Response:
        tenant = request.state.tenant_id
        found = self.ledger.contact(tenant, request.path_params["key"])
        if found is None:
            return _not_found()
        return _json(self._envelope(request, Contacts=[self.ledger.contact_json(tenant, found)]))

    # -- invoices -----------------------------------------------------------------------
    def _invoice_json(self, inv: Invoice, *, paged: bool, summary: bool) -> dict:
        contact = xerojson.contact_summary(self.ledger.contact_of(inv))
        # Xero: line items only when paging (never in summaryOnly); unpaged lists omit them.
        lines = self.ledger.lines if paged and not summary else None
        return xerojson.invoice(inv, contact, lines, summary_only=summary)

    async def invoices(self, request: Request) -> Response:
        # A filtered or sorted scan of 100k invoices takes seconds: never on the event loop.
        return await run_in_threadpool(self._invoices, request)

    def _invoices(self, request: Request) -> Response:
        tenant, q = request.state.tenant_id, request.query_params
        try:
            paging, summary = Paging.of(q, self.max_page_size), flag(q, "summaryOnly")
            picked = self.selector.select(tenant, q, self._since(request))
        except (QueryError, ValueError) as exc:
            return _query_error(str(exc))
        if paging.page is None:
            return self._stream(request, tenant, picked, summary)
        start, end = paging.window(len(picked))
        page = [
            self._invoice_json(self.ledger.invoice_at(tenant, i), paged=True, summary=summary)
            for i in picked[start:end]
        ]
        return _json(self._envelope(request, pagination=paging.meta(len(picked)), Invoices=page))

    def _stream(
        self, request: Request, tenant: str, picked: Sequence[int], summary: bool
    ) -> Response:
        if len(picked) <= STREAM_CHUNK:
            rows = [
                self._invoice_json(self.ledger.invoice_at(tenant, i), paged=False, summary=summary)
                for i in picked
            ]
            return _json(self._envelope(request, Invoices=rows))
        head = xerojson.encode(self._envelope(request, Invoices=[]))[:-2]  # drop the closing "]}"

        def chunks() -> Iterator[bytes]:
            yield head
            for n in range(0, len(picked), STREAM_CHUNK):
                rows = [
                    self._invoice_json(
                        self.ledger.invoice_at(tenant, i), paged=False, summary=summary
                    )
                    for i in picked[n : n + STREAM_CHUNK]
                ]
                yield (b"," if n else b"") + xerojson.encode(rows)[1:-1]
            yield b"]}"

        return StreamingResponse(chunks(), media_type=JSON)

    async def invoice(self, request: Request) -> Response:
        tenant = request.state.tenant_id
        inv = self.ledger.invoice(tenant, request.path_params["key"])
        if inv is None:
            return _not_found()
        if request.method == "POST":
            return await self._update(request, tenant, inv)
        return _json(self._envelope(request, Invoices=[self.ledger.invoice_json(inv)]))

    async def online_invoice(self, request: Request) -> Response:
        inv = self.ledger.invoice(request.state.tenant_id, request.path_params["key"])
        if inv is None:
            return _not_found()
        if inv.status in ("DRAFT", "SUBMITTED", "DELETED"):
            return _validation(
                [
                    {
                        "InvoiceID": inv.invoice_id,
                        "ValidationErrors": [
                            {"Message": "Online invoices are only available for approved invoices."}
                        ],
                    }
                ]
            )
        token = hashlib.blake2b(inv.invoice_id.encode(), digest_size=30).hexdigest()[:40]
        url = f"https://in.xero.com/{token}"
        return _json(self._envelope(request, OnlineInvoices=[{"OnlineInvoiceUrl": url}]))

    # -- writes -------------------------------------------------------------------------
    async def _update(self, request: Request, tenant: str, inv: Invoice) -> Response:
        key = request.headers.get("idempotency-key")
        if key and (tenant, key) in self._idempotent:  # same key: same answer, applied once
            status, body = self._idempotent[(tenant, key)]
            return Response(body, status_code=status, media_type=JSON)
        response = self._apply_update(request, tenant, inv, await request.body())
        if key and response.status_code < 500:
            self._idempotent[(tenant, key)] = (response.status_code, bytes(response.body))
        return response

    def _apply_update(self, request: Request, tenant: str, inv: Invoice, raw: bytes) -> Response:
        current = self.ledger.invoice_json(inv)

        def refuse(*messages: str) -> Response:
            return _validation(
                [
                    {
                        **current,
                        "HasErrors": True,
                        "StatusAttributeString": "ERROR",
                        "ValidationErrors": [{"Message": m} for m in messages],
                    }
                ]
            )

        try:
            body = msgspec.json.decode(raw) if raw.strip() else None
        except msgspec.DecodeError:
            return refuse("The request body is not valid JSON.")
        items = body.get("Invoices") if isinstance(body, dict) and "Invoices" in body else [body]
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return refuse("An Invoice is required in the request body.")
        item = items[0]
        body_id = item.get("InvoiceID")
        if body_id not in (None, "") and str(body_id).strip().lower() != inv.invoice_id:
            # Our wording: Xero's exact message for a mismatched id is not on record.
            return refuse("The InvoiceID in the request body does not match the one in the URL.")
        change: object = ...  # Ellipsis: leave ExpectedPaymentDate as it is
        if item.get("ExpectedPaymentDateString") == "":  # the only way to clear it (xero-node #476)
            change = None
        elif item.get("ExpectedPaymentDate") not in (None, ""):  # "" is ignored, not a clear
            change = _parse_date(item["ExpectedPaymentDate"])
        elif item.get("ExpectedPaymentDateString"):
            change = _parse_date(item["ExpectedPaymentDateString"])
        if change is False:
            return refuse("ExpectedPaymentDate is not a valid date.")
        try:
            if change is ...:
                self.ledger.check_editable(tenant, inv)
                result = current
            else:
                result = self.ledger.set_expected_payment_date(tenant, inv.invoice_id, change)  # type: ignore[arg-type]
        except EditRefused as exc:
            return refuse(*exc.messages)
        return _json(self._envelope(request, Invoices=[result]))


def _parse_date(value: Any) -> date | bool:
    """YYYY-MM-DD, an ISO datetime, or /Date(ms+0000)/; False when it is none of these."""
    if not isinstance(value, str):
        return False
    if m := _MS_DATE.match(value.strip()):
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(m.group(1)))).date()
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return False


def accounting_routes(ledger: Ledger, *, max_page_size: int = MAX_PAGE_SIZE) -> list[BaseRoute]:
    """Routes to Mount at "/api.xro/2.0"; handlers read request.state.tenant_id.

    `max_page_size` below 1000 serves fewer rows a page than asked for, as Xero may (its
    default page is 100): the pagination block then says the real pageSize and pageCount.
    """
    api = AccountingApi(ledger, max_page_size=max_page_size)
    return [
        Route("/Organisation", api.organisation, methods=["GET"]),
        Route("/Users", api.users, methods=["GET"]),
        Route("/Contacts", api.contacts, methods=["GET"]),
        Route("/Contacts/{key}", api.contact, methods=["GET"]),
        Route("/Invoices", api.invoices, methods=["GET"]),
        Route("/Invoices/{key}", api.invoice, methods=["GET", "POST"]),
        Route("/Invoices/{key}/OnlineInvoice", api.online_invoice, methods=["GET"]),
    ]
