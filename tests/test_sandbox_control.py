"""`/_sandbox/` control: faults, token tricks, connection revokes, ledger changes and stats."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.fixtures.sandbox import api, obtain_tokens, refresh, tenant_ids, web


def control(sandbox, method: str, path: str, body: dict | None = None) -> httpx.Response:
    return web.request(method, f"{sandbox.url}/_sandbox/{path}", json=body)


@pytest.fixture
def session(sandbox):
    """(sandbox, tokens, first tenant id) for a connected finance user."""
    return sandbox, obtain_tokens(sandbox), tenant_ids(sandbox)[0]


# Faults ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 503])
def test_status_fault_fails_the_next_n_calls_then_clears(session, status):
    sandbox, tokens, tenant = session
    control(sandbox, "POST", "faults", {"kind": str(status), "count": 2})
    statuses = [api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code for _ in range(3)]
    assert statuses == [status, status, 200]


def test_drop_fault_closes_the_socket_so_the_client_sees_a_transport_error(session):
    sandbox, tokens, tenant = session
    control(sandbox, "POST", "faults", {"kind": "drop"})
    with pytest.raises(httpx.TransportError):
        api(sandbox, tokens, "Invoices", tenant_id=tenant)
    assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 200


def test_delay_fault_slows_the_call_but_answers_it(session):
    sandbox, tokens, tenant = session
    control(sandbox, "POST", "faults", {"kind": "delay", "delay_ms": 300})
    started = time.perf_counter()
    assert api(sandbox, tokens, "Contacts", tenant_id=tenant).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_faults_can_target_one_tenant(session):
    sandbox, tokens, tenant = session
    other = tenant_ids(sandbox)[1]
    control(sandbox, "POST", "faults", {"kind": "503", "tenant_id": other})
    assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 200
    assert api(sandbox, tokens, "Invoices", tenant_id=other).status_code == 503


def test_pending_faults_are_listed_and_can_be_cleared(session):
    sandbox, tokens, tenant = session
    control(sandbox, "POST", "faults", {"kind": "500", "count": 3})
    assert control(sandbox, "GET", "faults").json()["pending"][0]["remaining"] == 3
    control(sandbox, "DELETE", "faults")
    assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 200


def test_a_bad_fault_is_refused_with_400(sandbox):
    response = control(sandbox, "POST", "faults", {"kind": "explode"})
    assert response.status_code == 400 and response.json()["error"] == "bad_request"


def test_token_endpoint_fault_answers_503(session):
    sandbox, tokens, _ = session
    control(sandbox, "POST", "faults", {"kind": "503", "target": "token"})
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 503
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_a_refresh_whose_answer_is_dropped_can_be_retried_with_the_same_token(session):
    sandbox, tokens, tenant = session
    control(sandbox, "POST", "faults", {"kind": "drop", "target": "token"})
    with pytest.raises(httpx.TransportError):
        refresh(sandbox, tokens["refresh_token"])
    retried = refresh(sandbox, tokens["refresh_token"])
    assert retried.status_code == 200
    assert api(sandbox, retried.json(), "Invoices", tenant_id=tenant).status_code == 200
    assert control(sandbox, "GET", "stats").json()["refreshes"] == 2


# Tokens and connections ------------------------------------------------------------------------

def test_expiring_access_tokens_makes_the_api_answer_token_expired(session):
    sandbox, tokens, tenant = session
    expired = control(sandbox, "POST", "tokens/expire", {"kind": "access"}).json()["expired"]
    assert expired == 1
    response = api(sandbox, tokens, "Invoices", tenant_id=tenant)
    assert (response.status_code, response.json()["Detail"]) == (401, "TokenExpired")
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_expiring_one_refresh_token_makes_it_invalid_grant(session):
    sandbox, tokens, _ = session
    control(sandbox, "POST", "tokens/expire", {"kind": "refresh", "token": tokens["refresh_token"]})
    assert refresh(sandbox, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_revoking_a_connection_forbids_its_tenant_but_keeps_the_others(session):
    sandbox, tokens, tenant = session
    connection = next(c for c in control(sandbox, "GET", "connections").json()
                      if c["tenantId"] == tenant)
    assert control(sandbox, "POST", f"connections/{connection['id']}/revoke").status_code == 200
    assert api(sandbox, tokens, "Invoices", tenant_id=tenant).status_code == 403
    other = tenant_ids(sandbox)[1]
    assert api(sandbox, tokens, "Invoices", tenant_id=other).status_code == 200
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_revoking_by_tenant_can_also_revoke_the_users_tokens(session):
    sandbox, tokens, tenant = session
    response = control(sandbox, "POST", f"tenants/{tenant}/revoke", {"revoke_tokens": True})
    assert [c["tenantId"] for c in response.json()["revoked"]] == [tenant]
    assert refresh(sandbox, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_revoking_an_unknown_connection_is_404(sandbox):
    assert control(sandbox, "POST", "connections/nope/revoke").status_code == 404


# Ledger changes --------------------------------------------------------------------------------

def test_a_new_invoice_is_served_by_the_accounting_api(session):
    sandbox, tokens, tenant = session
    created = control(sandbox, "POST", f"ledger/{tenant}/invoices",
                      {"total": "230.00", "due_in_days": -10})
    assert created.status_code == 200, created.text
    invoice_id = created.json()["InvoiceID"]
    fetched = api(sandbox, tokens, f"Invoices/{invoice_id}", tenant_id=tenant)
    assert fetched.json()["Invoices"][0]["Total"] == 230.0


def test_payments_credit_notes_due_dates_and_voids_change_the_invoice(session):
    sandbox, _, tenant = session
    invoice = control(sandbox, "POST", f"ledger/{tenant}/invoices", {"total": 100}).json()
    path = f"ledger/{tenant}/invoices/{invoice['InvoiceID']}"
    assert control(sandbox, "POST", f"{path}/payments", {"amount": "30"}).json()["AmountDue"] == 70
    credited = control(sandbox, "POST", f"{path}/credit-notes", {"amount": 20}).json()
    assert credited["AmountDue"] == 50
    moved = control(sandbox, "POST", f"{path}/due-date", {"due": "2031-01-31"}).json()
    assert moved["DueDateString"].startswith("2031-01-31")
    fresh = control(sandbox, "POST", f"ledger/{tenant}/invoices", {"total": 10}).json()
    voided = control(sandbox, "POST", f"ledger/{tenant}/invoices/{fresh['InvoiceID']}/void")
    assert voided.json()["Status"] == "VOIDED"


def test_contacts_can_be_edited_and_archived(session):
    sandbox, _, tenant = session
    contact_id = sandbox.ledger.contacts(tenant)[0].contact_id
    edited = control(sandbox, "POST", f"ledger/{tenant}/contacts/{contact_id}",
                     {"EmailAddress": "new@example.com"})
    assert edited.json()["EmailAddress"] == "new@example.com"
    archived = control(sandbox, "POST", f"ledger/{tenant}/contacts/{contact_id}/archive")
    assert archived.json()["ContactStatus"] == "ARCHIVED"


@pytest.mark.parametrize(("path", "body", "status"), [
    ("ledger/00000000-0000-0000-0000-000000000000/invoices", {}, 404),
    ("ledger/{tenant}/invoices/00000000-0000-0000-0000-000000000000/payments", {"amount": 1}, 404),
    ("ledger/{tenant}/invoices", {"colour": "red"}, 400),
    ("ledger/{tenant}/invoices/{invoice}/due-date", {}, 400),
    ("ledger/{tenant}/invoices/{invoice}/payments", {"amount": "lots"}, 400),
])
def test_bad_ledger_changes_answer_404_or_400(session, path, body, status):
    sandbox, _, tenant = session
    invoice = sandbox.ledger.invoice_at(tenant, 0).invoice_id
    response = control(sandbox, "POST", path.format(tenant=tenant, invoice=invoice), body)
    assert response.status_code == status, response.text


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "-10", 0, "0.00", "1e40", None,
                                    True, [1]])
@pytest.mark.parametrize("change", ["payments", "credit-notes", "prepayments", "overpayments"])
def test_non_finite_negative_or_zero_amounts_are_a_400_not_a_500(session, change, amount):
    sandbox, _, tenant = session
    invoice = control(sandbox, "POST", f"ledger/{tenant}/invoices", {"total": 100}).json()
    path = f"ledger/{tenant}/invoices/{invoice['InvoiceID']}/{change}"
    response = control(sandbox, "POST", path, {"amount": amount})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize("body", [
    {"total": "NaN"}, {"total": "-Infinity"}, {"total": "-1"}, {"total": 0},
    {"status": "PAID"}, {"status": "VOIDED"}, {"status": 3}, {"due_in_days": "soon"},
    {"currency": "XYZ"},
])
def test_new_invoices_with_bad_totals_or_statuses_are_a_400(session, body):
    sandbox, _, tenant = session
    response = control(sandbox, "POST", f"ledger/{tenant}/invoices", body)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("status", ["DRAFT", "SUBMITTED", "AUTHORISED"])
def test_new_invoices_may_be_draft_submitted_or_authorised(session, status):
    sandbox, _, tenant = session
    response = control(sandbox, "POST", f"ledger/{tenant}/invoices", {"status": status})
    assert response.status_code == 200 and response.json()["Status"] == status


@pytest.mark.parametrize("body", [
    {"Name": 42}, {"Name": ""}, {"EmailAddress": ["a@b.c"]}, {"FirstName": None},
    {"ContactPersons": "nobody"}, {"DefaultCurrency": "ZZZ"}, {"Colour": "red"},
])
def test_contact_edits_with_wrong_types_are_a_400(session, body):
    sandbox, _, tenant = session
    contact_id = sandbox.ledger.contacts(tenant)[0].contact_id
    response = control(sandbox, "POST", f"ledger/{tenant}/contacts/{contact_id}", body)
    assert response.status_code == 400, response.text


def test_prepayments_and_overpayments_applied_by_control_show_in_the_accounting_api(session):
    sandbox, tokens, tenant = session
    invoice = control(sandbox, "POST", f"ledger/{tenant}/invoices", {"total": 100}).json()
    path = f"ledger/{tenant}/invoices/{invoice['InvoiceID']}"
    prepaid = control(sandbox, "POST", f"{path}/prepayments", {"amount": "40"})
    assert prepaid.status_code == 200, prepaid.text
    over = control(sandbox, "POST", f"{path}/overpayments", {"amount": "10"}).json()
    assert (over["AmountDue"], over["AmountCredited"]) == (50, 50)
    fetched = api(sandbox, tokens, f"Invoices/{invoice['InvoiceID']}", tenant_id=tenant).json()
    shown = fetched["Invoices"][0]
    assert [p["AppliedAmount"] for p in shown["Prepayments"]] == [40]
    assert [p["AppliedAmount"] for p in shown["Overpayments"]] == [10]
    refused = api(sandbox, tokens, f"Invoices/{invoice['InvoiceID']}", tenant_id=tenant,
                  method="POST", json={"Invoices": [{"ExpectedPaymentDate": "2031-01-01"}]})
    assert refused.status_code == 400
    assert refused.json()["Elements"][0]["ValidationErrors"] == [{"Message": (
        "This document cannot be edited as it has a payment or credit note allocated to it.")}]
    too_much = control(sandbox, "POST", f"{path}/prepayments", {"amount": "51"})
    assert too_much.status_code == 400


# Stats -----------------------------------------------------------------------------------------

def test_stats_count_calls_per_tenant_and_endpoint_exchanges_and_refreshes(session):
    sandbox, tokens, tenant = session
    invoice = sandbox.ledger.invoice_at(tenant, 0).invoice_id
    api(sandbox, tokens, "Invoices", tenant_id=tenant)
    api(sandbox, tokens, "Invoices", tenant_id=tenant)
    api(sandbox, tokens, f"Invoices/{invoice}", tenant_id=tenant)
    refresh(sandbox, tokens["refresh_token"])
    stats = control(sandbox, "GET", "stats").json()
    assert stats["calls"] == {tenant: {"GET /Invoices": 2, "GET /Invoices/{id}": 1}}
    assert stats["calls_total"] == 3
    assert (stats["token_exchanges"], stats["refreshes"], stats["rate_limited"]) == (1, 1, 0)
    reset = control(sandbox, "POST", "reset-stats").json()
    assert reset["calls"] == {} and reset["token_exchanges"] == 0


def test_ledger_summary_names_tenants_and_users(sandbox):
    summary = control(sandbox, "GET", "ledger").json()
    assert [o["tenant_id"] for o in summary["organisations"]] == tenant_ids(sandbox)
    assert "finance@sandbox.example" in [u["email"] for u in summary["users"]]


# The CLI helper --------------------------------------------------------------------------------

def test_run_sandbox_prints_exportable_settings_and_stops_cleanly_on_ctrl_c():
    script = ("from bot.sandbox.cli import run_sandbox; "
              "run_sandbox(port=0, orgs=1, contacts=2, invoices=3)")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline().strip() for _ in range(6)]
        settings = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
        assert settings["XERO_CLIENT_ID"] == "chaser-sandbox"
        assert settings["XERO_CLIENT_SECRET"] == "chaser-sandbox-secret"
        assert settings["XERO_REDIRECT_URI"] == "http://127.0.0.1:3000/xero/callback"
        discovery = web.get(f"{settings['XERO_BASE_URL']}/.well-known/openid-configuration")
        assert discovery.json()["issuer"] == settings["XERO_BASE_URL"]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in out + err and "Sandbox stopped." in out
