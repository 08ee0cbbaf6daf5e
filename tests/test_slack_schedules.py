"""Chasing schedules from Slack end to end: signed block_actions and view_submission payloads
shaped as Slack sends them, the fake Slack (views.open/push/update), a synced sandbox Xero, and
the stored schedule the chase plan then uses, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.chasing.plan import plan_chase
from bot.chasing.schedule_store import find_schedule, save_schedule, schedules
from bot.chasing.schedules import Part, ScheduleSpec, StepSpec
from bot.ids import Action, Block, View
from bot.payloads import ScheduleRef, SettingsForm, decode_as
from storage.db import session_scope
from storage.models import AuditEntry, Contact, XeroConnection
from storage.settings import organisation_settings
from tests.connect_helpers import approve
from tests.fakes.slack_api import DEFAULT_TEAM
from tests.fakes.slack_requests import block_actions_payload, view_submission_payload
from tests.fixtures.sandbox import FINANCE
from tests.fixtures.slack import ADMIN, MEMBER, SlackWorld
from tests.test_slack_commands import ask, blocks_text


def connected_world(make_slack_world, sandbox, database_url: str | None = None) -> SlackWorld:
    """chaser-bot whose admin connected the sandbox's two organisations, synced."""
    world = make_slack_world(xero=sandbox, database_url=database_url)
    url = world.app.chasing_services.connect.start(DEFAULT_TEAM, ADMIN, login_hint=FINANCE)
    world.app.chasing_services.connect.complete(*approve(url))
    world.deps.sync_service().sync_all()
    return world


@pytest.fixture
def world(make_slack_world, sandbox) -> SlackWorld:
    return connected_world(make_slack_world, sandbox)


def first_organisation(world: SlackWorld) -> tuple[int, str]:
    with session_scope(world.deps.session_factory) as session:
        row = session.scalars(select(XeroConnection).order_by(XeroConnection.tenant_name)).first()
        return row.id, row.tenant_name


def wait_for_view(world: SlackWorld, method: str, count: int = 1) -> dict:
    """The view the app's `count`-th successful call to `method` stored."""
    calls = world.fake.wait_for_calls(method, count)
    stored = [v for v in world.fake.views.values()
              if v.get("callback_id") == calls[count - 1].args["view"]["callback_id"]]
    return stored[-1]


def open_settings(world: SlackWorld, name: str) -> dict:
    world.send.command(f'settings "{name}"', user=ADMIN)
    return wait_for_view(world, "views.open")


def click(world: SlackWorld, view: dict, action: dict, *, user: str = ADMIN) -> dict:
    payload = block_actions_payload(world.fake, action, user=user, view=view)
    assert world.send.interaction(payload).response.status_code == 200
    return payload


def push_schedule_modal(world: SlackWorld, settings: dict, *, user: str = ADMIN,
                        count: int = 1) -> dict:
    """Click "Edit chasing schedules" in the settings modal; the modal Slack stacked on it."""
    (button_block,) = [b for b in settings["blocks"]
                       if b.get("block_id") == Block.SETTINGS_SCHEDULE]
    button = button_block["accessory"]
    click(world, settings, {"action_id": button["action_id"], "block_id": Block.SETTINGS_SCHEDULE,
                            "value": button["value"]}, user=user)
    return wait_for_view(world, "views.push", count)


def inputs(view: dict) -> dict[str, dict]:
    """The modal's input blocks by block_id without its ":<schedule>" ending."""
    return {b["block_id"].split(":")[0]: b for b in view["blocks"] if b["type"] == "input"}


def values_for(view: dict, *, name: str | None = None, before: str = "", overdue: str = "",
               every: str = "", cap: str = "", options: tuple[str, ...] = (),
               sender: tuple[str, str] = ("", ""), escalated: tuple[str, str] = ("", "")
               ) -> dict:
    """view.state.values as Slack sends them for these inputs (empty inputs come back null)."""
    ids = {key: block["block_id"] for key, block in inputs(view).items()}

    def text(kind: str, value: str) -> dict:
        return {"value": {"type": kind, "value": value or None}}

    values = {
        ids[Block.SCHEDULE_BEFORE_DUE]: text("plain_text_input", before),
        ids[Block.SCHEDULE_OVERDUE]: text("plain_text_input", overdue),
        ids[Block.SCHEDULE_REPEAT_EVERY]: text("number_input", every),
        ids[Block.SCHEDULE_REPEAT_LIMIT]: text("number_input", cap),
        ids[Block.SCHEDULE_OPTIONS]: {"value": {"type": "checkboxes", "selected_options": [
            {"value": o, "text": {"type": "plain_text", "text": o}} for o in options]}},
        ids[Block.SENDER_NAME]: text("plain_text_input", sender[0]),
        ids[Block.SENDER_EMAIL]: text("email_text_input", sender[1]),
        ids[Block.ESCALATED_SENDER_NAME]: text("plain_text_input", escalated[0]),
        ids[Block.ESCALATED_SENDER_EMAIL]: text("email_text_input", escalated[1]),
        Block.SCHEDULE_PICK: {Action.SCHEDULE_PICK: {
            "type": "static_select",
            "selected_option": inputs(view)[Block.SCHEDULE_PICK]["element"]["initial_option"]}},
    }
    if name is not None:
        values[ids[Block.SCHEDULE_NAME]] = text("plain_text_input", name)
    return values


