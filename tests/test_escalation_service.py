"""Escalations on a real database, the fake Slack Web API and a real SMTP server on loopback."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from bot.chasing.escalation import EscalationService
from bot.chasing.mailer import SmtpMailer
from bot.chasing.permissions import Actor, NoDirectory, Permissions
from bot.chasing.plan import plan_chase
from bot.chasing.policy import SkipReason
from bot.chasing.reminders import ReminderSender
from bot.chasing.schedule_store import save_schedule
from bot.chasing.schedules import Part, ScheduleSpec, StepSpec
from bot.ids import Action, Block
from bot.messages import SLACK
from bot.payloads import EscalationRef, decode_as
from bot.slack_cards import SlackCardPoster
from bot.slack_clients import SlackClients
from storage.db import make_engine, make_session_factory, session_scope
from storage.models import (
    ApprovalCard,
    ApprovalRequest,
    ApprovalStatus,
    AuditEntry,
    Invoice,
    MemberRole,
    Reminder,
    ReminderState,
    XeroConnection,
)
from storage.repositories import get_or_create_workspace, set_workspace_members
from tests.chasing_world import TODAY, Clock, make_books
from tests.fakes.slack_api import BOT_TOKEN, DEFAULT_TEAM, FakeSlack

BOSS, DEPUTY, CLERK = "U0BOSS01", "U0DEPUTY1", "U0CLERK01"
APPROVALS = "C0APPROVALS"


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.fixture
def slack() -> FakeSlack:
    with FakeSlack() as fake:
        for user in (BOSS, DEPUTY, CLERK):
            fake.add_user(user, name=user.lower())
        fake.add_channel(APPROVALS, "approvals")
        yield fake


class World:
    """One organisation whose 1-day-overdue step is escalated and needs a manager."""

    def __init__(self, session_factory, slack: FakeSlack, smtp_url: str) -> None:
        self.session_factory = session_factory
        self.clock = Clock()
        self.books = make_books(session_factory)
        with session_scope(session_factory) as session:
            workspace = get_or_create_workspace(session, DEFAULT_TEAM)
            session.execute(update(XeroConnection).values(workspace_id=workspace.id))
            set_workspace_members(session, workspace.id, MemberRole.MANAGER, [BOSS, DEPUTY])
            self.workspace_id = workspace.id
        escalated = ScheduleSpec("Default", (StepSpec(
            Part.OVERDUE, 1, "final_notice", escalated_sender=True, escalated_recipients=True,
            needs_approval=True),))
        with session_scope(session_factory) as session:
            save_schedule(session, self.books.connection_id, escalated, by="test",
                          now=self.clock())
        self.acme = self.books.customer("Acme Ltd", "ap@acme.example",
                                        escalated=("ceo@acme.example",))
        self.invoice = self.books.invoice(self.acme, "INV-7", days(-1), "250.00")
        self.sender = ReminderSender(session_factory=session_factory,
                                     mailer=SmtpMailer(smtp_url), clock=self.clock)
        self.service = EscalationService(
            session_factory=session_factory, clock=self.clock,
            cards=SlackCardPoster(SlackClients(base_url=slack.api_url, bot_token=BOT_TOKEN)),
            senders=lambda: nullcontext(self.sender), permissions=self.permissions(session_factory),
        )

    def permissions(self, session_factory) -> Permissions:
        return Permissions(session_factory, NoDirectory(), self.clock)

    def actor(self, user: str) -> Actor:
        return Actor(user_id=user, team_id=DEFAULT_TEAM, workspace_id=self.workspace_id)

    def chase(self):
        plan = plan_chase(self.session_factory, self.books.connection_id, self.clock())
        return self.sender.run(plan, hold=self.service.hold)

    def request(self) -> ApprovalRequest:
        with session_scope(self.session_factory) as session:
            return session.scalars(select(ApprovalRequest)).one()

    def ledger(self) -> list[ReminderState]:
        with session_scope(self.session_factory) as session:
            return list(session.scalars(select(Reminder.state)))

    def actions(self) -> list[tuple[str, str]]:
        with session_scope(self.session_factory) as session:
            return [(e.action, e.actor) for e in session.scalars(
                select(AuditEntry).order_by(AuditEntry.id))]


@pytest.fixture
def world(session_factory, slack, smtp_server):
    server = smtp_server()
    made = World(session_factory, slack, server.url)
    made.smtp = server
    return made


def _decision_line(blocks: list[dict]) -> str:
    block = next(b for b in blocks if b.get("block_id") == Block.ESCALATION_DECISION)
    return block["elements"][0]["text"]


def test_a_held_escalation_posts_a_card_to_each_manager_by_dm(world, slack):
    result = world.chase()
    assert (result.held_for_approval, result.emails_sent) == (1, 0)
    posts = slack.calls_to("chat.postMessage", ok=True)
    assert sorted(call.args["channel"] for call in posts) == [BOSS, DEPUTY]
    blocks = posts[0].args["blocks"]
    text = str(blocks)
    for expected in ("Acme Ltd", "INV-7", "250.00", "ceo@acme.example", "Alex Boss"):
        assert expected in text
    actions = next(b for b in blocks if b.get("block_id") == Block.ESCALATION_ACTIONS)
    assert [e["action_id"] for e in actions["elements"]] == [
        Action.ESCALATION_APPROVE, Action.ESCALATION_DECLINE, Action.ESCALATION_SNOOZE]
    request = world.request()
    assert decode_as(actions["elements"][0]["value"], EscalationRef) == EscalationRef(request.id)
    assert world.ledger() == [ReminderState.AWAITING_APPROVAL]
    # A second run neither asks again nor sends.
    again = world.chase()
    assert (again.held_for_approval, again.emails_sent) == (0, 0)
    assert len(slack.calls_to("chat.postMessage", ok=True)) == 2


def test_with_an_approvals_channel_one_card_goes_there(world, slack):
    world.books.settings(approvals_channel_id=APPROVALS)
    world.chase()
    assert [c.args["channel"] for c in slack.calls_to("chat.postMessage", ok=True)] == [APPROVALS]


def test_approval_sends_the_escalated_email_once_and_updates_every_card(world, slack):
    world.chase()
    request = world.request()
    assert world.service.approve(request.id, world.actor(BOSS)).ok
    assert len(world.smtp.received) == 1
    sent = world.smtp.received[0]
    assert sent.rcpt_tos == ["ceo@acme.example"]
    assert "alex@kiwiplumbing.example" in str(sent.message["From"])
    assert world.request().status is ApprovalStatus.SENT
    assert world.ledger() == [ReminderState.SENT]
    # Both managers' DMs now say who approved; neither has buttons left.
    updates = slack.calls_to("chat.update", ok=True)
    final = {call.args["channel"]: call.args["blocks"] for call in updates}
    assert set(final) == {"D" + BOSS[1:], "D" + DEPUTY[1:]}
    for blocks in final.values():
        assert _decision_line(blocks).startswith(f":white_check_mark: Approved by <@{BOSS}>")
        assert "email sent" in _decision_line(blocks)
        assert all(b.get("block_id") != Block.ESCALATION_ACTIONS for b in blocks)
    # The deputy clicks the old card a moment later: nothing more happens.
    late = world.service.approve(request.id, world.actor(DEPUTY))
    assert not late.ok and "already handled" in late.reply.render(SLACK)
    assert len(world.smtp.received) == 1
    assert ("escalation.approved", BOSS) in world.actions()
    assert ("escalation.sent", "scheduler") in world.actions()


def test_two_managers_approving_at_once_send_one_email(world, migrated_db):
    world.chase()
    request_id = world.request().id
    engines = [make_engine(migrated_db) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: dict[str, bool] = {}

    def click(user: str, engine) -> None:
        service = EscalationService(session_factory=make_session_factory(engine),
                                    clock=world.clock, cards=world.service._cards,
                                    senders=lambda: nullcontext(ReminderSender(
                                        session_factory=make_session_factory(engine),
                                        mailer=SmtpMailer(world.smtp.url), clock=world.clock)),
                                    permissions=world.permissions(make_session_factory(engine)))
        barrier.wait()
        outcomes[user] = service.approve(request_id, world.actor(user)).ok

    threads = [threading.Thread(target=click, args=(user, engine))
               for user, engine in zip((BOSS, DEPUTY), engines, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()
    assert sorted(outcomes.values()) == [False, True]
    assert len(world.smtp.received) == 1


def test_someone_who_is_not_a_manager_is_refused_and_the_try_is_audited(world, slack):
    world.chase()
    request = world.request()
    refused = world.service.approve(request.id, world.actor(CLERK))
    assert not refused.ok
    assert refused.reply.render(SLACK) == (
        "Only managers can approve escalated emails: the managers named in settings "
        f"(<@{BOSS}>, <@{DEPUTY}>).")
    assert world.request().status is ApprovalStatus.PENDING
    assert world.smtp.received == []
    assert ("escalation.refused", CLERK) in world.actions()
    assert slack.calls_to("chat.update") == []


def test_declining_stops_chasing_the_invoice(world, slack):
    world.chase()
    assert world.service.decline(world.request().id, world.actor(DEPUTY)).ok
    assert world.ledger() == [ReminderState.DECLINED]
    with session_scope(world.session_factory) as session:
        invoice = session.get(Invoice, world.invoice)
        assert invoice.chasing_paused and invoice.chasing_paused_until is None
    after = world.chase()
    assert (after.emails_sent, after.held_for_approval) == (0, 0)
    plan = plan_chase(world.session_factory, world.books.connection_id, world.clock())
    assert [s.reason for s in plan.skipped] == [SkipReason.INVOICE_PAUSED]
    assert world.smtp.received == []
    blocks = slack.calls_to("chat.update", ok=True)[-1].args["blocks"]
    assert _decision_line(blocks).startswith(f":no_entry_sign: Declined by <@{DEPUTY}>")


def test_a_snoozed_escalation_is_asked_again_after_the_chosen_time(world, slack):
    world.chase()
    request_id = world.request().id
    assert world.service.snooze(request_id, world.actor(BOSS), 24).ok
    assert world.request().status is ApprovalStatus.SNOOZED
    assert "Snoozed by" in _decision_line(slack.calls_to("chat.update", ok=True)[-1].args["blocks"])
    world.clock.now += timedelta(hours=23)
    world.service.tick()
    assert len(slack.calls_to("chat.postMessage", ok=True)) == 2  # the first two DMs only
    world.clock.now += timedelta(hours=2)
    world.service.tick()
    world.service.tick()  # a second tick asks nothing more
    posts = slack.calls_to("chat.postMessage", ok=True)
    assert len(posts) == 4
    assert any(b.get("block_id") == Block.ESCALATION_ACTIONS for b in posts[-1].args["blocks"])
    assert world.request().status is ApprovalStatus.PENDING
    with session_scope(world.session_factory) as session:
        assert len(session.scalars(select(ApprovalCard)).all()) == 4
    assert world.smtp.received == []


def test_a_refused_send_is_retried_by_the_next_chase_run_and_settled(world, slack):
    world.chase()
    world.smtp.handler.refuse_next.append("451 4.3.0 try again later")
    world.service.approve(world.request().id, world.actor(BOSS))
    assert world.request().status is ApprovalStatus.SEND_FAILED
    assert world.ledger() == [ReminderState.APPROVED]
    assert "did not go" in _decision_line(slack.calls_to("chat.update", ok=True)[-1].args["blocks"])
    retried = world.chase()
    assert retried.emails_sent == 1 and len(world.smtp.received) == 1
    world.service.tick()
    assert world.request().status is ApprovalStatus.SENT
    assert "email sent" in _decision_line(slack.calls_to("chat.update", ok=True)[-1].args["blocks"])


def test_an_escalation_approved_after_the_invoice_was_paid_sends_nothing(world):
    world.chase()
    with session_scope(world.session_factory) as session:
        invoice = session.get(Invoice, world.invoice)
        invoice.status, invoice.amount_due = "PAID", 0
    world.service.approve(world.request().id, world.actor(BOSS))
    assert world.request().status is ApprovalStatus.WITHDRAWN
    assert world.smtp.received == []


def test_cards_are_not_posted_for_an_organisation_without_slack(session_factory, smtp_server):
    server = smtp_server()
    books = make_books(session_factory)  # the CLI workspace: no Slack to post to
    clock = Clock()
    with session_scope(session_factory) as session:
        save_schedule(session, books.connection_id, ScheduleSpec("Default", (StepSpec(
            Part.OVERDUE, 1, "overdue", needs_approval=True),)), by="test", now=clock())
    books.invoice(books.customer("Acme", "ap@acme.example"), "INV-1", days(-1))
    sender = ReminderSender(session_factory=session_factory, mailer=SmtpMailer(server.url),
                            clock=clock)
    service = EscalationService(session_factory=session_factory, clock=clock,
                                cards=SlackCardPoster(SlackClients(base_url="http://127.0.0.1:9")),
                                senders=lambda: nullcontext(sender),
                                permissions=Permissions(session_factory, NoDirectory(), clock))
    plan = plan_chase(session_factory, books.connection_id, clock())
    assert sender.run(plan, hold=service.hold).held_for_approval == 1
    with session_scope(session_factory) as session:
        assert session.scalars(select(ApprovalRequest.status)).all() == [ApprovalStatus.PENDING]
        assert session.scalars(select(ApprovalCard)).all() == []


def test_with_no_manager_named_the_admins_are_asked_and_may_approve(world, slack):
    with session_scope(world.session_factory) as session:
        set_workspace_members(session, world.workspace_id, MemberRole.MANAGER, [])
        set_workspace_members(session, world.workspace_id, MemberRole.ADMIN, [CLERK])
    world.chase()
    assert [c.args["channel"] for c in slack.calls_to("chat.postMessage", ok=True)] == [CLERK]
    assert world.service.approve(world.request().id, world.actor(CLERK)).ok
    assert len(world.smtp.received) == 1
