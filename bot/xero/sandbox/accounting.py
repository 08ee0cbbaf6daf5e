"""Accounting API routes (/api.xro/2.0/...): Organisation, Users, Contacts and Invoices."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
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
    invoice_schema,
    parse_csv,
    parse_if_modified_since,
    sort_records,
)
from .generator import Invoice
from .ledger import EditRefused, Ledger

JSON = "application/json; charset=utf-8"
NOT_FOUND = "The resource you're looking for cannot be found"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
STREAM_CHUNK = 500  # unpaged lists are encoded this many records at a time (bounded memory)
# Query parameters that select invoices; includeArchived last (alone it changes nothing here).
SELECTION_PARAMS = (
    "where",
    "order",
    "IDs",
    "InvoiceNumbers",
    "ContactIDs",
    "Statuses",
    "searchTerm",
    "createdByMyApp",
    "includeArchived",
)
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


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() == "true"


@dataclass(frozen=True, slots=True)
class Paging:
    page: int | None
    size: int

    @classmethod
    def of(cls, request: Request) -> Paging:
        raw_page, raw_size = request.query_params.get("page"), request.query_params.get("pageSize")
        try:
            page = None if raw_page in (None, "") else max(1, int(raw_page))
            size = DEFAULT_PAGE_SIZE if raw_size in (None, "") else int(raw_size)
        except ValueError:
            raise QueryError("The page and pageSize parameters must be whole numbers") from None
        # Xero caps pageSize at 1000 rather than refusing larger values.
        return cls(page, min(max(size, 1), MAX_PAGE_SIZE))

    def window(self, total: int) -> tuple[int, int]:
        start = ((self.page or 1) - 1) * self.size
        return start, min(start + self.size, total)

    def meta(self, total: int) -> dict:
        return {
            "page": self.page,
            "pageSize": self.size,
            "pageCount": (total + self.size - 1) // self.size,
            "itemCount": total,
        }


class AccountingApi:
    """Request handlers; the tenant is request.state.tenant_id, set by the auth middleware."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        # Recent invoice selections (indices only), so paging through 100k costs one scan.
        self._selections: OrderedDict[tuple, Sequence[int]] = OrderedDict()
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
        tenant, q = request.state.tenant_id, request.query_params
        try:
            paging, since = Paging.of(request), self._since(request)
            rows = list(self.ledger.contacts(tenant))
            if since:
                rows = [c for c in rows if c.updated.replace(microsecond=0) >= since]
            if ids := {i.lower() for i in parse_csv(q.get("IDs"))}:
                rows = [c for c in rows if c.contact_id in ids]
            if not _flag(request, "includeArchived"):
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
        summary = _flag(request, "summaryOnly")
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
    def _select(self, tenant: str, request: Request) -> Sequence[int]:
        """Indices of matching invoices in response order; cached per ledger version."""
        q = request.query_params
        since = self._since(request)
        filters = tuple(q.get(k, "") for k in SELECTION_PARAMS)
        if since is None and not any(filters[:-1]):
            # Unfiltered: every invoice in creation order (none is ARCHIVED), no scan needed.
            return range(self.ledger.invoice_count(tenant))
        key = (tenant, self.ledger.version, since, *filters)
        if key in self._selections:
            self._selections.move_to_end(key)
            return self._selections[key]
        ledger = self.ledger
        where, order = q.get("where"), q.get("order")
        schema = invoice_schema(ledger.contact_of)
        pred = compile_where(where, schema) if where else None
        keys = compile_order(order, schema) if order else None
        ids = parse_csv(q.get("IDs"))
        if ids:  # explicit IDs need no scan
            found = (ledger.invoice(tenant, i) for i in ids)
            floor = since.replace(microsecond=0) if since else None
            source: Iterator[Invoice] = iter(
                sorted(
                    {
                        inv.index: inv
                        for inv in found
                        if inv is not None
                        and (floor is None or inv.updated.replace(microsecond=0) >= floor)
                    }.values(),
                    key=lambda inv: inv.index,
                )
            )
        else:
            source = ledger.iter_invoices(tenant, since)
        numbers = set(parse_csv(q.get("InvoiceNumbers")))
        contact_ids = {c.lower() for c in parse_csv(q.get("ContactIDs"))}
        statuses = {s.upper() for s in parse_csv(q.get("Statuses"))}
        archived = _flag(request, "includeArchived")
        term = q.get("searchTerm", "").strip().lower()
        mine = _flag(request, "createdByMyApp")  # nothing here was created through the API
        picked = []
        for inv in source:
            if (
                mine
                or (numbers and inv.number not in numbers)
                or (statuses and inv.status not in statuses)
                or (not archived and inv.status == "ARCHIVED")
                or (contact_ids and ledger.contact_of(inv).contact_id not in contact_ids)
                or (
                    term
                    and not any(
                        term in v.lower()
                        for v in (inv.number, inv.reference, ledger.contact_of(inv).name)
                    )
                )
                or (pred is not None and not pred(inv))
            ):
                continue
            picked.append(inv if keys else inv.index)
        if keys:
            picked = [inv.index for inv in sort_records(picked, keys)]
        self._selections[key] = picked
        while len(self._selections) > 8:
            self._selections.popitem(last=False)
        return picked

    def _invoice_json(self, inv: Invoice, *, paged: bool, summary: bool) -> dict:
        contact = xerojson.contact_summary(self.ledger.contact_of(inv))
        # Xero: line items only when paging (never in summaryOnly); unpaged lists omit them.
        lines = self.ledger.lines if paged and not summary else None
        return xerojson.invoice(inv, contact, lines, summary_only=summary)

    async def invoices(self, request: Request) -> Response:
        tenant = request.state.tenant_id
        try:
            paging = Paging.of(request)
            picked = self._select(tenant, request)
        except (QueryError, ValueError) as exc:
            return _query_error(str(exc))
        summary = _flag(request, "summaryOnly")
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


def accounting_routes(ledger: Ledger) -> list[BaseRoute]:
    """Routes to Mount at "/api.xro/2.0"; handlers read request.state.tenant_id."""
    api = AccountingApi(ledger)
    return [
        Route("/Organisation", api.organisation, methods=["GET"]),
        Route("/Users", api.users, methods=["GET"]),
        Route("/Contacts", api.contacts, methods=["GET"]),
        Route("/Contacts/{key}", api.contact, methods=["GET"]),
        Route("/Invoices", api.invoices, methods=["GET"]),
        Route("/Invoices/{key}", api.invoice, methods=["GET", "POST"]),
        Route("/Invoices/{key}/OnlineInvoice", api.online_invoice, methods=["GET"]),
    ]
