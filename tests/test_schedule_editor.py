"""Schedules edited as an admin in Slack would: the service on SQLite and PostgreSQL, the chase
plan using what was saved, refusals audited and nothing saved, every change in the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.chasing.permissions import Actor, NotAllowed, Permissions
from bot.chasing.plan import plan_chase
from bot.chasing.recipients import BadEmail
from bot.chasing.schedule_editor import ScheduleEditor, Sender
from bot.chasing.schedules import Part, ScheduleError, ScheduleSpec, StepSpec
from bot.errors import NotFound
from storage.audit import latest_audit
from storage.db import session_scope
from storage.models import AuditEntry, MemberRole, XeroConnection
from storage.repositories import get_or_create_workspace, set_workspace_members
from storage.settings import organisation_settings
from tests.chasing_world import TODAY, Clock, make_books

ADMIN, MEMBER = "U0ADMIN", "U0MEMBER"


class NobodyIsSlackAdmin:
    def is_workspace_admin(self, team_id: str, user_id: str) -> bool:
        return False


@pytest.fixture
def stage(session_factory):
    """Books in a workspace whose named admin is ADMIN; the editor as Slack builds it."""
    clock = Clock()
    books = make_books(session_factory)
    with session_scope(session_factory) as session:
        workspace = get_or_create_workspace(session, "T0CHASER01")
        session.execute(update(XeroConnection).where(XeroConnection.id == books.connection_id)
                        .values(workspace_id=workspace.id))
        set_workspace_members(session, workspace.id, MemberRole.ADMIN, [ADMIN])
        workspace_id = workspace.id
    editor = ScheduleEditor(session_factory,
                            Permissions(session_factory, NobodyIsSlackAdmin(), clock), clock)
    return books, editor, workspace_id, clock


def actions(session_factory) -> list[tuple[str, str]]:
    with session_scope(session_factory) as session:
        return [(e.action, e.actor) for e in session.scalars(select(AuditEntry)
                                                              .order_by(AuditEntry.id))]


STRICT = ScheduleSpec("Strict", (StepSpec(Part.OVERDUE, 3, "final_notice"),))


def test_an_admins_schedule_is_saved_audited_and_used_by_the_chase_plan(stage) -> None:
    books, editor, workspace_id, clock = stage
    acme = books.customer("Acme", "ap@acme.example")
    books.invoice(acme, "INV-1", TODAY - timedelta(days=3))
    admin = Actor(ADMIN, "T0CHASER01", workspace_id)
    before = plan_chase(books.session_factory, books.connection_id, clock(), ignore_window=True)
    assert [e.template for e in before.emails] == ["overdue"]  # the default's day-1 step

    editor.save(admin, books.connection_id, STRICT, make_default=True,
                sender=Sender("Sam Accounts", "sam@kiwiplumbing.example"),
                escalated_sender=Sender("Alex Boss", "boss@kiwiplumbing.example"))
    plan = plan_chase(books.session_factory, books.connection_id, clock(), ignore_window=True)
    (email,) = plan.emails
    assert (email.schedule_name, email.template, email.invoices[0].step_key) == (
        "Strict", "final_notice", "overdue:3")
    book = editor.book(workspace_id, books.connection_id)
    assert [(s.spec.name, s.is_default) for s in book.schedules] == [
        ("Strict", True), ("Default", False)]
    assert book.escalated_sender == Sender("Alex Boss", "boss@kiwiplumbing.example")
    # The normal sender did not change: only the escalated one is recorded.
    assert actions(books.session_factory) == [("schedule.saved", ADMIN),
                                              ("settings.sender", ADMIN)]


def test_a_member_is_refused_the_refusal_is_audited_and_nothing_is_saved(stage) -> None:
    books, editor, workspace_id, _ = stage
    member = Actor(MEMBER, "T0CHASER01", workspace_id)
    with pytest.raises(NotAllowed, match="Only admins can change chasing schedules"):
        editor.save(member, books.connection_id, STRICT, make_default=True)
    acme = books.customer("Acme", "ap@acme.example")
    with pytest.raises(NotAllowed):
        editor.assign(member, acme, "Default")
    assert [s.spec.name for s in editor.book(workspace_id, books.connection_id).schedules] == [
        "Default"]
    assert actions(books.session_factory) == [("permission.refused", MEMBER)] * 2


def test_a_bad_sender_address_saves_nothing(stage) -> None:
    books, editor, workspace_id, _ = stage
    admin = Actor(ADMIN, "T0CHASER01", workspace_id)
    with pytest.raises(BadEmail, match="is not an email address"):
        editor.save(admin, books.connection_id, STRICT, make_default=False,
                    sender=Sender("Sam", "sam@"))
    book = editor.book(workspace_id, books.connection_id)
    assert [s.spec.name for s in book.schedules] == ["Default"]
    assert book.sender == Sender("Sam Accounts", "sam@kiwiplumbing.example")
    assert actions(books.session_factory) == []


def test_a_customer_put_on_another_schedule_is_chased_on_it_and_its_trail_says_so(stage) -> None:
    books, editor, workspace_id, clock = stage
    admin = Actor(ADMIN, "T0CHASER01", workspace_id)
    acme = books.customer("Acme", "ap@acme.example")
    other = books.customer("Other", "ap@other.example")
    for contact, number in ((acme, "INV-1"), (other, "INV-2")):
        books.invoice(contact, number, TODAY - timedelta(days=3))
    editor.save(admin, books.connection_id, STRICT, make_default=False)
    assigned = editor.assign(admin, acme, "strict")
    assert (assigned.customer, assigned.schedule, assigned.default) == ("Acme", "Strict", False)
    plan = plan_chase(books.session_factory, books.connection_id, clock(), ignore_window=True)
    assert sorted((e.contact_name, e.schedule_name) for e in plan.emails) == [
        ("Acme", "Strict"), ("Other", "Default")]
    assert editor.book(workspace_id, books.connection_id).customers == {
        assigned_id: 1 for assigned_id in [editor.find(workspace_id, books.connection_id,
                                                       "Strict").id]}
    with session_scope(books.session_factory) as session:
        (entry,) = latest_audit(session, contact_id=acme, limit=5)
        assert (entry.action, entry.actor, entry.detail["schedule"]) == (
            "contact.schedule", ADMIN, "Strict")
    with pytest.raises(ScheduleError, match="No schedule is called 'Gentle'"):
        editor.assign(admin, acme, "Gentle")
    back = editor.assign(admin, acme, None)
    assert (back.schedule, back.default) == ("Default", True)
    assert editor.book(workspace_id, books.connection_id).customers == {}


def test_a_customer_put_on_the_default_by_name_stays_there_when_the_default_changes(
    stage,
) -> None:
    books, editor, workspace_id, clock = stage
    admin = Actor(ADMIN, "T0CHASER01", workspace_id)
    acme = books.customer("Acme", "ap@acme.example")
    other = books.customer("Other", "ap@other.example")
    for contact, number in ((acme, "INV-1"), (other, "INV-2")):
        books.invoice(contact, number, TODAY - timedelta(days=3))
    assigned = editor.assign(admin, acme, "Default")  # said "on the Default schedule"
    assert assigned.schedule == "Default"
    editor.save(admin, books.connection_id, STRICT, make_default=True)
    plan = plan_chase(books.session_factory, books.connection_id, clock(), ignore_window=True)
    # Acme was put on Default by name and stays; Other follows the new default.
    assert sorted((e.contact_name, e.schedule_name) for e in plan.emails) == [
        ("Acme", "Default"), ("Other", "Strict")]


def test_another_workspace_cannot_read_or_edit_the_organisation(stage) -> None:
    books, editor, workspace_id, _ = stage
    with pytest.raises(NotFound, match="is not connected"):
        editor.book(workspace_id + 1, books.connection_id)
    with pytest.raises(NotFound):
        editor.save(Actor(ADMIN, "T0OTHER", workspace_id + 1), books.connection_id, STRICT,
                    make_default=True)
    with session_scope(books.session_factory) as session:
        assert organisation_settings(session, books.connection_id).sender_name == "Sam Accounts"


def test_two_admins_saving_at_once_leave_one_whole_schedule(stage) -> None:
    # Each save replaces the steps; the database's one write lock makes them take turns, so
    # the schedule ends as one of the two, never a mix or a unique-key failure.
    from concurrent.futures import ThreadPoolExecutor

    books, editor, workspace_id, _ = stage
    admin = Actor(ADMIN, "T0CHASER01", workspace_id)
    specs = [ScheduleSpec("Default", tuple(StepSpec(Part.OVERDUE, d, "overdue") for d in days))
             for days in ((1, 5, 9), (2, 5, 30, 60))]
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda spec: editor.save(admin, books.connection_id, spec,
                                                   make_default=False), specs))
        (stored,) = editor.book(workspace_id, books.connection_id).schedules
        assert stored.spec in specs
    assert actions(books.session_factory) == [("schedule.saved", ADMIN)] * 6
