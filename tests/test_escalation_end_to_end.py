"""End to end: the Xero sandbox, the app over signed HTTP against the fake Slack, and real SMTP.

Books come from the sandbox through a real sync; the chase run holds the escalated step and the
app posts its card; clicks are signed block_actions sent to /slack/events as Slack sends them;
the approved email arrives at an aiosmtpd server on loopback.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.chasing.chase_run import chase_organisation
from bot.chasing.plan import chase_window, plan_chase
from bot.chasing.policy import SkipReason
from bot.chasing.schedule_store import save_schedule
from bot.chasing.schedules import Part, ScheduleSpec, StepSpec
from bot.deps import escalation_service, forewarn_service, reminder_sender
from bot.ids import Action, Block
from storage.db import session_scope
from storage.models import (
    ApprovalRequest,
    ApprovalStatus,
    AuditEntry,
    MemberRole,
    Reminder,
    ReminderState,
    XeroConnection,
)
from storage.repositories import get_or_create_workspace, set_workspace_members
from storage.settings import organisation_settings, update_organisation_settings
from tests.fakes.slack_api import DEFAULT_TEAM
from tests.fakes.slack_requests import block_actions_payload
from tests.fixtures.slack import ADMIN, MEMBER, OWNER

DIGEST = "C0DIGEST01"


@pytest.fixture
def stage(make_world, make_slack_world, smtp_server, migrated_db, fake_slack):
    """A synced sandbox organisation in the Slack workspace, and chaser-bot serving Slack."""
    xero = make_world(contacts=8, invoices=60)
    mail = smtp_server()
    # The Slack app shares the database and the key file the connection's tokens use.
    app = make_slack_world(database_url=migrated_db, xero=xero.server, SMTP_URL=mail.url,
                           SMTP_FROM="ar@kiwi.example", CHASER_SECRET_KEY=None)
    fake_slack.add_channel(DIGEST, "receivables")
    connection_id = xero.connection_id
    assert xero.ctx.sync_service().sync(connection_id).outcome == "ok"
    with session_scope(xero.ctx.session_factory) as session:
        workspace = get_or_create_workspace(session, DEFAULT_TEAM)
        session.execute(update(XeroConnection).where(XeroConnection.id == connection_id)
                        .values(workspace_id=workspace.id))
        set_workspace_members(session, workspace.id, MemberRole.MANAGER, [ADMIN, OWNER])
        update_organisation_settings(session, connection_id, by="test",
                                     digest_channel_id=DIGEST, chase_days="1,2,3,4,5,6,7",
                                     chase_time="23:59", skip_public_holidays=False,
                                     escalated_sender_name="Alex Boss",
                                     escalated_sender_email="alex@kiwi.example")
    return xero, app, mail, connection_id


def _click(app, action_id: str, value: str, *, user: str, channel: str, ts: str,
           selected: bool = False) -> str:
    action = {"action_id": action_id, "block_id": Block.ESCALATION_ACTIONS}
    if selected:
        action |= {"type": "static_select", "selected_option": {"value": value}}
    else:
        action["value"] = value
    payload = block_actions_payload(app.fake, action, user=user, channel=channel,
                                    message={"type": "message", "ts": ts})
    sent = app.send.interaction(payload)
    assert sent.response.status_code == 200
    return payload["response_url"]


def test_an_escalation_is_approved_in_slack_and_its_email_goes_once(stage):
    _, app, mail, connection_id = stage
    deps = app.deps
    escalated = ScheduleSpec("Default", (StepSpec(
        Part.OVERDUE, 1, "final_notice", grouped=True, escalated_sender=True,
        escalated_recipients=True, needs_approval=True),))
    with session_scope(deps.session_factory) as session:
        save_schedule(session, connection_id, escalated, by="test", now=deps.clock())
    escalations = escalation_service(deps, app.app.clients)
    with reminder_sender(deps) as sender:  # "Chase now": the window does not matter here
        outcome = chase_organisation(connection_id, session_factory=deps.session_factory,
                                     clock=deps.clock, sender=sender, sync=None,
                                     ignore_window=True, hold=escalations.hold)
    held = outcome.result.held_for_approval
    assert held >= 1 and outcome.result.emails_sent == 0 and mail.received == []
    cards = app.fake.calls_to("chat.postMessage", ok=True)
    assert len(cards) == 2 * held  # a DM to each of the two managers per held email
    first = cards[0]
    card_channel, card_ts = next((channel, ts) for (channel, ts), message
                                 in app.fake.messages.items()
                                 if message["blocks"] == first.args["blocks"])
    buttons = next(b for b in first.args["blocks"]
                   if b.get("block_id") == Block.ESCALATION_ACTIONS)["elements"]
    value = buttons[0]["value"]

    # Someone who is not a manager is refused, privately, and the try is on record.
    hook = _click(app, Action.ESCALATION_APPROVE, value, user=MEMBER, channel=card_channel,
                  ts=card_ts)
    refusal = app.fake.wait_for_hook(hook)[0]
    assert refusal["response_type"] == "ephemeral"
    assert refusal["text"].startswith("Only managers can approve escalated emails")
    assert mail.received == []

    # A manager approves: the escalated email goes, once, and both managers' cards say so.
    _click(app, Action.ESCALATION_APPROVE, value, user=ADMIN, channel=card_channel, ts=card_ts)
    app.fake.wait_for(lambda fake: len({
        call.args["channel"] for call in fake.calls_to("chat.update", ok=True)
        if "email sent" in str(call.args.get("blocks"))}) == 2)
    assert len(mail.received) == 1
    message = mail.received[0].message
    # From the escalated sender (SMTP_FROM is the envelope address; replies go to the sender).
    assert str(message["From"]).startswith("Alex Boss")
    assert str(message["Reply-To"]) == "alex@kiwi.example"
    updated = [c for c in app.fake.calls_to("chat.update", ok=True)
               if "email sent" in str(c.args["blocks"])]
    assert len({call.args["channel"] for call in updated}) == 2
    assert f"Approved by <@{ADMIN}>" in str(updated[-1].args["blocks"])

    # The other manager's late click changes nothing.
    late = _click(app, Action.ESCALATION_APPROVE, value, user=OWNER, channel=card_channel,
                  ts=card_ts)
    assert "already handled" in app.fake.wait_for_hook(late)[0]["text"]
    assert len(mail.received) == 1
    with session_scope(deps.session_factory) as session:
        statuses = session.scalars(select(ApprovalRequest.status)).all()
        actions = [(e.action, e.actor) for e in session.scalars(select(AuditEntry))]
    assert statuses.count(ApprovalStatus.SENT) == 1
    assert ("escalation.refused", MEMBER) in actions
    assert ("escalation.approved", ADMIN) in actions


def hold_escalations(app, connection_id: int) -> None:
    """Every overdue step needs approval; a chase run holds each email for a manager."""
    deps = app.deps
    with session_scope(deps.session_factory) as session:
        save_schedule(session, connection_id, ScheduleSpec("Default", (StepSpec(
            Part.OVERDUE, 1, "final_notice", needs_approval=True),)), by="test",
            now=deps.clock())
    escalations = escalation_service(deps, app.app.clients)
    with reminder_sender(deps) as sender:
        chase_organisation(connection_id, session_factory=deps.session_factory,
                           clock=deps.clock, sender=sender, sync=None, ignore_window=True,
                           hold=escalations.hold)


def test_snooze_and_decline_from_the_card(stage):
    _, app, mail, connection_id = stage
    deps = app.deps
    hold_escalations(app, connection_id)
    with session_scope(deps.session_factory) as session:
        requests = session.scalars(select(ApprovalRequest).order_by(ApprovalRequest.id)).all()
    assert len(requests) >= 2
    posts = app.fake.calls_to("chat.postMessage", ok=True)

    def controls(request_id: int) -> tuple[str, str, list[dict]]:
        for (channel, ts), message in app.fake.messages.items():
            for block in message["blocks"]:
                if block.get("block_id") == Block.ESCALATION_ACTIONS and \
                        f'"r":{request_id}' in block["elements"][0]["value"]:
                    return channel, ts, block["elements"]
        raise AssertionError(f"no card for request {request_id}")

    channel, ts, elements = controls(requests[0].id)
    one_day = next(o for o in elements[2]["options"] if o["text"]["text"] == "1 day")
    _click(app, Action.ESCALATION_SNOOZE, one_day["value"], user=OWNER, channel=channel, ts=ts,
           selected=True)
    channel, ts, elements = controls(requests[1].id)
    _click(app, Action.ESCALATION_DECLINE, elements[1]["value"], user=ADMIN, channel=channel,
           ts=ts)
    app.fake.wait_for(lambda fake: "Declined by" in str(fake.calls_to("chat.update"))
                      and "Snoozed by" in str(fake.calls_to("chat.update")))
    with session_scope(deps.session_factory) as session:
        snoozed = session.get(ApprovalRequest, requests[0].id)
        declined = session.get(ApprovalRequest, requests[1].id)
        assert snoozed.status is ApprovalStatus.SNOOZED
        assert snoozed.ask_again_at - snoozed.decided_at == timedelta(hours=24)
        assert declined.status is ApprovalStatus.DECLINED
        declined_states = session.scalars(select(Reminder.state).where(
            Reminder.message_id == declined.request_key)).all()
    assert declined_states and set(declined_states) == {ReminderState.DECLINED}
    plan = plan_chase(deps.session_factory, connection_id, deps.clock(), ignore_window=True)
    paused = {s.invoice_id for s in plan.skipped if s.reason is SkipReason.INVOICE_PAUSED}
    assert set(declined.invoice_ids) <= paused
    assert mail.received == [] and len(app.fake.calls_to("chat.postMessage", ok=True)) == len(
        posts)


@pytest.mark.parametrize("hours", [10**9, -5, 0])
def test_a_snooze_the_card_does_not_offer_is_acknowledged_refused_and_changes_nothing(
        stage, hours):
    # A Snooze value from an older card or another release: it must still be answered 200
    # (an error after the ack turned it into a 404) and must not snooze for any odd length.
    _, app, _, connection_id = stage
    deps = app.deps
    hold_escalations(app, connection_id)
    with session_scope(deps.session_factory) as session:
        request_id = session.scalars(select(ApprovalRequest.id)).first()
    odd = json.dumps({"v": "e1", "r": request_id, "h": hours})
    # Someone who may not decide hears that first, whatever the value, and the try is audited.
    hook = _click(app, Action.ESCALATION_SNOOZE, odd, user=MEMBER, channel=DIGEST,
                  ts="1700000000.000100", selected=True)
    assert app.fake.wait_for_hook(hook)[0]["text"].startswith("Only managers can")
    hook = _click(app, Action.ESCALATION_SNOOZE, odd, user=ADMIN, channel=DIGEST,
                  ts="1700000000.000100", selected=True)
    (said,) = app.fake.wait_for_hook(hook)
    assert said["text"].startswith("That snooze is not one this card offers")
    with session_scope(deps.session_factory) as session:
        request = session.get(ApprovalRequest, request_id)
        assert (request.status, request.ask_again_at) == (ApprovalStatus.PENDING, None)
        refused = session.scalars(select(AuditEntry.actor).where(
            AuditEntry.action == "escalation.refused")).all()
    assert refused == [MEMBER]


def test_the_forewarn_posts_tomorrows_plan_and_skip_holds_a_customer_back(stage):
    _, app, mail, connection_id = stage
    deps = app.deps
    forewarns = forewarn_service(deps, app.app.clients)
    tomorrow = deps.clock().astimezone(xero_zone(deps, connection_id)).date() + timedelta(days=1)
    assert forewarns.post(connection_id, tomorrow) == "posted"
    posted = app.fake.wait_for_calls("chat.postMessage")[0]
    assert posted.args["channel"] == DIGEST
    blocks = posted.args["blocks"]
    customers = [b for b in blocks if b.get("block_id", "").startswith("forewarn_customer_")]
    assert customers
    skipped_block = customers[0]
    ts = next(ts for (channel, ts) in app.fake.messages if channel == DIGEST)
    payload = block_actions_payload(
        app.fake, {"action_id": Action.FOREWARN_SKIP, "block_id": skipped_block["block_id"],
                   "value": skipped_block["accessory"]["value"]},
        user=MEMBER, channel=DIGEST, message={"type": "message", "ts": ts})
    app.send.interaction(payload)
    confirmation = app.fake.wait_for_hook(payload["response_url"])[0]
    assert "won't be chased" in confirmation["text"]
    shown = app.fake.wait_for_calls("chat.update")[-1].args["blocks"]
    assert f"Skipped by <@{MEMBER}>" in str(shown)

    # The run tomorrow sends to everyone in the plan but the skipped customer.
    contact_id = int(skipped_block["block_id"].rsplit("_", 1)[1])
    with session_scope(deps.session_factory) as session:
        connection = session.get(XeroConnection, connection_id)
        window = chase_window(organisation_settings(session, connection_id), connection)
    opens = window.opens_on(tomorrow)
    plan = plan_chase(deps.session_factory, connection_id, opens)
    assert all(email.contact_id != contact_id for email in plan.emails)
    assert any(s.reason is SkipReason.SKIPPED_BY_PERSON for s in plan.skipped)
    with reminder_sender(deps) as sender:
        result = sender.run(plan)
    assert result.emails_sent == len(plan.emails) == len(mail.received)
    with session_scope(deps.session_factory) as session:
        audit = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "forewarn.skipped")).one()
    assert audit.actor == MEMBER and audit.detail["contact_id"] == contact_id


def xero_zone(deps, connection_id: int):
    from bot.chasing.timezones import org_zone

    with session_scope(deps.session_factory) as session:
        return org_zone(session.get(XeroConnection, connection_id).timezone)


def test_the_scheduled_chase_job_syncs_holds_the_escalation_and_posts_its_card(stage):
    from bot.chasing.jobs import JobKind
    from bot.cli.serve import job_handlers

    _, app, mail, connection_id = stage
    deps = app.deps
    zone = xero_zone(deps, connection_id)
    local = deps.clock().astimezone(zone)
    # A minute ago, but never yesterday: the window must open today for the run to send.
    opened = max(local - timedelta(minutes=1), local.replace(hour=0, minute=0, second=0,
                                                             microsecond=0))
    with session_scope(deps.session_factory) as session:
        update_organisation_settings(session, connection_id, by="test",
                                     chase_time=opened.strftime("%H:%M"))
        save_schedule(session, connection_id, ScheduleSpec("Default", (
            StepSpec(Part.OVERDUE, 1, "final_notice", needs_approval=True),)),
            by="test", now=deps.clock())
    chase = job_handlers(deps, app.app.clients)[JobKind.CHASE]
    assert chase(connection_id, opened.date()) == "sent 0"
    assert mail.received == []
    with session_scope(deps.session_factory) as session:
        held = session.scalars(select(ApprovalRequest)).all()
    assert held and len(app.fake.calls_to("chat.postMessage", ok=True)) == 2 * len(held)