def submit(world: SlackWorld, view: dict, values: dict, *, user: str = ADMIN):
    return world.send.interaction(view_submission_payload(world.fake, view, values, user=user))


def audit_actions(world: SlackWorld) -> list[tuple[str, str]]:
    with session_scope(world.deps.session_factory) as session:
        return [(e.action, e.actor) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(
                ["schedule.saved", "settings.sender", "contact.schedule", "permission.refused"]))
            .order_by(AuditEntry.id))]


def test_an_admin_edits_the_default_schedule_from_settings_and_the_chase_plan_uses_it(
    make_slack_world, sandbox, migrated_db,
):
    world = connected_world(make_slack_world, sandbox, migrated_db)
    connection_id, name = first_organisation(world)
    settings = open_settings(world, name)
    pushed = push_schedule_modal(world, settings)
    assert pushed["callback_id"] == View.SCHEDULE
    assert world.fake.view_stack(settings["id"]) == [settings["id"], pushed["id"]]
    assert decode_as(pushed["private_metadata"], ScheduleRef).c == connection_id
    shown = inputs(pushed)  # the current schedule: Chaser's default
    assert shown[Block.SCHEDULE_BEFORE_DUE]["element"]["initial_value"] == "7"
    assert shown[Block.SCHEDULE_OVERDUE]["element"]["initial_value"] == "1"
    assert shown[Block.SCHEDULE_REPEAT_EVERY]["element"]["initial_value"] == "7"
    assert shown[Block.SCHEDULE_REPEAT_LIMIT]["element"]["initial_value"] == "8"
    assert [o["value"] for o in shown[Block.SCHEDULE_OPTIONS]["element"]["initial_options"]] == [
        "thank_you"]
    # No "Make this the default" box on the default: unticked, it did nothing.
    assert [o["value"] for o in shown[Block.SCHEDULE_OPTIONS]["element"]["options"]] == [
        "thank_you"]
    assert shown[Block.SCHEDULE_OPTIONS]["hint"]["text"].startswith("This is the default")
    assert Block.SCHEDULE_NAME not in shown

    # Wrong parts: each is named under its own block, and nothing is saved.
    bad = submit(world, pushed, values_for(pushed, overdue="2\n2", every="0",
                                           sender=("Sam", "sam@")))
    errors = bad.json()["errors"]
    assert bad.json()["response_action"] == "errors"
    assert "same day" in errors[shown[Block.SCHEDULE_OVERDUE]["block_id"]]
    assert "1 to 365" in errors[shown[Block.SCHEDULE_REPEAT_EVERY]["block_id"]]
    assert "is not an email address" in errors[shown[Block.SENDER_EMAIL]["block_id"]]
    assert len(errors) == 3
    assert audit_actions(world) == []

    saved = submit(world, pushed, values_for(
        pushed, overdue="2:template=final_notice,escalated",
        sender=("Sam Accounts", "sam@books.example"),
        escalated=("Alex Boss", "alex@books.example")))
    assert saved.response.status_code == 200 and saved.response.text == ""
    dm = world.fake.wait_for(lambda fake: [c for c in fake.calls_to("chat.postMessage")
                                           if c.args.get("channel") == ADMIN
                                           and "chasing schedule" in c.args.get("text", "")])
    assert dm[0].args["text"] == f"Saved the Default chasing schedule for {name}."
    now = datetime.now(UTC)
    with session_scope(world.deps.session_factory) as session:
        stored = find_schedule(session, connection_id, None, now=now)
        row = organisation_settings(session, connection_id)
        assert (row.sender_name, row.sender_email, row.escalated_sender_email) == (
            "Sam Accounts", "sam@books.example", "alex@books.example")
    assert stored.spec == ScheduleSpec("Default", (StepSpec(
        Part.OVERDUE, 2, "final_notice", escalated_sender=True, escalated_recipients=True),))
    plan = plan_chase(world.deps.session_factory, connection_id, now, ignore_window=True)
    assert plan.emails, "the sandbox has invoices more than two days overdue"
    assert {(e.template, e.escalated_sender) for e in plan.emails} == {("final_notice", True)}
    assert {i.step_key for e in plan.emails for i in e.invoices} == {"overdue:2"}
    assert audit_actions(world) == [("schedule.saved", ADMIN), ("settings.sender", ADMIN),
                                    ("settings.sender", ADMIN)]


