"""The digest in Slack, end to end: posted to the fake Slack, clicked through signed requests,
written back to the sandbox Xero, and updated in place with chat.update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.blocks.digest import line_ref
from bot.chasing.digest_post import DigestPoster
from bot.chasing.receivables import org_today
from bot.cli.demo import connect_unattended
from bot.deps import build_digest_poster
from bot.ids import Action, Block, Field, View
from bot.payloads import InvoiceRef, PageRef, decode_as, encode
from bot.sandbox.ledger import build_ledger
from storage import repositories
from storage.audit import latest_audit
from storage.db import session_scope
from storage.models import DigestMessage, DigestStatus, Invoice, MemberRole, XeroConnection
from storage.settings import update_organisation_settings
from tests.fakes.slack_requests import block_actions_payload, view_submission_payload
from tests.fixtures.slack import ADMIN, MEMBER

CHANNEL = "C0DIGEST01"


@dataclass
class DigestWorld:
    slack: Any  # SlackWorld
    sandbox: Any
    connection_id: int
    poster: DigestPoster
    ts: str = ""

    @property
    def fake(self) -> Any:
        return self.slack.fake

    @property
    def factory(self) -> Any:
        return self.slack.deps.session_factory

    def message(self) -> dict[str, Any]:
        return self.fake.messages[(CHANNEL, self.ts)]

    def line_blocks(self) -> list[dict[str, Any]]:
        return [b for b in self.message()["blocks"]
                if str(b.get("block_id", "")).startswith(f"{Block.DIGEST_LINE}:")]

    def click(self, action: dict[str, Any], *, user: str = MEMBER) -> Any:
        payload = block_actions_payload(self.fake, action, user=user, channel=CHANNEL,
                                        message={"type": "message", "ts": self.ts, "text": ""})
        sent = self.slack.send.interaction(payload)
        assert sent.response.status_code == 200
        return sent

    def invoice(self, invoice_id: int) -> Invoice:
        with session_scope(self.factory) as session:
            return session.get(Invoice, invoice_id)

    def today(self) -> date:
        with session_scope(self.factory) as session:
            connection = repositories.get_connection(session, self.connection_id)
            return org_today(self.slack.deps.clock(), connection.timezone)


@pytest.fixture
def digest_world(make_sandbox, make_slack_world) -> DigestWorld:
    sandbox = make_sandbox(ledger=build_ledger(seed=3, orgs=1, contacts=12, invoices=120))
    slack = make_slack_world(xero=sandbox)
    slack.fake.add_channel(CHANNEL, "ar-digest")
    (connected,) = connect_unattended(slack.deps).connected
    (report,) = slack.deps.sync_service().sync_all()
    assert report.outcome == "ok"
    with session_scope(slack.deps.session_factory) as session:
        update_organisation_settings(session, connected.connection_id, by="test",
                                     digest_channel_id=CHANNEL)
    poster = build_digest_poster(slack.deps, slack.app.clients.for_team)
    world = DigestWorld(slack, sandbox, connected.connection_id, poster)
    result = poster.post_digest(world.connection_id)
    assert result.outcome == "posted", result
    world.ts = result.message.ts
    return world


def ref_of(block: dict[str, Any]) -> str:
    return line_ref(block["block_id"])


def invoice_id_of(block: dict[str, Any]) -> int:
    return decode_as(ref_of(block), InvoiceRef).i


def test_the_digest_is_posted_once_a_day_in_its_channel_after_a_sync(digest_world):
    world = digest_world
    (post,) = world.fake.calls_to("chat.postMessage", ok=True)
    assert post.args["channel"] == CHANNEL
    assert world.message()["blocks"][0]["text"]["text"].startswith("Overdue digest · ")
    assert world.line_blocks()
    again = world.poster.post_digest(world.connection_id)
    assert again.outcome == "already_posted"
    assert len(world.fake.calls_to("chat.postMessage")) == 1
    with session_scope(world.factory) as session:
        row = session.scalars(select(DigestMessage)).one()
        assert (row.status, row.channel_id, row.message_ts) == (DigestStatus.POSTED, CHANNEL,
                                                                world.ts)
        assert latest_audit(session, connection_id=world.connection_id,
                            actions=("digest.posted",))


def test_pause_then_resume_update_the_message_in_place_and_the_audit_log(digest_world):
    world = digest_world
    first = world.line_blocks()[0]
    invoice_id = invoice_id_of(first)
    world.click({"action_id": Action.DIGEST_PAUSE.value, "block_id": f"db:{invoice_id}",
                 "value": ref_of(first)})
    (update,) = world.fake.wait_for_calls("chat.update", 1)
    assert update.args["ts"] == world.ts
    assert world.invoice(invoice_id).chasing_paused
    paused_line = next(b for b in world.line_blocks() if invoice_id_of(b) == invoice_id)
    assert "chasing paused" in paused_line["text"]["text"]
    world.click({"action_id": Action.DIGEST_RESUME.value, "value": ref_of(first)})
    world.fake.wait_for_calls("chat.update", 2)
    assert not world.invoice(invoice_id).chasing_paused
    with session_scope(world.factory) as session:
        actions = [e.action for e in latest_audit(session, invoice_id=invoice_id)]
    assert actions[:2] == ["invoice.resumed", "invoice.paused"]


def test_mark_disputed_asks_why_in_a_modal_and_stops_chasing_until_resolved(digest_world):
    world = digest_world
    first = world.line_blocks()[0]
    invoice_id = invoice_id_of(first)
    world.click({"action_id": Action.DIGEST_DISPUTE.value, "value": ref_of(first)})
    (opened,) = world.fake.wait_for_calls("views.open", 1)
    view = {**opened.args["view"], "id": "V1"}
    assert view["callback_id"] == View.DIGEST_DISPUTE

    empty = view_submission_payload(world.fake, view, {
        Block.DISPUTE_REASON: {Field.VALUE: {"type": "plain_text_input", "value": "  "}}},
        user=MEMBER)
    answer = world.slack.send.interaction(empty).json()
    assert answer["response_action"] == "errors"
    assert not world.invoice(invoice_id).disputed

    # The modal's max_length binds Slack's clients; a crafted submission is refused too.
    long = view_submission_payload(world.fake, view, {
        Block.DISPUTE_REASON: {Field.VALUE: {"type": "plain_text_input", "value": "x" * 501}}},
        user=MEMBER)
    answer = world.slack.send.interaction(long).json()
    assert answer["response_action"] == "errors"
    assert "500 characters" in answer["errors"][Block.DISPUTE_REASON]
    assert not world.invoice(invoice_id).disputed

    filled = view_submission_payload(world.fake, view, {
        Block.DISPUTE_REASON: {Field.VALUE: {"type": "plain_text_input",
                                             "value": "Goods arrived damaged"}}}, user=MEMBER)
    world.slack.send.interaction(filled)
    world.fake.wait_for_calls("chat.update", 1)
    invoice = world.invoice(invoice_id)
    assert (invoice.disputed, invoice.disputed_reason, invoice.disputed_by) == (
        True, "Goods arrived damaged", MEMBER)
    text = next(b for b in world.line_blocks() if invoice_id_of(b) == invoice_id)["text"]["text"]
    assert "disputed: “Goods arrived damaged”" in text

    world.click({"action_id": Action.DIGEST_RESOLVE.value, "value": ref_of(first)})
    world.fake.wait_for_calls("chat.update", 2)
    assert not world.invoice(invoice_id).disputed


def pick_date(world: DigestWorld, block: dict[str, Any], when: date) -> Any:
    return world.click({"action_id": Action.DIGEST_EXPECTED_DATE.value, "type": "datepicker",
                        "block_id": block["block_id"], "selected_date": when.isoformat()})


def test_a_date_picked_is_written_to_xero_and_shown_in_the_row(digest_world):
    world = digest_world
    with session_scope(world.factory) as session:
        clean = session.scalars(select(Invoice).where(
            Invoice.status == "AUTHORISED", Invoice.amount_paid == 0,
            Invoice.amount_credited == 0, Invoice.has_payments.is_(False))).all()
    ids = {i.id for i in clean}
    block = next(b for b in world.line_blocks() if invoice_id_of(b) in ids)
    invoice_id = invoice_id_of(block)
    when = world.today() + timedelta(days=9)
    sent = pick_date(world, block, when)
    (said,) = world.fake.wait_for_hook(sent.response_url)
    assert "in Xero too" in said["text"]
    invoice = world.invoice(invoice_id)
    assert invoice.expected_payment_date == when
    world.fake.wait_for_calls("chat.update", 1)
    row = next(b for b in world.line_blocks() if invoice_id_of(b) == invoice_id)
    assert row["accessory"]["initial_date"] == when.isoformat()
    # "If a message is updated, use a new block_id" (Block Kit): the picker's old state goes.
    assert row["block_id"] != block["block_id"] and when.isoformat() in row["block_id"]


def test_a_date_xero_refuses_is_kept_here_and_the_person_is_told_why(digest_world):
    world = digest_world
    with session_scope(world.factory) as session:
        part_paid = set(session.scalars(select(Invoice.id).where(
            Invoice.status == "AUTHORISED", Invoice.amount_paid > 0)))
    block = next((b for b in world.line_blocks() if invoice_id_of(b) in part_paid), None)
    if block is None:  # not on the first page: show the page that has one
        pytest.skip("no part-paid invoice among the top overdue in this ledger")
    when = world.today() + timedelta(days=5)
    sent = pick_date(world, block, when)
    (said,) = world.fake.wait_for_hook(sent.response_url)
    assert said["response_type"] == "ephemeral"
    assert said["text"].startswith("Saved in chaser-bot only: Xero won't accept it because the "
                                   "invoice has a part payment")
    invoice = world.invoice(invoice_id_of(block))
    assert invoice.expected_payment_date == when
    world.fake.wait_for_calls("chat.update", 1)
    row = next(b for b in world.line_blocks() if invoice_id_of(b) == invoice.id)
    assert "(kept in chaser-bot only)" in row["text"]["text"]


def test_a_date_in_the_past_is_refused_and_nothing_changes(digest_world):
    world = digest_world
    block = world.line_blocks()[0]
    before = world.invoice(invoice_id_of(block)).expected_payment_date
    sent = pick_date(world, block, world.today() - timedelta(days=1))
    (said,) = world.fake.wait_for_hook(sent.response_url)
    assert "is in the past" in said["text"]
    assert world.invoice(invoice_id_of(block)).expected_payment_date == before
    assert world.fake.calls_to("chat.update") == []


def test_a_picked_date_no_calendar_has_is_named_and_nothing_changes(digest_world):
    world = digest_world
    block = world.line_blocks()[0]
    before = world.invoice(invoice_id_of(block)).expected_payment_date
    sent = world.click({"action_id": Action.DIGEST_EXPECTED_DATE.value, "type": "datepicker",
                        "block_id": block["block_id"], "selected_date": "2026-02-30"})
    (said,) = world.fake.wait_for_hook(sent.response_url)
    assert said["text"].startswith("“2026-02-30” is not a date")
    assert world.invoice(invoice_id_of(block)).expected_payment_date == before


def test_a_date_set_in_xero_comes_back_with_the_next_sync(digest_world):
    world = digest_world
    block = world.line_blocks()[1]
    invoice = world.invoice(invoice_id_of(block))
    tenant = repositories_tenant(world)
    when = world.today() + timedelta(days=20)
    world.sandbox.ledger.set_expected_payment_date(tenant, invoice.xero_invoice_id, when)
    (report,) = world.slack.deps.sync_service().sync_all()
    assert report.outcome == "ok"
    assert world.invoice(invoice.id).expected_payment_date == when


def repositories_tenant(world: DigestWorld) -> str:
    with session_scope(world.factory) as session:
        return repositories.get_connection(session, world.connection_id).tenant_id


def test_show_more_pages_the_overdue_invoices_in_place(digest_world):
    world = digest_world
    first_page = [invoice_id_of(b) for b in world.line_blocks()]
    pager = world.message()["blocks"][-1]
    (more,) = pager["elements"]
    world.click({"action_id": Action.DIGEST_PAGE.value, "value": more["value"]})
    world.fake.wait_for_calls("chat.update", 1)
    second_page = [invoice_id_of(b) for b in world.line_blocks()]
    assert second_page and not set(second_page) & set(first_page)
    assert world.line_blocks()[0]["text"]["text"].startswith(f"*{len(first_page) + 1}. ")
    with session_scope(world.factory) as session:
        assert session.scalars(select(DigestMessage.page)).one() == 1
    # A later change re-renders the page people are looking at.
    world.poster.refresh_latest(world.connection_id)
    assert [invoice_id_of(b) for b in world.line_blocks()] == second_page
    assert encode(PageRef(c=world.connection_id, p=0)) in str(world.message()["blocks"][-1])


def test_when_buttons_are_narrowed_a_member_is_refused_and_told_who_can(digest_world):
    world = digest_world
    with session_scope(world.factory) as session:
        update_organisation_settings(session, world.connection_id, by="test",
                                     buttons_admins_only=True)
        workspace = repositories.get_or_create_workspace(session, world.fake.workspace().team_id)
        repositories.set_workspace_members(session, workspace.id, MemberRole.ADMIN, [ADMIN])
    first = world.line_blocks()[0]
    sent = world.click({"action_id": Action.DIGEST_PAUSE.value, "value": ref_of(first)})
    (said,) = world.fake.wait_for_hook(sent.response_url)
    assert f"<@{ADMIN}>" in said["text"]
    assert not world.invoice(invoice_id_of(first)).chasing_paused
    world.click({"action_id": Action.DIGEST_PAUSE.value, "value": ref_of(first)}, user=ADMIN)
    world.fake.wait_for_calls("chat.update", 1)
    assert world.invoice(invoice_id_of(first)).chasing_paused


def test_the_scheduled_digest_job_posts_once_for_its_local_day(digest_world):
    from bot.cli.serve import digest_job

    world = digest_world
    job = digest_job(world.poster)
    tomorrow = world.today() + timedelta(days=1)
    assert job(world.connection_id, tomorrow) == "posted"
    assert job(world.connection_id, tomorrow) == "already_posted"
    assert len(world.fake.calls_to("chat.postMessage", ok=True)) == 2  # today's and tomorrow's


def test_a_click_from_another_workspace_is_refused_and_changes_nothing(digest_world):
    # A Slack Connect channel puts a digest before people of another team: their clicks carry
    # their own team.id (docs.slack.dev/reference/interaction-payloads/block_actions-payload).
    world = digest_world
    with session_scope(world.factory) as session:
        home = repositories.get_or_create_workspace(session, world.fake.workspace().team_id)
        session.get(XeroConnection, world.connection_id).workspace_id = home.id
        stranger = repositories.get_or_create_workspace(session, "T0OTHER01")
        repositories.set_workspace_members(session, stranger.id, MemberRole.ADMIN, ["U0OTHER"])
    world.fake.add_workspace("T0OTHER01")
    world.fake.add_user("U0OTHER", team_id="T0OTHER01", is_admin=True)
    first = world.line_blocks()[0]
    payload = block_actions_payload(
        world.fake, {"action_id": Action.DIGEST_PAUSE.value, "value": ref_of(first)},
        user="U0OTHER", team_id="T0OTHER01", channel=CHANNEL,
        message={"type": "message", "ts": world.ts, "text": ""})
    sent = world.slack.send.interaction(payload)
    assert sent.response.status_code == 200
    (said,) = world.fake.wait_for_hook(sent.response_url)
    assert "belongs to another Slack workspace" in said["text"]
    assert not world.invoice(invoice_id_of(first)).chasing_paused
    assert world.fake.calls_to("chat.update") == []
    with session_scope(world.factory) as session:
        (refusal,) = latest_audit(session, actions=("permission.refused",))
        assert (refusal.actor, refusal.detail["team_id"]) == ("U0OTHER", "T0OTHER01")
    world.click({"action_id": Action.DIGEST_PAUSE.value, "value": ref_of(first)})
    world.fake.wait_for_calls("chat.update", 1)
    assert world.invoice(invoice_id_of(first)).chasing_paused


def test_a_date_picked_on_an_invoice_paid_in_xero_since_the_digest_says_so(digest_world):
    # The digest is a morning's picture: by the time someone picks a date the invoice may be
    # paid in Xero, which then refuses any edit ("Invoice not of valid status for
    # modification").
    world = digest_world
    block = world.line_blocks()[0]
    invoice = world.invoice(invoice_id_of(block))
    world.sandbox.ledger.add_payment(repositories_tenant(world), invoice.xero_invoice_id,
                                     invoice.amount_due)
    sent = pick_date(world, block, world.today() + timedelta(days=3))
    (said,) = world.fake.wait_for_hook(sent.response_url)
    assert said["text"].startswith("Saved in chaser-bot only: Xero won't accept it because the "
                                   "invoice is no longer open there (paid, voided or deleted")
