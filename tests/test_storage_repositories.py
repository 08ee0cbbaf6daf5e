"""Repository functions: connections, workspaces, sync state, OAuth states, audit, queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from storage.models import CLI_WORKSPACE_TEAM_ID, ConnectionStatus, MemberRole, XeroConnection
from storage.repositories import (
    cli_workspace,
    connections_by_xero_user,
    consume_oauth_state,
    create_oauth_state,
    get_connection,
    get_or_create_workspace,
    get_sync_state,
    invoice_by_number,
    list_connections,
    lock_workspace_connections,
    open_invoices,
    overdue_invoices,
    record_audit,
    save_connection,
    save_connection_tokens,
    save_sync_state,
    set_connection_status,
    set_workspace_members,
    upsert_contacts,
    upsert_invoices,
    workspace_member_ids,
)

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def test_connections_without_a_workspace_belong_to_the_cli_workspace(session_factory):
    with session_factory.begin() as session:
        connection = save_connection(session, workspace_id=None, tenant_id="t1", now=NOW)
        assert connection.workspace.slack_team_id == CLI_WORKSPACE_TEAM_ID
        assert connection.status is ConnectionStatus.CONNECTED
        assert connection.connected_at == NOW


def test_save_connection_updates_the_same_row_for_the_same_workspace_and_tenant(
    session_factory,
):
    with session_factory.begin() as session:
        first = save_connection(session, workspace_id=None, tenant_id="t1", tenant_name="Old")
        again = save_connection(session, workspace_id=None, tenant_id="t1", tenant_name="New")
        assert again.id == first.id
        assert get_connection(session, first.id).tenant_name == "New"
        assert len(list_connections(session)) == 1


def test_one_tenant_can_be_connected_to_several_workspaces(session_factory):
    with session_factory.begin() as session:
        slack = get_or_create_workspace(session, "T0001", name="Acme")
        in_slack = save_connection(session, workspace_id=slack.id, tenant_id="t1")
        from_cli = save_connection(session, workspace_id=None, tenant_id="t1")
        assert in_slack.id != from_cli.id
        assert list_connections(session, slack.id) == [in_slack]


def test_a_tenant_cannot_be_stored_twice_in_one_workspace(session_factory):
    with session_factory() as session:
        workspace_id = cli_workspace(session).id
        session.add_all(
            XeroConnection(
                workspace_id=workspace_id, tenant_id="t1", connected_at=NOW, updated_at=NOW
            )
            for _ in range(2)
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_saving_a_new_token_through_save_connection_bumps_the_token_version(session_factory):
    with session_factory.begin() as session:
        connection = save_connection(
            session, workspace_id=None, tenant_id="t1", token_ciphertext="c1"
        )
        assert connection.token_version == 0
        save_connection(session, workspace_id=None, tenant_id="t1", token_ciphertext="c2")
        assert connection.token_version == 1


def test_token_save_is_refused_when_another_refresh_saved_first(session_factory, connection_id):
    expires = NOW + timedelta(minutes=30)
    with session_factory.begin() as session:
        assert save_connection_tokens(
            session,
            connection_id,
            token_ciphertext="a",
            token_expires_at=expires,
            expected_version=0,
        )
        assert not save_connection_tokens(
            session,
            connection_id,
            token_ciphertext="b",
            token_expires_at=expires,
            expected_version=0,
        )
        connection = get_connection(session, connection_id)
        assert (connection.token_ciphertext, connection.token_version) == ("a", 1)
        assert connection.token_expires_at == expires


def test_set_connection_status_records_the_reason(session_factory, connection_id):
    with session_factory.begin() as session:
        set_connection_status(
            session,
            connection_id,
            ConnectionStatus.NEEDS_RECONNECT,
            reason="refresh token rejected",
        )
    with session_factory() as session:
        connection = get_connection(session, connection_id)
        assert connection.status is ConnectionStatus.NEEDS_RECONNECT
        assert connection.status_reason == "refresh token rejected"
        needing = list_connections(session, statuses=[ConnectionStatus.NEEDS_RECONNECT])
        assert [c.id for c in needing] == [connection_id]


def test_workspace_members_are_replaced_per_role(session_factory):
    with session_factory.begin() as session:
        workspace = get_or_create_workspace(session, "T0001")
        set_workspace_members(session, workspace.id, MemberRole.ADMIN, ["U1", "U2", "U1"])
        set_workspace_members(session, workspace.id, MemberRole.MANAGER, ["U2"])
        set_workspace_members(session, workspace.id, MemberRole.ADMIN, ["U3"])
        assert workspace_member_ids(session, workspace.id, MemberRole.ADMIN) == ["U3"]
        assert workspace_member_ids(session, workspace.id, MemberRole.MANAGER) == ["U2"]


def test_sync_state_is_created_then_updated(session_factory, connection_id):
    mark = datetime(2025, 4, 30, 23, 59, 59, tzinfo=UTC)
    with session_factory.begin() as session:
        assert get_sync_state(session, connection_id, "invoices") is None
        save_sync_state(session, connection_id, "invoices", in_progress_since=NOW)
        save_sync_state(
            session,
            connection_id,
            "invoices",
            high_water_mark=mark,
            last_sync_at=NOW,
            in_progress_since=None,
        )
    with session_factory() as session:
        state = get_sync_state(session, connection_id, "invoices")
        assert (state.high_water_mark, state.in_progress_since) == (mark, None)
        with pytest.raises(ValueError):
            save_sync_state(session, connection_id, "invoices", bogus=1)


def test_oauth_state_can_be_consumed_only_once(session_factory):
    with session_factory.begin() as session:
        stored = create_oauth_state(
            session,
            state="s3cret-state",
            expires_at=NOW + timedelta(minutes=10),
            code_verifier_ciphertext="enc",
            slack_user_id="U1",
            now=NOW,
        )
        assert stored.state_hash != "s3cret-state"
    with session_factory.begin() as session:
        used = consume_oauth_state(session, "s3cret-state", NOW + timedelta(minutes=1))
        assert used is not None and used.slack_user_id == "U1"
        assert used.code_verifier_ciphertext == "enc"
    with session_factory.begin() as session:
        assert consume_oauth_state(session, "s3cret-state", NOW + timedelta(minutes=2)) is None
        assert consume_oauth_state(session, "forged", NOW) is None


def test_an_expired_oauth_state_cannot_be_consumed(session_factory):
    with session_factory.begin() as session:
        create_oauth_state(session, state="s", expires_at=NOW, now=NOW - timedelta(minutes=10))
    with session_factory.begin() as session:
        assert consume_oauth_state(session, "s", NOW) is None


def test_record_audit_keeps_structured_detail(session_factory, connection_id):
    with session_factory.begin() as session:
        entry = record_audit(
            session,
            action="xero.connected",
            actor="U1",
            connection_id=connection_id,
            detail={"tenant": "Demo", "n": 1},
            at=NOW,
        )
    with session_factory() as session:
        assert session.get(type(entry), entry.id).detail == {"tenant": "Demo", "n": 1}


def _invoice(number, due, status="AUTHORISED", amount="10.00", kind="ACCREC"):
    return {
        "xero_invoice_id": f"id-{number}",
        "invoice_number": number,
        "type": kind,
        "status": status,
        "due_date": due,
        "amount_due": Decimal(amount),
        "xero_contact_id": "c1",
    }


def test_overdue_invoices_are_unpaid_receivables_past_due_oldest_first(
    session_factory, connection_id
):
    today = date(2025, 5, 1)
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [{"xero_contact_id": "c1", "name": "Ridgeway"}])
        upsert_invoices(
            session,
            connection_id,
            [
                _invoice("INV-1", date(2025, 4, 1)),
                _invoice("INV-2", date(2025, 3, 1)),
                _invoice("INV-3", today),  # due today: not overdue yet
                _invoice("INV-4", date(2025, 3, 1), status="PAID", amount="0"),
                _invoice("INV-5", date(2025, 3, 1), kind="ACCPAY"),
                _invoice("INV-6", date(2025, 3, 1), status="DRAFT"),
                _invoice("INV-7", date(2025, 3, 1), amount="0"),
            ],
        )
    with session_factory() as session:
        overdue = overdue_invoices(
            session, connection_id, today, invoice_type="ACCREC", statuses=["AUTHORISED"]
        )
        assert [i.invoice_number for i in overdue] == ["INV-2", "INV-1"]
        assert overdue[0].contact.name == "Ridgeway"


def test_open_invoices_are_unpaid_receivables_due_or_not_in_id_order(
    session_factory, connection_id
):
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [{"xero_contact_id": "c1", "name": "Ridgeway"}])
        upsert_invoices(
            session,
            connection_id,
            [
                _invoice("INV-1", date(2025, 4, 1)),
                _invoice("INV-2", date(2099, 1, 1)),  # not due yet: still open
                _invoice("INV-3", date(2025, 3, 1), status="PAID", amount="0"),
                _invoice("INV-4", date(2025, 3, 1), kind="ACCPAY"),
                _invoice("INV-5", date(2025, 3, 1), status="DRAFT"),
            ],
        )
    with session_factory() as session:
        found = open_invoices(
            session, connection_id, invoice_type="ACCREC", statuses=["AUTHORISED"]
        )
        assert [i.invoice_number for i in found] == ["INV-1", "INV-2"]
        assert found[0].contact.name == "Ridgeway"


def test_connections_by_xero_user_ignore_case_and_other_statuses(session_factory):
    with session_factory.begin() as session:
        for tenant, user, status in [
            ("t-1", "Finance@Example.com", ConnectionStatus.CONNECTED),
            ("t-2", "finance@example.com", ConnectionStatus.DISCONNECTED),
            ("t-3", "other@example.com", ConnectionStatus.CONNECTED),
        ]:
            save_connection(session, workspace_id=None, tenant_id=tenant, now=NOW,
                            connected_by_xero_user=user, status=status)
    with session_factory() as session:
        found = connections_by_xero_user(session, "FINANCE@example.com")
        assert [c.tenant_id for c in found] == ["t-1"]


def test_lock_workspace_connections_locks_every_sibling_in_id_order(session_factory):
    with session_factory.begin() as session:
        first = save_connection(session, workspace_id=None, tenant_id="t-1", now=NOW).id
        save_connection(session, workspace_id=None, tenant_id="t-2", now=NOW)
        other = get_or_create_workspace(session, "T-OTHER", now=NOW).id
        save_connection(session, workspace_id=other, tenant_id="t-3", now=NOW)
    with session_factory() as session:  # a fresh session: the lock starts the transaction
        locked = lock_workspace_connections(session, first)
        assert [c.tenant_id for c in locked] == ["t-1", "t-2"]
        assert lock_workspace_connections(session, 10_000) == []


def test_invoice_by_number_prefers_exact_then_ignores_case(session_factory, connection_id):
    with session_factory.begin() as session:
        upsert_invoices(session, connection_id, [_invoice("INV-0001", date(2025, 1, 1))])
    with session_factory() as session:
        assert (
            invoice_by_number(session, connection_id, "INV-0001").xero_invoice_id == "id-INV-0001"
        )
        assert invoice_by_number(session, connection_id, " inv-0001 ") is not None
        assert invoice_by_number(session, connection_id, "INV-9") is None
