"""Pause, resume and dispute through the one chasing service, with permissions and the audit."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.chasing.controls import BadPauseDate, ChasingControls
from bot.chasing.permissions import Actor, Capability, NotAllowed, Permissions
from bot.messages import SLACK
from storage.db import session_scope
from storage.models import AuditEntry, Contact, Invoice, MemberRole, XeroConnection
from storage.repositories import get_or_create_workspace, save_connection, set_workspace_members
from storage.settings import organisation_settings, update_organisation_settings

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 2 March, 14:00 in Auckland


class Directory:
    """The WorkspaceDirectory port: who Slack says is a workspace admin."""

    def __init__(self, admins: set[str]) -> None:
        self.admins = admins
        self.asked: list[str] = []

    def is_workspace_admin(self, team_id: str, user_id: str) -> bool:
        self.asked.append(user_id)
        return user_id in self.admins


@pytest.fixture
def world(session_factory):
    with session_scope(session_factory) as session:
        workspace = get_or_create_workspace(session, "T1", now=NOW)
        connection = save_connection(session, workspace_id=workspace.id, tenant_id="t-1",
                                     tenant_name="Demo Ltd", timezone="Pacific/Auckland",
                                     connected_by="U0CONNECTOR", now=NOW)
        contact = Contact(connection_id=connection.id, xero_contact_id="c-1", name="Acme")
        session.add(contact)
        session.flush()
        invoice = Invoice(connection_id=connection.id, xero_invoice_id="i-1",
                          invoice_number="INV-001", type="ACCREC", status="AUTHORISED",
                          contact_id=contact.id)
        session.add(invoice)
        session.flush()
        ids = workspace.id, connection.id, contact.id, invoice.id
    directory = Directory({"U0SLACKADMIN"})
    permissions = Permissions(session_factory, directory, lambda: NOW)
    controls = ChasingControls(session_factory, permissions, lambda: NOW)
    return ids, permissions, controls, directory


def actor(world, user: str) -> Actor:
    return Actor(user_id=user, team_id="T1", workspace_id=world[0][0])


def audit(session_factory) -> list[tuple[str, str]]:
    with session_scope(session_factory) as session:
        return [(e.action, e.actor) for e in session.scalars(
            select(AuditEntry).order_by(AuditEntry.id))]


@pytest.mark.parametrize("user", ["U0SLACKADMIN", "U0CONNECTOR", "U0NAMED"])
def test_admins_are_workspace_admins_the_connector_and_people_named_in_settings(
    world, session_factory, user
):
    (workspace_id, *_), permissions, *_ = world
    with session_scope(session_factory) as session:
        set_workspace_members(session, workspace_id, MemberRole.ADMIN, ["U0NAMED"])
    assert permissions.roles(actor(world, user)).admin
    assert not permissions.roles(actor(world, "U0SOMEONE")).admin


def test_pausing_all_chasing_is_for_admins_and_a_refusal_says_who_and_is_audited(
    world, session_factory
):
    (_, connection_id, *_), _, controls, _ = world
    with pytest.raises(NotAllowed) as refused:
        controls.pause_account(actor(world, "U0SOMEONE"), connection_id)
    text = refused.value.text(SLACK)
    assert text.startswith("Only admins can pause or resume all chasing:")
    assert "<@U0CONNECTOR>" in text and "`/chaser pause customer <name>`" in text
    assert audit(session_factory) == [("permission.refused", "U0SOMEONE")]
    with session_scope(session_factory) as session:
        assert not organisation_settings(session, connection_id).chasing_paused

    outcome = controls.pause_account(actor(world, "U0SLACKADMIN"), connection_id,
                                     until=date(2026, 3, 9))
    assert (outcome.paused, outcome.until, outcome.tenant_name) == (True, date(2026, 3, 9),
                                                                     "Demo Ltd")
    with session_scope(session_factory) as session:
        row = organisation_settings(session, connection_id)
        assert (row.chasing_paused, row.chasing_paused_until) == (True, date(2026, 3, 9))
    assert audit(session_factory)[-1] == ("account.paused", "U0SLACKADMIN")


def test_a_pause_must_end_after_today_in_the_organisations_timezone(world):
    (_, connection_id, *_), _, controls, _ = world
    with pytest.raises(BadPauseDate):  # 2 March is already today in Auckland
        controls.pause_account(actor(world, "U0SLACKADMIN"), connection_id,
                               until=date(2026, 3, 2))


def test_anyone_may_pause_a_customer_unless_buttons_are_narrowed_to_admins(
    world, session_factory
):
    (_, connection_id, contact_id, _), _, controls, _ = world
    outcome = controls.pause_contact(actor(world, "U0SOMEONE"), contact_id)
    assert outcome.paused and outcome.subject == "Acme"
    with session_scope(session_factory) as session:
        assert session.get(Contact, contact_id).chasing_paused
        update_organisation_settings(session, connection_id, by="U0SLACKADMIN",
                                     buttons_admins_only=True)
    with pytest.raises(NotAllowed):
        controls.resume_contact(actor(world, "U0SOMEONE"), contact_id)
    assert controls.resume_contact(actor(world, "U0CONNECTOR"), contact_id).changed
    assert [a for a, _ in audit(session_factory)] == [
        "contact.paused", "permission.refused", "contact.resumed"]


def test_resuming_what_was_not_paused_changes_nothing_and_records_nothing(world, session_factory):
    (_, _, contact_id, _), _, controls, _ = world
    assert not controls.resume_contact(actor(world, "U0SOMEONE"), contact_id).changed
    assert audit(session_factory) == []


def test_disputing_an_invoice_records_who_why_and_when(world, session_factory):
    (_, _, _, invoice_id), _, controls, _ = world
    controls.dispute_invoice(actor(world, "U0SOMEONE"), invoice_id, reason="  wrong price ")
    with session_scope(session_factory) as session:
        invoice = session.get(Invoice, invoice_id)
        assert (invoice.disputed, invoice.disputed_reason, invoice.disputed_by) == (
            True, "wrong price", "U0SOMEONE")
        assert invoice.disputed_at == NOW
    controls.resolve_dispute(actor(world, "U0SOMEONE"), invoice_id)
    with session_scope(session_factory) as session:
        assert not session.get(Invoice, invoice_id).disputed
    assert [a for a, _ in audit(session_factory)] == ["invoice.disputed",
                                                       "invoice.dispute_resolved"]


def test_disputing_again_with_another_reason_is_recorded_and_the_same_one_is_not(
        world, session_factory):
    # Two people marking the same invoice from one digest, or a stale "Mark disputed" button:
    # the reason shown must be one the audit log holds, with who gave it.
    (_, _, _, invoice_id), _, controls, _ = world
    controls.dispute_invoice(actor(world, "U0FIRST"), invoice_id, reason="wrong price")
    again = controls.dispute_invoice(actor(world, "U0SECOND"), invoice_id, reason="not delivered")
    same = controls.dispute_invoice(actor(world, "U0THIRD"), invoice_id, reason="not delivered")
    assert (again.changed, same.changed) == (True, False)
    with session_scope(session_factory) as session:
        invoice = session.get(Invoice, invoice_id)
        assert (invoice.disputed_reason, invoice.disputed_by) == ("not delivered", "U0SECOND")
    assert audit(session_factory) == [("invoice.disputed", "U0FIRST"),
                                      ("invoice.disputed", "U0SECOND")]


def test_managers_approve_escalations_and_admins_do_when_none_is_named(world, session_factory):
    (workspace_id, *_), permissions, *_ = world
    assert permissions.allowed(actor(world, "U0CONNECTOR"), Capability.APPROVE_ESCALATIONS)
    with session_scope(session_factory) as session:
        set_workspace_members(session, workspace_id, MemberRole.MANAGER, ["U0BOSS"])
    assert permissions.allowed(actor(world, "U0BOSS"), Capability.APPROVE_ESCALATIONS)
    assert not permissions.allowed(actor(world, "U0CONNECTOR"), Capability.APPROVE_ESCALATIONS)


def test_the_operator_at_the_terminal_may_do_anything(world):
    (_, connection_id, *_), _, controls, directory = world
    controls.pause_account(Actor.operator(), connection_id)
    assert directory.asked == []


def test_a_disconnected_organisations_connector_is_no_longer_an_admin(world, session_factory):
    (_, connection_id, *_), permissions, *_ = world
    with session_scope(session_factory) as session:
        session.get(XeroConnection, connection_id).status = "disconnected"
    assert not permissions.roles(actor(world, "U0CONNECTOR")).admin
