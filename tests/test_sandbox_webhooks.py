"""Webhooks as Xero sends them: intent-to-receive first, then signed, retried deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.fixtures.sandbox import api, obtain_tokens, tenant_ids, web, xero_format_checker
from tests.needs import XERO_OPENAPI_DIR, folder_file

KEY = "webhook-signing-key"


class Receiver:
    """A tiny webhook endpoint: checks x-xero-signature like the bot must, records payloads."""

    def __init__(self, *, verify: bool = True, fail_first: int = 0) -> None:
        self.verify, self.fail_first = verify, fail_first
        self.payloads: list[dict] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answer(body, self.headers.get("x-xero-signature", ""))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/xero/webhooks"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def answer(self, body: bytes, signature: str) -> int:
        expected = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
        if self.verify and not hmac.compare_digest(expected, signature):
            status = 401
        else:
            payload = json.loads(body)
            if payload["events"] and self.fail_first > 0:
                self.fail_first -= 1
                status = 500
            else:
                status = 200
                if payload["events"]:
                    self.payloads.append(payload)
        self.answers.append(status)
        return status

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**options: object) -> Receiver:
        made.append(Receiver(**options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for each in made:
        each.close()


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the webhook worker"
        time.sleep(0.02)


def webhook_status(sandbox) -> dict:
    return web.get(f"{sandbox.url}/_sandbox/stats").json()["webhook"]


def webhook_sandbox(make_sandbox, receiver: Receiver):
    return make_sandbox(webhook_url=receiver.url, webhook_key=KEY,
                        webhook_retry_delays=(0.05, 0.05))


def add_invoice(sandbox, tenant: str) -> dict:
    return web.post(f"{sandbox.url}/_sandbox/ledger/{tenant}/invoices", json={"total": 50}).json()


def test_handshake_sends_good_and_bad_signatures_and_enables_delivery(make_sandbox, receiver):
    endpoint = receiver()
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    wait_for(lambda: webhook_status(sandbox)["status"] != "pending")
    status = webhook_status(sandbox)
    assert status["status"] == "ok"
    signed = {round_["signed"] for round_ in status["handshake"]}
    assert signed == {True, False}
    assert sorted(set(endpoint.answers)) == [200, 401]


def test_ledger_changes_arrive_signed_in_xero_shape(make_sandbox, receiver):
    endpoint = receiver()
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    tenant = tenant_ids(sandbox)[0]
    wait_for(lambda: webhook_status(sandbox)["status"] == "ok")
    invoice = add_invoice(sandbox, tenant)
    wait_for(lambda: endpoint.payloads)
    payload = endpoint.payloads[0]
    assert set(payload) == {"events", "firstEventSequence", "lastEventSequence", "entropy"}
    event = payload["events"][0]
    assert event == {
        "resourceUrl": f"{sandbox.url}/api.xro/2.0/Invoices/{invoice['InvoiceID']}",
        "resourceId": invoice["InvoiceID"], "eventDateUtc": event["eventDateUtc"],
        "eventType": "CREATE", "eventCategory": "INVOICE", "tenantId": tenant,
        "tenantType": "ORGANISATION"}
    assert payload["firstEventSequence"] == 1 == payload["lastEventSequence"]
    # The resourceUrl is fetchable with the bot's own token, as on Xero.
    tokens = obtain_tokens(sandbox)
    fetched = web.get(event["resourceUrl"], headers={
        "Authorization": f"Bearer {tokens['access_token']}", "xero-tenant-id": tenant,
        "Accept": "application/json"})
    assert fetched.json()["Invoices"][0]["InvoiceID"] == invoice["InvoiceID"]
    assert webhook_status(sandbox)["delivered"] == 1


def test_changes_made_together_share_one_payload_with_increasing_sequences(make_sandbox, receiver):
    endpoint = receiver()
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    tenant = tenant_ids(sandbox)[0]
    wait_for(lambda: webhook_status(sandbox)["status"] == "ok")
    invoice = add_invoice(sandbox, tenant)
    contact = sandbox.ledger.contacts(tenant)[0].contact_id
    web.post(f"{sandbox.url}/_sandbox/ledger/{tenant}/invoices/{invoice['InvoiceID']}/payments",
               json={"amount": 10})
    web.post(f"{sandbox.url}/_sandbox/ledger/{tenant}/contacts/{contact}/archive")
    wait_for(lambda: sum(len(p["events"]) for p in endpoint.payloads) == 3)
    events = [e for p in endpoint.payloads for e in p["events"]]
    assert [(e["eventCategory"], e["eventType"]) for e in events] == [
        ("INVOICE", "CREATE"), ("INVOICE", "UPDATE"), ("CONTACT", "UPDATE")]
    assert endpoint.payloads[-1]["lastEventSequence"] == 3


def test_a_receiver_that_ignores_signatures_fails_the_handshake_and_gets_nothing(
        make_sandbox, receiver):
    endpoint = receiver(verify=False)
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    wait_for(lambda: webhook_status(sandbox)["status"] != "pending")
    assert webhook_status(sandbox)["status"] == "failed"
    add_invoice(sandbox, tenant_ids(sandbox)[0])
    wait_for(lambda: webhook_status(sandbox)["dropped"] == 1)
    assert endpoint.payloads == []


def test_failed_deliveries_are_retried(make_sandbox, receiver):
    endpoint = receiver(fail_first=2)
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    wait_for(lambda: webhook_status(sandbox)["status"] == "ok")
    add_invoice(sandbox, tenant_ids(sandbox)[0])
    wait_for(lambda: endpoint.payloads)
    status = webhook_status(sandbox)
    assert (status["attempts"], status["delivered"], status["failed"]) == (3, 1, 0)


def test_deliveries_give_up_after_the_last_retry(make_sandbox, receiver):
    endpoint = receiver(fail_first=10)
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    wait_for(lambda: webhook_status(sandbox)["status"] == "ok")
    add_invoice(sandbox, tenant_ids(sandbox)[0])
    wait_for(lambda: webhook_status(sandbox)["failed"] == 1)
    assert webhook_status(sandbox)["attempts"] == 3 and endpoint.payloads == []


def test_handshake_can_be_rerun_on_demand(make_sandbox, receiver):
    endpoint = receiver()
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    wait_for(lambda: webhook_status(sandbox)["status"] == "ok")
    before = len(endpoint.answers)
    assert web.post(f"{sandbox.url}/_sandbox/webhooks/handshake").status_code == 200
    wait_for(lambda: len(endpoint.answers) >= before + 4)
    wait_for(lambda: webhook_status(sandbox)["status"] == "ok")


def test_without_a_webhook_the_handshake_endpoint_says_so(sandbox):
    assert web.post(f"{sandbox.url}/_sandbox/webhooks/handshake").status_code == 400


def test_payloads_validate_against_xero_webhooks_spec(make_sandbox, receiver):
    spec = yaml.safe_load(folder_file(XERO_OPENAPI_DIR, "xero-webhooks.yaml").read_text())
    schema = spec["components"]["schemas"]["WebhookEvent"]
    endpoint = receiver()
    sandbox = webhook_sandbox(make_sandbox, endpoint)
    tenant = tenant_ids(sandbox)[0]
    wait_for(lambda: webhook_status(sandbox)["status"] == "ok")
    add_invoice(sandbox, tenant)
    web.post(f"{sandbox.url}/_sandbox/ledger/{tenant}/contacts/"
               f"{sandbox.ledger.contacts(tenant)[0].contact_id}", json={"Name": "Renamed Ltd"})
    wait_for(lambda: sum(len(p["events"]) for p in endpoint.payloads) == 2)
    checker = xero_format_checker(Draft202012Validator.FORMAT_CHECKER)
    validator = Draft202012Validator(schema, format_checker=checker)
    for payload in endpoint.payloads:
        errors = [e.message for e in validator.iter_errors(payload)]
        assert errors == []
    assert api(sandbox, obtain_tokens(sandbox), "Contacts", tenant_id=tenant).status_code == 200