def test_picking_new_schedule_redraws_the_modal_and_a_taken_name_is_refused(world):
    connection_id, name = first_organisation(world)
    world.send.command(f'schedule edit "{name}"', user=ADMIN)
    opened = wait_for_view(world, "views.open")
    picker = inputs(opened)[Block.SCHEDULE_PICK]
    assert picker["dispatch_action"] is True
    new = next(o for o in picker["element"]["options"] if o["value"] == "new")
    click(world, opened, {"action_id": Action.SCHEDULE_PICK, "block_id": Block.SCHEDULE_PICK,
                          "type": "static_select", "selected_option": new})
    world.fake.wait_for_calls("views.update")
    redrawn = world.fake.views[opened["id"]]
    assert decode_as(redrawn["private_metadata"], ScheduleRef) == ScheduleRef(c=connection_id,
                                                                              r=True)
    assert redrawn["close"]["text"] == "Cancel"  # opened on its own: nothing to go back to
    assert Block.SCHEDULE_NAME in inputs(redrawn)
    # New block ids, so Slack shows the new values rather than keeping what was typed.
    assert inputs(redrawn)[Block.SCHEDULE_OVERDUE]["block_id"] == "schedule_overdue:new"

    taken = submit(world, redrawn, values_for(redrawn, name="default", overdue="1"))
    assert "There is a schedule called Default already" in taken.json()["errors"][
        "schedule_name:new"]
    made = submit(world, redrawn, values_for(redrawn, name="Strict", overdue="1\n10:approval",
                                             every="5", options=("thank_you",)))
    assert made.response.status_code == 200
    with session_scope(world.deps.session_factory) as session:
        found = {s.spec.name: s for s in schedules(session, connection_id, now=datetime.now(UTC))}
    assert found["Default"].is_default and not found["Strict"].is_default
    assert [s.key for s in found["Strict"].spec.steps] == ["overdue:1", "overdue:10", "paid:0"]
    assert found["Strict"].spec.repeat_every_days == 5

    (listed,) = ask(world, "schedule", user=MEMBER)
    text = blocks_text(listed)
    assert listed["response_type"] == "ephemeral"
    assert f"Chasing schedules: {name}" in text and "*Strict*" in text
    assert "10 days after due — overdue, grouped, needs approval" in text
    assert "*Default* (default)" in text


def test_only_admins_may_edit_and_each_refusal_is_audited(world):
    connection_id, name = first_organisation(world)
    settings = open_settings(world, name)  # as an admin; a member clicks its button
    notice = push_schedule_modal(world, settings, user=MEMBER)
    assert notice["callback_id"] == View.NOTICE
    assert notice["blocks"][0]["text"]["text"].startswith(
        "Only admins can change chasing schedules")
    (refused,) = ask(world, f'schedule edit "{name}"', user=MEMBER)
    assert refused["text"].startswith("Only admins can change chasing schedules")
    assert [c.args["view"]["callback_id"] for c in world.fake.calls_to("views.open")] == [
        "settings"]
    # A forged submission is refused too, under a block of the form; nothing is saved.
    button = next(b for b in settings["blocks"] if b.get("block_id") == Block.SETTINGS_SCHEDULE)
    assert decode_as(button["accessory"]["value"], SettingsForm).c == connection_id
    pushed = push_schedule_modal(world, settings, count=2)
    forged = submit(world, pushed, values_for(pushed, overdue="1"), user=MEMBER)
    assert forged.json()["response_action"] == "errors"
    (said,) = forged.json()["errors"].values()
    assert said.startswith("Only admins")
    assert audit_actions(world) == [("permission.refused", MEMBER)] * 3


