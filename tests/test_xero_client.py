"""XeroClient over real HTTP: headers, paging, If-Modified-Since, retries, 429s and errors."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.xero.client import XeroClient
from bot.xero.errors import (
    XeroAuthError,
    XeroIncompleteRead,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroTransportError,
    XeroUnexpectedAnswer,
    XeroUnreadableAnswer,
    XeroValidationError,
)
from bot.xero.pacing import Pacer, SlidingWindow

TENANT = "6f1b2a44-0000-4000-8000-00000000abcd"
DROP = "drop"  # scripted reply: close the socket without answering


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class StubXero:
    """Replies scripted per path (FIFO, last one repeats); records every request."""

    url: str = ""
    replies: dict[str, deque[Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def script(self, path: str, *replies: Any) -> None:
        self.replies[path] = deque(replies)

    def next_reply(self, path: str) -> Any:
        queue = self.replies.get(path)
        if not queue:
            return (404, {"Title": "Not Found", "Detail": path}, {})
        return queue.popleft() if len(queue) > 1 else queue[0]


def _handler(stub: StubXero) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            stub.seen.append(
                Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
            )
            reply = stub.next_reply(parts.path)
            if reply == DROP:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, payload, headers = reply
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_DELETE = _serve

    return Handler


@pytest.fixture
def stub() -> Iterator[StubXero]:
    stub = StubXero()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield stub
    server.shutdown()
    server.server_close()


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(stub: StubXero, fake_time: FakeTime, **kwargs: Any) -> XeroClient:
    pacer = Pacer(
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        app_window=SlidingWindow(9_500, clock=fake_time.clock, sleep=fake_time.sleep),
    )
    return XeroClient(
        stub.url,
        lambda: "access-123",
        TENANT,
        http=httpx.Client(timeout=5),
        pacer=pacer,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kwargs,
    )


def invoice_json(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "InvoiceID": f"00000000-0000-4000-8000-{number:012d}",
        "InvoiceNumber": f"INV-{number:04d}",
        "Type": "ACCREC",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "c-1", "Name": "Harbour Joinery"},
        "Date": "/Date(1539993600000+0000)/",
        "DueDate": "/Date(1542585600000+0000)/",
        "Total": 115.0,
        "AmountDue": 115.0,
        "UpdatedDateUTC": "/Date(1539993600000+0000)/",
        **extra,
    }


def invoices_page(numbers: range, page: int, page_size: int, page_count: int | None) -> tuple:
    body: dict[str, Any] = {"Invoices": [invoice_json(n) for n in numbers]}
    if page_count is not None:
        body["pagination"] = {
            "page": page,
            "pageSize": page_size,
            "pageCount": page_count,
            "itemCount": 0,
        }
    return (200, body, {"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "4990"})


ORG = {
    "Organisations": [
        {
            "OrganisationID": "org-1",
            "Name": "Kauri Plumbing",
            "ShortCode": "!mBdtL",
            "CountryCode": "NZ",
            "Timezone": "NEWZEALANDSTANDARDTIME",
            "BaseCurrency": "NZD",
            "PeriodLockDate": "/Date(1543536000000+0000)/",
        }
    ]
}


def test_every_call_carries_bearer_tenant_and_json_accept_headers(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Organisation", (200, ORG, {}))
    org = make_client(stub, fake_time).organisation()
    assert org.short_code == "!mBdtL" and org.period_lock_date == date(2018, 11, 30)
    headers = {k.lower(): v for k, v in stub.seen[0].headers.items()}
    assert headers["authorization"] == "Bearer access-123"
    assert headers["xero-tenant-id"] == TENANT
    assert headers["accept"] == "application/json"


def test_client_accepts_the_accounting_root_as_well_as_the_api_host(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Organisation", (200, ORG, {}))
    client = make_client(stub, fake_time)
    same = XeroClient(client.base_url, lambda: "t", TENANT)
    assert same.base_url == client.base_url == stub.url + "/api.xro/2.0"


def test_without_a_pagination_block_paging_goes_on_until_an_empty_page(stub, fake_time) -> None:
    # A short page is not the last one: Xero may serve fewer rows than we ask for.
    stub.script(
        "/api.xro/2.0/Invoices",
        invoices_page(range(0, 3), 1, 3, None),
        invoices_page(range(3, 5), 2, 3, None),
        invoices_page(range(5, 6), 3, 3, None),
        invoices_page(range(0, 0), 4, 3, None),
    )
    pages = list(make_client(stub, fake_time).iter_invoice_pages(page_size=3))
    assert [len(p.invoices) for p in pages] == [3, 2, 1]
    assert [s.query["page"] for s in stub.seen] == [["1"], ["2"], ["3"], ["4"]]
    assert stub.seen[0].query["pageSize"] == ["3"]
    assert stub.seen[0].query["where"] == ['Type=="ACCREC"']


def paged(numbers: range, page: int, page_size: int, page_count: int, item_count: int) -> tuple:
    status, body, headers = invoices_page(numbers, page, page_size, page_count)
    body["pagination"]["itemCount"] = item_count
    return status, body, headers


def test_pages_shorter_than_asked_for_are_followed_to_page_count(stub, fake_time) -> None:
    # We ask for 1000 a page; Xero serves its default 100 and says so (issue 7, A.1).
    stub.script(
        "/api.xro/2.0/Invoices",
        paged(range(0, 100), 1, 100, 3, 250),
        paged(range(100, 200), 2, 100, 3, 250),
        paged(range(200, 250), 3, 100, 3, 250),
    )
    pages = list(make_client(stub, fake_time).iter_invoice_pages(page_size=1000))
    assert [len(p.invoices) for p in pages] == [100, 100, 50]
    assert len(stub.seen) == 3


def test_a_pass_that_reads_fewer_rows_than_item_count_is_incomplete(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Invoices",
        paged(range(0, 100), 1, 100, 2, 250),
        paged(range(100, 150), 2, 100, 2, 250),
    )
    with pytest.raises(XeroIncompleteRead):
        list(make_client(stub, fake_time).iter_invoice_pages(page_size=1000))


def test_a_server_that_ignores_the_page_number_is_not_paged_forever(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Invoices", invoices_page(range(0, 3), 1, 3, None))
    with pytest.raises(XeroUnexpectedAnswer):
        list(make_client(stub, fake_time).iter_invoice_pages(page_size=3))
    assert len(stub.seen) == 2


def test_a_200_whose_json_is_cut_short_is_retried_like_a_5xx(stub, fake_time) -> None:
    cut = b'{"Invoices": [{"InvoiceID": "x", "Type": "ACC'
    stub.script("/api.xro/2.0/Invoices", (200, cut, {}), invoices_page(range(0, 2), 1, 100, 1))
    pages = list(make_client(stub, fake_time).iter_invoice_pages())
    assert [len(p.invoices) for p in pages] == [2]
    assert len(stub.seen) == 2 and fake_time.sleeps  # backed off, then read it whole


def test_json_cut_short_every_time_ends_as_unreadable_not_a_parse_crash(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Invoices", (200, b'{"Invoices": [{"InvoiceID": "x", "Ty', {}))
    with pytest.raises(XeroUnreadableAnswer) as caught:
        list(make_client(stub, fake_time, max_attempts=3).iter_invoice_pages())
    assert len(stub.seen) == 3
    assert "InvoiceID" not in str(caught.value)  # the body never reaches a log line


HTML_PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (400, HTML_PAGE, "text/html"),
        (400, b"Bad Request", "text/plain"),
        (400, b"", "text/plain"),
        (502, HTML_PAGE, "text/html"),
        (503, b"", "text/html"),
    ],
    ids=["400-html", "400-text", "400-empty", "502-html", "503-empty"],
)
def test_an_edge_answer_to_a_write_is_retried_and_never_read_as_a_refusal(
    stub, fake_time, status, body, content_type
) -> None:
    stub.script("/api.xro/2.0/Invoices/inv-1", (status, body, {"Content-Type": content_type}))
    with pytest.raises(XeroUnreadableAnswer) as caught:
        make_client(stub, fake_time, max_attempts=3).set_expected_payment_date(
            "inv-1", date(2025, 8, 15))
    assert len(stub.seen) == 3  # retried like any transient fault
    assert "<" not in str(caught.value) and "Bad Gateway" not in str(caught.value)
    keys = {s.headers["Idempotency-Key"] for s in stub.seen}
    assert len(keys) == 1  # the same write, not three


def test_invoice_paging_uses_page_count_to_skip_the_empty_last_page(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Invoices",
        invoices_page(range(0, 2), 1, 2, 2),
        invoices_page(range(2, 4), 2, 2, 2),
        invoices_page(range(0, 0), 3, 2, 2),
    )
    pages = list(make_client(stub, fake_time).iter_invoice_pages(page_size=2))
    assert len(pages) == 2 and len(stub.seen) == 2


def test_statuses_go_in_their_own_parameter_not_in_where(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Invoices", invoices_page(range(0, 0), 1, 100, None))
    client = make_client(stub, fake_time)
    list(client.iter_invoice_pages(statuses=["AUTHORISED", "PAID"], page_size=100))
    assert stub.seen[0].query["Statuses"] == ["AUTHORISED,PAID"]


def test_if_modified_since_is_sent_on_every_page(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Contacts",
        (200, {"Contacts": [{"ContactID": "a", "Name": "A"}]}, {}),
        (200, {"Contacts": []}, {}),
    )
    since = datetime(2026, 7, 14, 1, 2, 3, 456, tzinfo=UTC)
    client = make_client(stub, fake_time)
    pages = list(client.iter_contact_pages(modified_since=since, page_size=1))
    assert [len(p.contacts) for p in pages] == [1]  # the empty page ends it, unyielded
    assert len(stub.seen) == 2
    for seen in stub.seen:
        assert seen.headers["If-Modified-Since"] == "2026-07-14T01:02:03+00:00"
        assert seen.query["includeArchived"] == ["true"]
        assert "summaryOnly" not in seen.query


def test_not_modified_ends_paging_quietly(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Contacts", (304, b"", {}))
    since = datetime(2026, 7, 14, tzinfo=UTC)
    assert list(make_client(stub, fake_time).iter_contact_pages(modified_since=since)) == []


def test_server_errors_are_retried_with_backoff_then_succeed(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Organisation",
        (503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"}),
        (500, {"Title": "oops"}, {}),
        (200, ORG, {}),
    )
    client = make_client(stub, fake_time)
    assert client.organisation().name == "Kauri Plumbing"
    assert client.api_calls == 3 and client.throttled == 0
    assert len(fake_time.sleeps) == 2 and all(0 <= s <= 30 for s in fake_time.sleeps)


def test_server_errors_give_up_after_max_attempts(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Organisation", (502, {"Title": "Bad Gateway"}, {}))
    client = make_client(stub, fake_time, max_attempts=3)
    with pytest.raises(XeroServerError):
        client.organisation()
    assert client.api_calls == 3


def test_a_dropped_connection_is_retried(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Organisation", DROP, (200, ORG, {}))
    client = make_client(stub, fake_time)
    assert client.organisation().organisation_id == "org-1"
    assert client.api_calls == 2


def test_a_connection_that_keeps_dropping_raises_a_transport_error(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Organisation", DROP)
    with pytest.raises(XeroTransportError):
        make_client(stub, fake_time, max_attempts=2).organisation()


def test_429_waits_for_retry_after_and_counts_as_throttled(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Organisation",
        (429, b"", {"Retry-After": "7", "X-Rate-Limit-Problem": "minute"}),
        (200, ORG, {}),
    )
    client = make_client(stub, fake_time)
    client.organisation()
    assert client.throttled == 1 and client.api_calls == 2
    assert fake_time.sleeps[0] == 7


def test_429_with_a_long_retry_after_is_handed_to_the_caller(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Organisation",
        (429, b"", {"Retry-After": "43000", "X-Rate-Limit-Problem": "day"}),
    )
    client = make_client(stub, fake_time)
    with pytest.raises(XeroRateLimited) as caught:
        client.organisation()
    assert caught.value.retry_after == 43000 and caught.value.problem == "day"
    assert client.api_calls == 1 and fake_time.sleeps == []


@pytest.mark.parametrize(
    ("status", "body", "error", "reason"),
    [
        (
            401,
            {"Title": "Unauthorized", "Detail": "TokenExpired: token expired"},
            XeroAuthError,
            "token_expired",
        ),
        (
            403,
            {
                "Type": None,
                "Title": "Forbidden",
                "Status": 403,
                "Detail": "AuthenticationUnsuccessful",
            },
            XeroAuthError,
            "tenant_disconnected",
        ),
        (404, {"Title": "Not Found"}, XeroNotFound, None),
    ],
)
def test_client_errors_are_typed_and_never_retried(stub, fake_time, status, body, error, reason):
    stub.script("/api.xro/2.0/Invoices/x", (status, body, {}))
    client = make_client(stub, fake_time)
    with pytest.raises(error) as caught:
        client.invoice("x")
    assert client.api_calls == 1
    if reason:
        assert caught.value.reason == reason


def test_setting_an_expected_payment_date_posts_yyyy_mm_dd_with_an_idempotency_key(
    stub, fake_time
) -> None:
    updated = invoice_json(1, ExpectedPaymentDate="/Date(1755216000000+0000)/")
    stub.script("/api.xro/2.0/Invoices/inv-1", (200, {"Invoices": [updated]}, {}))
    result = make_client(stub, fake_time).set_expected_payment_date("inv-1", date(2025, 8, 15))
    assert result.expected_payment_date == date(2025, 8, 15)
    sent = stub.seen[0]
    assert sent.method == "POST"
    assert json.loads(sent.body) == {
        "Invoices": [{"InvoiceID": "inv-1", "ExpectedPaymentDate": "2025-08-15"}]
    }
    assert sent.headers["Idempotency-Key"]


def test_clearing_an_expected_payment_date_sends_an_empty_date_string(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Invoices/inv-1", (200, {"Invoices": [invoice_json(1)]}, {}))
    result = make_client(stub, fake_time).set_expected_payment_date("inv-1", None)
    assert result.expected_payment_date is None
    assert json.loads(stub.seen[0].body)["Invoices"][0] == {
        "InvoiceID": "inv-1",
        "ExpectedPaymentDateString": "",
    }


def test_a_retried_write_reuses_its_idempotency_key(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Invoices/inv-1",
        (503, {"Title": "busy"}, {}),
        (200, {"Invoices": [invoice_json(1)]}, {}),
    )
    make_client(stub, fake_time).set_expected_payment_date("inv-1", date(2025, 8, 15))
    keys = {seen.headers["Idempotency-Key"] for seen in stub.seen}
    assert len(stub.seen) == 2 and len(keys) == 1


def test_a_refused_expected_payment_date_surfaces_xeros_message(stub, fake_time) -> None:
    refusal = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [
            {
                "InvoiceID": "inv-1",
                "HasErrors": True,
                "ValidationErrors": [
                    {
                        "Message": "This document cannot be edited as it has a payment or "
                        "credit note allocated to it."
                    }
                ],
            }
        ],
    }
    stub.script("/api.xro/2.0/Invoices/inv-1", (400, refusal, {}))
    client = make_client(stub, fake_time)
    with pytest.raises(XeroValidationError) as caught:
        client.set_expected_payment_date("inv-1", date(2025, 8, 15))
    assert caught.value.messages == [
        "This document cannot be edited as it has a payment or credit note allocated to it."
    ]
    assert client.api_calls == 1


def test_online_invoice_url_is_read_from_the_online_invoices_envelope(stub, fake_time) -> None:
    link = "https://in.xero.com/abc"
    stub.script(
        "/api.xro/2.0/Invoices/inv-1/OnlineInvoice",
        (200, {"OnlineInvoices": [{"OnlineInvoiceUrl": link}]}, {}),
    )
    assert make_client(stub, fake_time).online_invoice_url("inv-1") == link


def test_users_pass_the_where_filter_and_read_the_global_user_id(stub, fake_time) -> None:
    users = {
        "Users": [
            {
                "UserID": "u-1",
                "EmailAddress": "ana@example.com",
                "OrganisationRole": "STANDARD",
                "GlobalUserID": "g-1",
                "IsSubscriber": True,
            }
        ]
    }
    stub.script("/api.xro/2.0/Users", (200, users, {}))
    found = make_client(stub, fake_time).users(where="IsSubscriber==true")
    assert found[0].global_user_id == "g-1" and found[0].organisation_role == "STANDARD"
    assert stub.seen[0].query["where"] == ["IsSubscriber==true"]


def test_a_non_json_answer_is_a_server_error_not_a_parse_crash(stub, fake_time) -> None:
    stub.script(
        "/api.xro/2.0/Organisation",
        (200, b"<Response><Status>OK</Status></Response>", {"Content-Type": "text/xml"}),
    )
    with pytest.raises(XeroServerError):
        make_client(stub, fake_time, max_attempts=1).organisation()


def test_low_minute_limit_headers_slow_the_next_calls(stub, fake_time) -> None:
    stub.script("/api.xro/2.0/Organisation", (200, ORG, {"X-MinLimit-Remaining": "0"}))
    client = make_client(stub, fake_time)
    client.organisation()  # Xero says this tenant's minute is used up (another process)
    client.organisation()
    assert fake_time.sleeps and sum(fake_time.sleeps) >= 59


# End to end against the sandbox -------------------------------------------------------------


@pytest.fixture
def connected(sandbox):
    """(sandbox, XeroClient for its first organisation) after the real OAuth flow."""
    from tests.fixtures.sandbox import obtain_tokens

    tokens = obtain_tokens(sandbox)
    tenant = sandbox.ledger.organisations[0].organisation_id
    return sandbox, XeroClient(sandbox.url, lambda: tokens["access_token"], tenant)


def _all_invoices(client: XeroClient, **kwargs: Any) -> list:
    return [inv for page in client.iter_invoice_pages(**kwargs) for inv in page.invoices]


def _editable_invoice(sandbox, client: XeroClient):
    ledger = sandbox.ledger
    tenant = client.tenant_id
    for invoice in _all_invoices(client, statuses=["AUTHORISED"]):
        try:
            ledger.check_editable(tenant, ledger.invoice(tenant, invoice.invoice_id))
        except Exception:
            continue
        return invoice
    pytest.fail("the sandbox book has no invoice Xero would let us edit")


def test_sandbox_paging_returns_every_sales_invoice_once(connected) -> None:
    _, client = connected
    paged = _all_invoices(client, page_size=3)
    whole = _all_invoices(client)
    assert len(paged) == len(whole) > 3
    assert len({inv.invoice_id for inv in paged}) == len(paged)
    assert all(inv.type == "ACCREC" for inv in paged)
    assert client.api_calls == -(-len(paged) // 3) + 1


def test_sandbox_contact_pages_carry_people_and_addresses(connected) -> None:
    sandbox, client = connected
    contacts = [c for page in client.iter_contact_pages(page_size=4) for c in page.contacts]
    assert len(contacts) == len(sandbox.ledger.contacts(client.tenant_id))
    assert any(c.contact_persons for c in contacts) and any(c.addresses for c in contacts)


def test_sandbox_if_modified_since_returns_only_what_changed(connected) -> None:
    sandbox, client = connected
    invoice = _editable_invoice(sandbox, client)
    since = sandbox.ledger.now()
    sandbox.ledger.add_payment(client.tenant_id, invoice.invoice_id, "1.00")
    changed = _all_invoices(client, modified_since=since)
    assert [inv.invoice_id for inv in changed] == [invoice.invoice_id]
    assert changed[0].has_payments and changed[0].amount_paid == Decimal("1.00")


def test_sandbox_set_and_clear_expected_payment_date(connected) -> None:
    sandbox, client = connected
    invoice = _editable_invoice(sandbox, client)
    updated = client.set_expected_payment_date(invoice.invoice_id, date(2030, 1, 31))
    assert updated.expected_payment_date == date(2030, 1, 31)
    assert client.invoice(invoice.invoice_id).expected_payment_date == date(2030, 1, 31)
    cleared = client.set_expected_payment_date(invoice.invoice_id, None)
    assert cleared.expected_payment_date is None
    assert client.invoice(invoice.invoice_id).expected_payment_date is None


def test_sandbox_refuses_expected_date_on_a_part_paid_invoice_in_xeros_words(connected) -> None:
    sandbox, client = connected
    invoice = _editable_invoice(sandbox, client)
    sandbox.ledger.add_payment(client.tenant_id, invoice.invoice_id, "1.00")
    with pytest.raises(XeroValidationError) as caught:
        client.set_expected_payment_date(invoice.invoice_id, date(2030, 1, 31))
    assert caught.value.messages == [
        "This document cannot be edited as it has a payment or credit note allocated to it."
    ]


def test_sandbox_faults_are_retried_until_the_call_succeeds(connected) -> None:
    sandbox, client = connected
    fast = XeroClient(
        sandbox.url, client.token_provider, client.tenant_id, sleep=lambda s: None, max_attempts=4
    )
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "503", "count": 2})
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "drop"})
    assert fast.organisation().name
    assert fast.api_calls == 4


def test_sandbox_organisation_and_users(connected) -> None:
    _, client = connected
    org = client.organisation()
    assert org.organisation_id == client.tenant_id and org.short_code
    users = client.users()
    assert any(u.email_address == "finance@sandbox.example" for u in users)


def test_sandbox_online_invoice_and_unknown_invoice(connected) -> None:
    _, client = connected
    invoice = _all_invoices(client, statuses=["AUTHORISED"])[0]
    assert (client.online_invoice_url(invoice.invoice_id) or "").startswith("http")
    with pytest.raises(XeroNotFound):
        client.invoice("00000000-0000-4000-8000-000000000000")
