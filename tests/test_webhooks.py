"""/xero/webhooks through real HTTP: signatures, the handshake, targeted fetches, idempotency."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.sandbox.webhooks import sign
from bot.web import WEBHOOKS_PATH
from bot.xero.webhooks import expected_signature, signature_valid
from storage.db import session_scope
from storage.models import ConnectionStatus, Contact, Invoice, XeroConnection, XeroWebhookEvent
from tests.webhook_world import WEBHOOK_KEY, WebhookWorld, wait_for, webhook_world


@pytest.fixture
def world(migrated_db: str, tmp_path: Path) -> Iterator[WebhookWorld]:
    with webhook_world(migrated_db, tmp_path) as running:
        yield running


def post_delivery(world: WebhookWorld, payload: dict, *, key: str = WEBHOOK_KEY,
                  signature: str | None = None) -> httpx.Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json",
               "x-xero-signature": signature if signature is not None else sign(body, key)}
    return httpx.post(world.bot_url + WEBHOOKS_PATH, content=body, headers=headers, timeout=10)


def handshake_payload() -> dict:
    # Xero's intent-to-receive shape (developer.xero.com/documentation/webhooks/...-server).
    return {"events": [], "firstEventSequence": 0, "lastEventSequence": 0,
            "entropy": "S0M3R4ND0MT3XT"}


def event(tenant_id: str, resource_id: str, category: str = "INVOICE",
          at: str = "2026-06-21T01:15:39.902") -> dict:
    resource = {"INVOICE": "Invoices", "CONTACT": "Contacts"}.get(category, "CreditNotes")
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/{resource}/{resource_id}",
            "resourceId": resource_id, "eventDateUtc": at, "eventType": "UPDATE",
            "eventCategory": category, "tenantId": tenant_id, "tenantType": "ORGANISATION"}


def stored_events(world: WebhookWorld) -> int:
    with session_scope(world.ctx.session_factory) as session:
        return session.scalar(select(func.count()).select_from(XeroWebhookEvent)) or 0


def open_invoice(world: WebhookWorld) -> Invoice:
    with session_scope(world.ctx.session_factory) as session:
        invoice = session.scalars(
            select(Invoice).where(Invoice.connection_id == world.connection_id,
                                  Invoice.status == "AUTHORISED", Invoice.amount_due > 0,
                                  Invoice.amount_paid == 0)
            .order_by(Invoice.due_date)
        ).first()
        assert invoice is not None
        session.expunge(invoice)
        return invoice


def stored_invoice(world: WebhookWorld, xero_id: str) -> Invoice | None:
    with session_scope(world.ctx.session_factory) as session:
        invoice = session.scalars(select(Invoice).where(
            Invoice.connection_id == world.connection_id, Invoice.xero_invoice_id == xero_id
        )).first()
        if invoice is not None:
            session.expunge(invoice)
        return invoice


def calls(world: WebhookWorld) -> dict[str, int]:
    return world.control("GET", "/stats")["calls"].get(world.tenant_id(), {})


# Signatures and the handshake ---------------------------------------------------------------


def test_signature_check_matches_xeros_recipe_and_refuses_near_misses() -> None:
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"X"}'
    good = expected_signature(body, "key")
    assert good == sign(body, "key")  # the sandbox signs as Xero documents
    assert signature_valid(body, good, "key")
    assert not signature_valid(body + b" ", good, "key")
    assert not signature_valid(body, expected_signature(body, "other"), "key")
    assert not signature_valid(body, good.rstrip("="), "key")
    assert not signature_valid(body, "not base64!", "key")
    assert not signature_valid(body, "", "key")
    assert not signature_valid(body, good, "")


def test_sandbox_intent_to_receive_handshake_is_passed(world: WebhookWorld) -> None:
    status = world.webhook_status()
    assert status["status"] == "ok"
    assert all(round_["got"] == round_["expected"] for round_ in status["handshake"])
    assert {round_["expected"] for round_ in status["handshake"]} == {200, 401}


def test_handshake_answer_is_200_with_an_empty_body_when_signed(world: WebhookWorld) -> None:
    answer = post_delivery(world, handshake_payload())
    assert answer.status_code == 200
    assert answer.content == b""
    assert "set-cookie" not in answer.headers


def test_forged_signature_gets_401_and_records_nothing(world: WebhookWorld) -> None:
    tenant = world.tenant_id()
    payload = {**handshake_payload(), "events": [event(tenant, str(uuid.uuid4()))]}
    forged = post_delivery(world, payload, key="not-the-key")
    missing = httpx.post(world.bot_url + WEBHOOKS_PATH, content=b'{"events":[]}', timeout=10)
    handshake = post_delivery(world, handshake_payload(), key="not-the-key")

    assert (forged.status_code, missing.status_code, handshake.status_code) == (401, 401, 401)
    assert forged.content == b""
    assert stored_events(world) == 0


def test_signed_but_malformed_body_is_acknowledged_not_retried(world: WebhookWorld) -> None:
    body = b'{"events": "nope"}'
    answer = httpx.post(world.bot_url + WEBHOOKS_PATH, content=body,
                        headers={"x-xero-signature": sign(body, WEBHOOK_KEY)}, timeout=10)
    assert answer.status_code == 200
    assert stored_events(world) == 0


# Targeted fetch -----------------------------------------------------------------------------


def test_invoice_paid_in_xero_is_fetched_by_id_and_stored(world: WebhookWorld) -> None:
    invoice = open_invoice(world)
    world.control("POST", "/reset-stats")

    world.control("POST", f"/ledger/{world.tenant_id()}/invoices/{invoice.xero_invoice_id}"
                  "/payments", amount=str(invoice.amount_due))

    paid = wait_for(lambda: (stored := stored_invoice(world, invoice.xero_invoice_id))
                    and stored.status == "PAID" and stored, what="the paid invoice")
    assert paid.amount_due == Decimal("0")
    assert paid.amount_paid == invoice.amount_due
    # One targeted call, no list of every invoice and no contacts.
    assert calls(world) == {"GET /Invoices": 1}


def test_an_event_whose_resource_id_is_not_a_guid_does_not_strand_the_others(
    world: WebhookWorld,
) -> None:
    invoice = open_invoice(world)
    delivery = {"events": [event(world.tenant_id(), "not-a-guid"),
                           event(world.tenant_id(), invoice.xero_invoice_id)],
                "firstEventSequence": 1, "lastEventSequence": 2, "entropy": "QWERTYUIOP"}
    assert post_delivery(world, delivery).status_code == 200

    def processed() -> list[XeroWebhookEvent]:
        with session_scope(world.ctx.session_factory) as session:
            rows = session.scalars(select(XeroWebhookEvent)).all()
            session.expunge_all()
            return list(rows) if rows and all(r.processed_at for r in rows) else []

    (done,) = wait_for(processed, what="the event fetched")
    # Only the GUID was kept, and its fetch worked: a stray id in Xero's IDs filter would
    # have made Xero refuse the whole call (400), leaving the invoice unfetched.
    assert done.resource_id == invoice.xero_invoice_id.lower() and done.error is None


def test_invoice_created_in_xero_arrives_without_a_sync(world: WebhookWorld) -> None:
    created = world.control("POST", f"/ledger/{world.tenant_id()}/invoices", total=321.5)

    stored = wait_for(lambda: stored_invoice(world, created["InvoiceID"]), what="the new invoice")
    assert stored.total == Decimal("321.50")
    assert stored.contact_id is not None


def test_contact_changed_in_xero_is_fetched_by_id(world: WebhookWorld) -> None:
    with session_scope(world.ctx.session_factory) as session:
        contact = session.scalars(select(Contact).where(
            Contact.connection_id == world.connection_id).order_by(Contact.id)).first()
        assert contact is not None
        xero_id = contact.xero_contact_id
    world.control("POST", "/reset-stats")

    world.control("POST", f"/ledger/{world.tenant_id()}/contacts/{xero_id}", Name="Renamed Ltd")

    def renamed() -> bool:
        with session_scope(world.ctx.session_factory) as session:
            return session.scalars(select(Contact.name).where(
                Contact.connection_id == world.connection_id,
                Contact.xero_contact_id == xero_id)).one() == "Renamed Ltd"

    wait_for(renamed, what="the renamed contact")
    assert calls(world) == {"GET /Contacts": 1}


# Idempotency --------------------------------------------------------------------------------


def test_redelivered_events_are_recorded_and_fetched_once(world: WebhookWorld) -> None:
    invoice = open_invoice(world)
    payload = {**handshake_payload(), "firstEventSequence": 7, "lastEventSequence": 7,
               "events": [event(world.tenant_id(), invoice.xero_invoice_id)]}
    world.control("POST", "/reset-stats")

    first = post_delivery(world, payload)
    wait_for(lambda: world.processed_events() == 1, what="the first delivery's processing")
    # Xero's retry of the same events; recording is synchronous, so the answer means done.
    again = post_delivery(world, {**payload, "entropy": "ANOTHERENTROPYVALUE"})

    assert (first.status_code, again.status_code) == (200, 200)
    assert stored_events(world) == 1
    assert world.processed_events() == 1
    assert calls(world) == {"GET /Invoices": 1}


def test_events_for_an_organisation_not_connected_are_acknowledged(world: WebhookWorld) -> None:
    stranger = str(uuid.uuid4())
    answer = post_delivery(world, {**handshake_payload(),
                                   "events": [event(stranger, str(uuid.uuid4()))]})
    assert answer.status_code == 200

    def finished() -> str | None:
        with session_scope(world.ctx.session_factory) as session:
            row = session.scalars(select(XeroWebhookEvent)).one()
            return row.error if row.processed_at is not None else None

    assert "no connected organisation" in wait_for(finished, what="the orphan event")


def test_credit_note_events_are_recorded_and_left_to_the_next_sync(world: WebhookWorld) -> None:
    world.control("POST", "/reset-stats")
    answer = post_delivery(world, {**handshake_payload(), "events": [
        event(world.tenant_id(), str(uuid.uuid4()), category="CREDITNOTE")]})
    assert answer.status_code == 200
    wait_for(lambda: world.processed_events() == 1, what="the credit note event")
    assert calls(world) == {}


def test_organisation_disconnected_in_xero_is_marked_and_the_event_says_why(
        world: WebhookWorld) -> None:
    tenant = world.tenant_id()
    world.control("POST", f"/tenants/{tenant}/revoke")

    world.control("POST", f"/ledger/{tenant}/invoices", total=10)

    def finished() -> str | None:
        with session_scope(world.ctx.session_factory) as session:
            row = session.scalars(select(XeroWebhookEvent)).first()
            return row.error if row is not None and row.processed_at is not None else None

    said = wait_for(finished, what="the failed fetch")
    assert "needs reconnecting" in said and "disconnected from chaser-bot in Xero" in said
    with session_scope(world.ctx.session_factory) as session:
        connection = session.get(XeroConnection, world.connection_id)
        assert connection is not None and connection.status == ConnectionStatus.NEEDS_RECONNECT


def test_two_instances_given_the_same_delivery_record_it_once(migrated_db: str) -> None:
    """Xero retries, a load balancer may hand each copy to another instance: one row wins."""
    import threading

    from bot.chasing.webhooks import Receipt, WebhookInbox
    from storage.db import make_engine, make_session_factory

    body = json.dumps({**handshake_payload(), "events": [
        event(str(uuid.uuid4()), str(uuid.uuid4()), at=f"2026-06-21T01:15:39.{n:03d}")
        for n in range(20)]}).encode()
    engines = [make_engine(migrated_db) for _ in range(2)]
    recorded: list[list[int]] = [[], []]
    receipts: list[Receipt] = []
    inboxes = [WebhookInbox(key=WEBHOOK_KEY, session_factory=make_session_factory(engine),
                            clock=lambda: datetime.now(UTC), on_recorded=recorded[n].extend)
               for n, engine in enumerate(engines)]
    start = threading.Barrier(2)

    def deliver(inbox: WebhookInbox) -> None:
        start.wait()
        receipts.append(inbox.receive(body, sign(body, WEBHOOK_KEY)))

    threads = [threading.Thread(target=deliver, args=(inbox,)) for inbox in inboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for engine in engines:
        engine.dispose()

    assert receipts == [Receipt.ACCEPTED, Receipt.ACCEPTED]
    assert len(recorded[0]) + len(recorded[1]) == 20
    assert not set(recorded[0]) & set(recorded[1])