def test_schedule_customer_puts_a_customer_on_a_schedule_with_close_matches(world):
    connection_id, _ = first_organisation(world)
    with session_scope(world.deps.session_factory) as session:
        save_schedule(session, connection_id, ScheduleSpec("Firm terms", (
            StepSpec(Part.OVERDUE, 3, "final_notice"),)), by="test", now=datetime.now(UTC))
        names = sorted(n for n in session.scalars(select(Contact.name).where(
            Contact.connection_id == connection_id)) if n)
        contact = session.scalars(select(Contact).where(Contact.name == names[-1])).one()
        contact_id, customer = contact.id, contact.name

    (refused,) = ask(world, f'schedule customer "{customer}" Firm terms', user=MEMBER)
    assert refused["text"].startswith("Only admins can change chasing schedules")
    (done,) = ask(world, f"schedule customer {customer} firm TERMS", user=ADMIN)
    assert done["text"].startswith(f"{customer} (") and "on the Firm terms schedule." in \
        done["text"]
    now = datetime.now(UTC)
    plan = plan_chase(world.deps.session_factory, connection_id, now, ignore_window=True)
    assert {e.schedule_name for e in plan.emails if e.contact_id == contact_id} <= {"Firm terms"}

    (unknown,) = ask(world, f'schedule customer "{customer}" Gentle', user=ADMIN)
    assert unknown["text"].startswith("“") and "does not end with a schedule's name" in \
        unknown["text"] and "\n" not in unknown["text"]

    common = names[0][:1]  # a letter several names start with: close matches as buttons
    (choice,) = ask(world, f"schedule customer {common} Default", user=ADMIN)
    assert "Which one goes on Default?" in blocks_text(choice)
    button = choice["blocks"][1]["elements"][0]
    assert button["action_id"].startswith(f"{Action.SCHEDULE_CUSTOMER_PICK}:")
    payload = block_actions_payload(world.fake, {"action_id": button["action_id"],
                                                 "value": button["value"]}, user=ADMIN)
    assert world.send.interaction(payload).response.status_code == 200
    (moved,) = world.fake.wait_for_hook(payload["response_url"])
    assert moved["replace_original"] is True and "on the Default schedule (the default)" in \
        moved["text"]
    assert audit_actions(world) == [("schedule.saved", "test"), ("permission.refused", MEMBER),
                                    ("contact.schedule", ADMIN), ("contact.schedule", ADMIN)]


def test_schedule_with_other_words_gets_its_usage_line(world):
    for text in ("schedule customer Acme", "schedule delete Default"):
        assert world.send.command(text, user=ADMIN).json()["text"] == (
            "Usage: `/chaser schedule [edit [org] | customer <name> <schedule>]`")


@pytest.mark.parametrize(("words", "found"), [
    (["Acme", "Ltd", "Firm", "terms"], ("Acme Ltd", "Firm terms")),
    (["Acme", "firm", "TERMS"], ("Acme", "Firm terms")),  # the longest name wins over "terms"
    (["Acme", "Ltd", "terms"], ("Acme Ltd", "terms")),
    (["Acme Ltd", "Default"], ("Acme Ltd", "Default")),  # a quoted name is one word
    (["Acme", "Gentle"], None),
    (["Default"], None),  # a schedule but no customer
])
def test_the_words_end_with_a_schedules_name_and_the_rest_is_the_customer(words, found):
    from bot.handlers.schedules import split_customer

    assert split_customer(words, ["Default", "Firm terms", "terms"]) == found


def test_a_sender_name_past_its_limit_is_named_under_its_input_and_the_modal_stays(world):
    # The input's max_length holds Slack's clients to 255; a submission past it (another
    # client, a forged one) closed the modal, losing what was typed, and came back as a DM.
    _, name = first_organisation(world)
    pushed = push_schedule_modal(world, open_settings(world, name))
    refused = submit(world, pushed, values_for(pushed, overdue="3", sender=("x" * 300, ""),
                                               escalated=("y" * 256, "")))
    assert refused.json()["response_action"] == "errors"
    shown = inputs(pushed)
    assert refused.json()["errors"] == {
        shown[Block.SENDER_NAME]["block_id"]: "A sender's name is at most 255 characters "
                                             "(got 300).",
        shown[Block.ESCALATED_SENDER_NAME]["block_id"]: "A sender's name is at most 255 "
                                                       "characters (got 256)."}
    assert audit_actions(world) == []


def test_a_second_pick_on_a_modal_already_redrawn_is_dropped_quietly(world):
    # Two picks before the first redraw lands: the second carries the old hash, Slack answers
    # hash_conflict ("the view may have been updated by another process"), and the person got
    # "Something went wrong" by DM. The modal shows the first pick, its picker saying so.
    _, name = first_organisation(world)
    world.send.command(f'schedule edit "{name}"', user=ADMIN)
    opened = wait_for_view(world, "views.open")
    picker = inputs(opened)[Block.SCHEDULE_PICK]
    new = next(o for o in picker["element"]["options"] if o["value"] == "new")
    for _ in range(2):
        click(world, opened, {"action_id": Action.SCHEDULE_PICK, "block_id": Block.SCHEDULE_PICK,
                              "type": "static_select", "selected_option": new})
    updates = world.fake.wait_for_calls("views.update", 2, ok=None)
    assert sorted(call.error or "" for call in updates) == ["", "hash_conflict"]
    time.sleep(0.5)  # the DM came within milliseconds of the refused update
    redrawn = world.fake.views[opened["id"]]
    assert inputs(redrawn)[Block.SCHEDULE_PICK]["element"]["initial_option"]["value"] == "new"
    said = [c.args.get("text", "") for c in world.fake.calls
            if c.method.startswith("chat.") and c.args.get("channel") == ADMIN]
    assert not [text for text in said if "Something went wrong" in text]
