"""One tenant's Xero Accounting API: paging, If-Modified-Since, pacing, retries, typed errors."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import httpx
import msgspec
import tenacity

from bot.xero.dates import if_modified_since
from bot.xero.errors import (
    XeroAuthError,
    XeroIncompleteRead,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroTransportError,
    XeroUnexpectedAnswer,
    XeroUnreadableAnswer,
    describe_answer,
    error_from_response,
)
from bot.xero.http import new_client
from bot.xero.models import (
    ContactPage,
    Invoice,
    InvoicePage,
    Organisation,
    User,
    decode_contact_page,
    decode_invoice_page,
    decode_online_invoices,
    decode_organisations,
    decode_users,
)
from bot.xero.pacing import Pacer

ACCOUNTING_PATH = "/api.xro/2.0"
USER_AGENT = "chaser-bot (+https://github.com/chaser-bot)"
PageT = TypeVar("PageT", InvoicePage, ContactPage)
T = TypeVar("T")
MAX_PAGE_SIZE = 1000  # Xero's ceiling for pageSize since July 2024; the default is 100.


class XeroClient:
    """Calls for one tenant (organisation). Thread-safe; share one per tenant with its Pacer."""

    def __init__(
        self,
        api_url: str,
        token_provider: Callable[[], str],
        tenant_id: str,
        http: httpx.Client | None = None,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        token_rejected: Callable[[str], None] | None = None,
        max_attempts: int = 5,
        max_retry_after: float = 120.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        base = api_url.rstrip("/")
        # Accept the API host (settings.xero_api_url) or the Accounting root itself.
        self.base_url = base if base.endswith(ACCOUNTING_PATH) else base + ACCOUNTING_PATH
        self.tenant_id = tenant_id
        self.token_provider = token_provider
        # Told when Xero answers 401 TokenExpired for a token we thought valid, so the next
        # token_provider() call refreshes; the request is then tried once more.
        self.token_rejected = token_rejected
        # A client we make is ours to close; one handed in belongs to the caller.
        self._owns_http = http is None
        self._http = http or new_client(httpx.Timeout(60.0, connect=10.0))
        self.pacer = pacer or Pacer(clock=clock, sleep=sleep)
        self._sleep = sleep
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self._backoff = tenacity.wait_random_exponential(
            multiplier=backoff_initial, max=backoff_max
        )
        self._counter_lock = threading.Lock()
        self.api_calls = 0
        self.throttled = 0

    def close(self) -> None:
        """Close the HTTP client if this XeroClient made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> XeroClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Reads ---------------------------------------------------------------------------------

    def organisation(self) -> Organisation:
        """The connected organisation (name, ShortCode, lock dates, timezone…)."""
        organisations = self._call("GET", "/Organisation", decode_organisations)
        if not organisations:
            raise XeroNotFound("no organisation in response")
        return organisations[0]

    def users(self, where: str | None = None) -> list[User]:
        """Users of the organisation, with their OrganisationRole."""
        params = {"where": where} if where else None
        return self._call("GET", "/Users", decode_users, params=params)

    def iter_contact_pages(
        self,
        modified_since: datetime | None = None,
        include_archived: bool = True,
        summary_only: bool = False,
        page_size: int = MAX_PAGE_SIZE,
        ids: Sequence[str] | None = None,
    ) -> Iterator[ContactPage]:
        """Every contact changed since `modified_since` (all when None), a page at a time.

        summary_only defaults to False: Xero only promises it drops "computation-heavy fields"
        without listing them, and chasing needs ContactPersons, Phones and Addresses. Archived
        contacts are included so a sync can see a contact being archived. `ids` narrows the
        list to those ContactIDs (Xero's `IDs` filter), for a webhook's targeted fetch.
        """
        params: dict[str, Any] = {"includeArchived": _flag(include_archived)}
        if ids:
            params["IDs"] = ",".join(ids)
        if summary_only:
            params["summaryOnly"] = "true"
        pages = self._pages("/Contacts", params, modified_since, page_size, decode_contact_page)
        yield from pages

    def iter_invoice_pages(
        self,
        modified_since: datetime | None = None,
        where: str | None = 'Type=="ACCREC"',
        page_size: int = MAX_PAGE_SIZE,
        statuses: list[str] | tuple[str, ...] | None = None,
        summary_only: bool = False,
        order: str | None = "UpdatedDateUTC ASC",
        ids: Sequence[str] | None = None,
    ) -> Iterator[InvoicePage]:
        """Every sales invoice changed since `modified_since`, a page at a time.

        summary_only defaults to False: we need Payments, CreditNotes, Prepayments and
        Overpayments to know in advance that Xero will refuse an ExpectedPaymentDate write,
        and the spec does not promise summaryOnly keeps them. Ordering by UpdatedDateUTC (an
        optimised order in Xero's efficient-retrieval guide) keeps pages stable while edits
        land: a changed invoice moves to the end instead of shifting earlier pages. `ids`
        narrows the list to those InvoiceIDs (Xero's `IDs` filter), for a targeted fetch.
        """
        params: dict[str, Any] = {}
        if ids:
            params["IDs"] = ",".join(ids)
        if where:
            params["where"] = where
        if statuses:
            # Xero recommends Statuses= over OR-ing statuses inside `where` (spec, GET /Invoices).
            params["Statuses"] = ",".join(statuses)
        if summary_only:
            params["summaryOnly"] = "true"
        if order:
            params["order"] = order
        pages = self._pages("/Invoices", params, modified_since, page_size, decode_invoice_page)
        yield from pages

    def invoice(self, invoice_id: str) -> Invoice:
        """One invoice in full, line items included."""
        page = self._call("GET", f"/Invoices/{invoice_id}", decode_invoice_page)
        if not page.invoices:
            raise XeroNotFound(f"invoice {invoice_id} not found", status=404)
        return page.invoices[0]

    def online_invoice_url(self, invoice_id: str) -> str | None:
        """The customer-facing invoice link (none for drafts)."""
        found = self._call("GET", f"/Invoices/{invoice_id}/OnlineInvoice", decode_online_invoices)
        return found[0].online_invoice_url if found else None

    # Writes --------------------------------------------------------------------------------

    def set_expected_payment_date(
        self, invoice_id: str, expected: date | None, *, idempotency_key: str | None = None
    ) -> Invoice:
        """Set (or, with None, clear) an invoice's ExpectedPaymentDate; returns the invoice.

        Raises XeroValidationError carrying Xero's own words when it refuses (payment or credit
        applied, lock date…). Clearing must send `ExpectedPaymentDateString: ""` — an empty
        ExpectedPaymentDate is ignored (xero-node #476). The same Idempotency-Key is sent on
        every retry so a retried POST cannot apply twice.
        """
        item: dict[str, str] = {"InvoiceID": invoice_id}
        if expected is None:
            item["ExpectedPaymentDateString"] = ""
        else:
            item["ExpectedPaymentDate"] = expected.isoformat()  # the spec's YYYY-MM-DD
        key = idempotency_key or f"chaser-epd-{uuid.uuid4()}"
        page = self._call(
            "POST",
            f"/Invoices/{invoice_id}",
            decode_invoice_page,
            body=json.dumps({"Invoices": [item]}).encode(),
            # unitdp=4 keeps Xero from re-rounding line amounts on an update that omits
            # LineItems (reported on xero.uservoice.com 50252319; harmless if untrue).
            params={"unitdp": "4"},
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
        )
        if not page.invoices:
            raise XeroUnreadableAnswer("Xero returned no invoice after the update")
        return page.invoices[0]

    # Plumbing ------------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        params: dict[str, Any],
        modified_since: datetime | None,
        page_size: int,
        decode: Callable[[bytes], PageT],
    ) -> Iterator[PageT]:
        """Every page of a list, following Xero's `pagination` block.

        Xero may serve fewer rows than the pageSize we ask for (its default is 100), so a
        short page does not mean the last one: we page on while `page < pageCount`, or, when
        an answer has no pagination block, until a page comes back empty. A pass that read
        fewer rows than Xero's itemCount raises XeroIncompleteRead after the last page, so the
        caller never takes it for a complete one.
        """
        headers = {"If-Modified-Since": if_modified_since(modified_since)} if modified_since else {}
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        page, read, previous_first = 1, 0, None
        while True:
            query = {**params, "page": str(page), "pageSize": str(page_size)}
            parsed = self._call("GET", path, decode, params=query, headers=headers)
            if parsed is None:  # 304: nothing changed since If-Modified-Since
                return
            items = parsed.invoices if isinstance(parsed, InvoicePage) else parsed.contacts
            rows = len(items)
            read += rows
            first = _row_id(items[0]) if items else None
            if first is not None and first == previous_first:
                # The same page again: whatever answered ignores `page`. Stop, don't loop.
                raise XeroUnexpectedAnswer(f"{path}: page {page} repeats page {page - 1}")
            previous_first = first
            pagination = parsed.pagination
            if rows or page == 1:
                yield parsed
            if pagination is None or not pagination.page_count:
                if not rows:
                    return
            elif page >= pagination.page_count:
                if pagination.item_count and read < pagination.item_count:
                    raise XeroIncompleteRead(
                        f"{path}: read {read} of {pagination.item_count} rows in "
                        f"{pagination.page_count} pages"
                    )
                return
            elif not rows:
                raise XeroIncompleteRead(f"{path}: page {page} of {pagination.page_count} empty")
            page += 1

    def _call(
        self,
        method: str,
        path: str,
        decode: Callable[[bytes], T],
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> T:
        """One call, its answer decoded inside the retry: JSON cut short is retried like a 5xx.

        Returns None for a 304 (only asked for with If-Modified-Since).
        """

        def attempt() -> T:
            response = self._attempt(method, path, params, headers, body)
            if response.status_code == 304:
                return None  # type: ignore[return-value]
            try:
                return decode(response.content)
            except msgspec.ValidationError as exc:  # whole JSON, not the shape we know
                raise XeroUnexpectedAnswer(
                    f"{method} {path}: {_first_line(exc)}", status=response.status_code
                ) from None
            except msgspec.DecodeError as exc:  # cut short or malformed: like a 5xx
                raise XeroUnreadableAnswer(
                    f"{method} {path}: {describe_answer(response)} that is not valid Xero JSON "
                    f"({_first_line(exc)})",
                    status=response.status_code,
                ) from None

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            retry=tenacity.retry_if_exception(self._retryable),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _attempt(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        body: bytes | None,
    ) -> httpx.Response:
        token = self.token_provider()
        response = self._send(token, method, path, params, headers, body)
        if response.status_code == 401 and self.token_rejected is not None:
            error = error_from_response(response)
            if isinstance(error, XeroAuthError) and error.reason == "token_expired":
                # Xero's clock and ours disagree, or the token died early: refresh, once.
                self.token_rejected(token)
                response = self._send(self.token_provider(), method, path, params, headers, body)
        self.pacer.observe(response.headers)
        if response.status_code == 429:
            error = error_from_response(response)
            with self._counter_lock:
                self.throttled += 1
            if isinstance(error, XeroRateLimited) and error.retry_after:
                self.pacer.hold(min(error.retry_after, self.max_retry_after))
            raise error
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code != 304 and not _is_json(response):
            # Without Accept: application/json Xero answers XML; anything else is a proxy page.
            raise XeroUnreadableAnswer(f"{method} {path}: {describe_answer(response)}",
                                       status=response.status_code)
        return response

    def _send(
        self,
        token: str,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        body: bytes | None,
    ) -> httpx.Response:
        request_headers = {
            "Authorization": f"Bearer {token}",
            "xero-tenant-id": self.tenant_id,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        with self.pacer.slot():
            with self._counter_lock:
                self.api_calls += 1
            try:
                return self._http.request(
                    method,
                    self.base_url + path,
                    params=params,
                    headers=request_headers,
                    content=body,
                )
            except httpx.TransportError as exc:
                raise XeroTransportError(f"{type(exc).__name__}: {exc}") from exc

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, XeroRateLimited):
            # A day-limit 429 says "come back in hours": hand it to the caller, don't sleep.
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after
        return isinstance(exc, XeroServerError | XeroTransportError)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, XeroRateLimited) and exc.retry_after is not None:
            # The Pacer already holds the tenant for Retry-After; this only paces this thread.
            return exc.retry_after
        return self._backoff(state)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _row_id(item: Any) -> str | None:
    return getattr(item, "invoice_id", None) or getattr(item, "contact_id", None)


def _first_line(exc: Exception) -> str:
    """msgspec's own words (e.g. "truncated"), which quote no content."""
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _is_json(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "")
    return "json" in content_type or (not content_type and response.content[:1] in (b"{", b"["))
