"""/chaser subcommands end to end: signed HTTP in, the fake Slack and a sandbox Xero behind.

Every answer that may touch Xero arrives after the acknowledgement (on the response_url);
look-ups read the local store only (the sandbox's call count does not move).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from storage.db import session_scope
from storage.models import AuditEntry, Contact, Invoice, XeroConnection
from storage.settings import organisation_settings
from tests.connect_helpers import approve
from tests.fakes.slack_api import DEFAULT_TEAM
from tests.fixtures.sandbox import FINANCE
from tests.fixtures.slack import ADMIN, MEMBER, SlackWorld


@pytest.fixture
def world(make_slack_world, sandbox) -> SlackWorld:
    """chaser-bot with one workspace whose admin connected the sandbox's organisations."""
    world = make_slack_world(xero=sandbox)
    service_url = world.app.chasing_services.connect.start(DEFAULT_TEAM, ADMIN, login_hint=FINANCE)
    state, code = approve(service_url)
    world.app.chasing_services.connect.complete(state, code)
    world.deps.sync_service().sync_all()
    world.sandbox = sandbox
    return world


def sandbox_calls(world) -> int:
    return int(httpx.get(f"{world.sandbox.url}/_sandbox/stats").json()["calls_total"])


def ask(world: SlackWorld, text: str, user: str = MEMBER, count: int = 1) -> list[dict]:
    """Send /chaser <text>; the posts on its response_url once there are `count`."""
    sent = world.send.command(text, user=user)
    assert sent.response.status_code == 200
    return world.fake.wait_for_hook(sent.response_url, count)


def blocks_text(post: dict) -> str:
    return str(post.get("blocks")) + post.get("text", "")


def an_overdue_invoice(world: SlackWorld) -> Invoice:
    with session_scope(world.deps.session_factory) as session:
        row = session.scalars(select(Invoice).where(
            Invoice.status == "AUTHORISED", Invoice.amount_due > 0,
            Invoice.due_date < datetime.now(UTC).date() - timedelta(days=2),
            Invoice.type == "ACCREC").order_by(Invoice.id)).first()
        assert row is not None
        session.expunge(row)
        return row


def test_the_connect_dm_reached_the_admin(world: SlackWorld):
    dms = [c for c in world.fake.calls_to("chat.postMessage") if c.args["channel"] == ADMIN]
    assert dms and "is connected to chaser-bot" in dms[0].args["text"]


def test_status_lists_each_organisation_connection_sync_digest_and_chasing(world: SlackWorld):
    (post,) = ask(world, "status")
    text = blocks_text(post)
    assert post["response_type"] == "ephemeral"
    assert "connected" in text and "*Last sync:*" in text and "— ok" in text
    assert "not scheduled" in text  # no digest channel picked yet
    assert "*Chasing:* on" in text


def test_sync_says_syncing_at_once_then_replaces_it_with_counts(world: SlackWorld):
    before = sandbox_calls(world)
    sent = world.send.command("sync", user=MEMBER)
    assert sent.json() == {"text": "Syncing with Xero…", "response_type": "ephemeral"}
    (result,) = world.fake.wait_for_hook(sent.response_url)
    assert result["replace_original"] is True
    assert "synced" in result["text"] and "contacts" in result["text"]
    assert sandbox_calls(world) > before


def test_sync_of_an_unknown_organisation_says_which_exist(world: SlackWorld):
    (post,) = ask(world, "sync Nonexistent Org")
    assert "No connected organisation is called “Nonexistent Org”" in post["text"]


def test_overdue_lists_the_most_overdue_with_totals_without_calling_xero(world: SlackWorld):
    before = sandbox_calls(world)
    (post,) = ask(world, "overdue")
    text = blocks_text(post)
    assert "overdue invoices" in text and "days overdue" in text
    assert sandbox_calls(world) == before


def test_invoice_shows_amounts_dates_expected_date_history_and_a_xero_link(world: SlackWorld):
    invoice = an_overdue_invoice(world)
    (post,) = ask(world, f"invoice {invoice.invoice_number.lower()}")
    text = blocks_text(post)
    assert f"Invoice {invoice.invoice_number}" in text
    assert "days overdue" in text and "*Amount due:*" in text
    assert "*Expected payment:*" in text and "Latest history" in text
    link = post["blocks"][-1]["elements"][0]["url"]
    assert link.startswith("https://go.xero.com/organisationlogin/default.aspx?shortcode=")
    assert invoice.xero_invoice_id in link


def test_invoice_without_a_number_gets_its_usage_line(world: SlackWorld):
    assert world.send.command("invoice", user=MEMBER).json()["text"] == \
        "Usage: `/chaser invoice <number>`"


def test_an_unknown_invoice_number_says_so(world: SlackWorld):
    (post,) = ask(world, "invoice NOPE-404")
    assert post["text"].startswith("No invoice NOPE-404 in chaser-bot.")


def test_customer_shows_emails_open_invoices_and_totals(world: SlackWorld):
    invoice = an_overdue_invoice(world)
    with session_scope(world.deps.session_factory) as session:
        name = session.get(Contact, invoice.contact_id).name
    (post,) = ask(world, f'customer "{name}"')
    text = blocks_text(post)
    assert name in text and "*Emails:*" in text and "*Open:*" in text
    assert invoice.invoice_number in text


def test_an_ambiguous_customer_offers_close_matches_and_a_click_shows_one(world: SlackWorld):
    with session_scope(world.deps.session_factory) as session:
        names = sorted(n for n in session.scalars(select(Contact.name)) if n)
    common = names[0][:1]  # a letter several names contain
    (post,) = ask(world, f"customer {common}")
    assert "Which one?" in blocks_text(post)
    button = post["blocks"][1]["elements"][0]
    from tests.fakes.slack_requests import block_actions_payload

    click = block_actions_payload(world.fake, {"action_id": button["action_id"],
                                               "value": button["value"]}, user=MEMBER)
    assert world.send.interaction(click).response.status_code == 200
    (shown,) = world.fake.wait_for_hook(click["response_url"])
    assert shown["replace_original"] is True and "*Emails:*" in blocks_text(shown)


def test_a_misspelt_customer_gets_close_matches(world: SlackWorld):
    with session_scope(world.deps.session_factory) as session:
        name = sorted(n for n in session.scalars(select(Contact.name)) if n and len(n) > 6)[0]
    misspelt = name[:-1] + ("x" if name[-1] != "x" else "y")
    (post,) = ask(world, f'customer "{misspelt}"')
    assert name in str(post["blocks"])


def test_connect_is_for_admins_and_a_refusal_says_who_can(world: SlackWorld):
    (refused,) = ask(world, "connect", user=MEMBER)
    assert refused["text"].startswith("Only admins can connect Xero:")
    assert f"<@{ADMIN}>" in refused["text"]
    (offered,) = ask(world, "connect", user=ADMIN)
    button = offered["blocks"][1]["elements"][0]
    assert button["url"].startswith(world.sandbox.url) and "state=" in button["url"]
    with session_scope(world.deps.session_factory) as session:
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert "permission.refused" in actions


def test_workspace_admins_per_slack_may_connect(world: SlackWorld):
    world.fake.add_user("U0SLACKBOSS", is_admin=True)
    (offered,) = ask(world, "connect", user="U0SLACKBOSS")
    assert offered["blocks"][1]["elements"][0]["url"]


def test_pause_and_resume_a_customer_and_the_whole_account(world: SlackWorld):
    invoice = an_overdue_invoice(world)
    with session_scope(world.deps.session_factory) as session:
        name = session.get(Contact, invoice.contact_id).name
    until = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    (post,) = ask(world, f'pause customer "{name}" until {until}')
    assert post["text"].endswith(f"is paused until {until}.")
    with session_scope(world.deps.session_factory) as session:
        assert session.get(Contact, invoice.contact_id).chasing_paused
    (post,) = ask(world, f'resume customer "{name}"')
    assert post["text"].endswith("is chased again.")

    (refused,) = ask(world, "pause", user=MEMBER)
    assert refused["text"].startswith("Only admins can pause or resume all chasing")
    (post,) = ask(world, "pause", user=ADMIN)
    assert "is paused." in post["text"]
    with session_scope(world.deps.session_factory) as session:
        ids = [c.id for c in session.scalars(select(XeroConnection))]
        assert all(organisation_settings(session, i).chasing_paused for i in ids)
    (post,) = ask(world, "resume", user=ADMIN)
    assert "chased again" in post["text"]


def a_customer_in_both_organisations(world: SlackWorld) -> tuple[str, list[tuple[int, str]]]:
    """One business as a customer of both organisations (renamed so in the sandbox's second
    organisation, then synced): its name and (contact id, organisation) in each."""
    with session_scope(world.deps.session_factory) as session:
        first, second = session.scalars(select(XeroConnection).order_by(XeroConnection.id))
        name = session.scalars(select(Contact.name).where(
            Contact.connection_id == first.id).order_by(Contact.id)).first()
        other = session.scalars(select(Contact).where(
            Contact.connection_id == second.id, Contact.name != name).order_by(Contact.id)).first()
        renamed = httpx.post(f"{world.sandbox.url}/_sandbox/ledger/{second.tenant_id}/contacts/"
                             f"{other.xero_contact_id}", json={"Name": name})
        assert renamed.status_code == 200, renamed.text
    world.deps.sync_service().sync_all()
    with session_scope(world.deps.session_factory) as session:
        rows = session.execute(select(Contact.id, XeroConnection.tenant_name)
                               .join(XeroConnection, Contact.connection_id == XeroConnection.id)
                               .where(Contact.name == name).order_by(Contact.id)).all()
    assert len(rows) == 2
    return name, [(contact_id, organisation) for contact_id, organisation in rows]


def test_a_customer_both_organisations_have_is_told_apart_by_organisation(world: SlackWorld):
    name, both = a_customer_in_both_organisations(world)
    (post,) = ask(world, f'customer "{name}"')
    labels = [button["text"]["text"] for button in post["blocks"][1]["elements"]]
    assert sorted(labels) == sorted(f"{name} ({organisation})" for _id, organisation in both)

    (refused,) = ask(world, f'pause customer "{name}"', user=ADMIN)
    assert all(f"{name} ({organisation})" in refused["text"] for _id, organisation in both)
    organisation = both[0][1]
    (paused,) = ask(world, f'pause customer "{name} ({organisation})"', user=ADMIN)
    assert paused["text"] == f"{name} ({organisation}) is paused."
    with session_scope(world.deps.session_factory) as session:
        assert [session.get(Contact, i).chasing_paused for i, _org in both] == [True, False]
    (shown,) = ask(world, f"escalate {name} ({both[1][1]})", user=ADMIN)
    assert shown["text"].startswith(f"Escalated emails to {name} go to:")

    # Misspelt, the name still offers both: close matches are not keyed by name alone.
    typo = name[:-2] + name[-1] + name[-2]
    (offered,) = ask(world, f'customer "{typo}"')
    labels = [button["text"]["text"] for button in offered["blocks"][1]["elements"]]
    assert {f"{name} ({organisation})" for _id, organisation in both} <= set(labels)


def test_names_typed_with_apostrophes_or_a_phones_curly_quotes_are_found(world: SlackWorld):
    # O'Brien's has two apostrophes (once read as a quoted run, and lost); a phone types
    # “Full Name” with curly quotes, which group the words as "Full Name" does.
    name = "O'Brien's Plumbing & Gas"
    with session_scope(world.deps.session_factory) as session:
        connection = session.scalars(select(XeroConnection).order_by(XeroConnection.id)).first()
        contact = session.scalars(select(Contact).where(
            Contact.connection_id == connection.id).order_by(Contact.id)).first()
    renamed = httpx.post(f"{world.sandbox.url}/_sandbox/ledger/{connection.tenant_id}/contacts/"
                         f"{contact.xero_contact_id}", json={"Name": name})
    assert renamed.status_code == 200, renamed.text
    world.deps.sync_service().sync_all()
    (paused,) = ask(world, f"pause customer {name}", user=ADMIN)
    assert paused["text"].startswith(f"{name} ") and paused["text"].endswith("is paused.")
    (resumed,) = ask(world, f"resume customer “{name}”", user=ADMIN)
    assert resumed["text"].endswith("is chased again."), resumed["text"]
    (shown,) = ask(world, f"customer “{name}”")
    assert "*Emails:*" in blocks_text(shown)
    (close,) = ask(world, "pause customer OBriens Plumbing & Gas", user=ADMIN)
    assert close["text"] == ("No customer is called “OBriens Plumbing & Gas”. Did you mean "
                             f"{name}? Write it in full.")


@pytest.mark.parametrize("text", ["pause until", "pause customer",
                                  "pause everything", "resume now please"])
def test_bad_pause_arguments_get_the_usage_line(world: SlackWorld, text: str):
    assert world.send.command(text, user=ADMIN).json()["text"].startswith("Usage: `/chaser ")


@pytest.mark.parametrize("typed", ["2026-02-30", "tomorrow", "31/12/2026"])
def test_a_pause_date_no_calendar_has_is_named_before_the_usage_line(world: SlackWorld,
                                                                     typed: str):
    said = world.send.command(f"pause until {typed}", user=ADMIN).json()["text"]
    assert said.startswith(f"“{typed}” is not a date: write it as YYYY-MM-DD")
    assert "Usage: `/chaser pause" in said


def test_settings_opens_a_modal_and_saving_changes_the_settings(world: SlackWorld):
    from tests.fakes.slack_requests import view_submission_payload

    with session_scope(world.deps.session_factory) as session:
        name = session.scalars(select(XeroConnection.tenant_name)).first()
    sent = world.send.command(f'settings "{name}"', user=ADMIN)
    try:
        world.fake.wait_for_calls("views.open")
    except TimeoutError:
        raise AssertionError((world.fake.hook(sent.response_url),
                              world.fake.calls_to("views.open", ok=False))) from None
    view = world.fake.views[max(world.fake.views)]
    assert view["callback_id"] == "settings"
    values = {
        "settings_channel": {"value": {"type": "conversations_select",
                                       "selected_conversation": "C0GENERAL1"}},
        "settings_time": {"value": {"type": "timepicker", "selected_time": "08:30"}},
        "settings_admins": {"value": {"type": "multi_users_select",
                                      "selected_users": ["U0OWNER"]}},
        "settings_managers": {"value": {"type": "multi_users_select",
                                        "selected_users": [MEMBER]}},
        "settings_approvals": {"value": {"type": "conversations_select",
                                         "selected_conversation": "C0APPROVE1"}},
        "settings_minimum": {"value": {"type": "number_input", "value": "abc"}},
        "settings_options": {"value": {"type": "checkboxes", "selected_options": [
            {"value": "buttons_admins_only"}]}},
    }
    bad = world.send.interaction(view_submission_payload(world.fake, view, values, user=ADMIN))
    assert bad.json()["response_action"] == "errors"
    assert "settings_minimum" in bad.json()["errors"]

    values["settings_minimum"]["value"]["value"] = "49.95"
    saved = world.send.interaction(view_submission_payload(world.fake, view, values, user=ADMIN))
    assert saved.response.status_code == 200 and saved.response.text == ""
    from bot.payloads import SettingsForm, decode_as

    connection_id = decode_as(view["private_metadata"], SettingsForm).c
    with session_scope(world.deps.session_factory) as session:
        row = organisation_settings(session, connection_id)
        assert (row.digest_channel_id, row.digest_time, row.minimum_chase_amount) == (
            "C0GENERAL1", "08:30", Decimal("49.95"))
        assert (row.buttons_admins_only, row.wait_for_expected_date) == (True, False)
        assert row.approvals_channel_id == "C0APPROVE1"

    refused = world.send.interaction(view_submission_payload(world.fake, view, values,
                                                             user=MEMBER))
    assert refused.json()["response_action"] == "errors"


@pytest.mark.parametrize(("amount", "wrong"), [
    ("1e30", {"settings_minimum", "settings_alert_overdue"}),
    ("99999999999999999999", {"settings_minimum", "settings_alert_overdue"}),
    ("0.001", {"settings_alert_overdue"}),  # 0.00 to the cent: "above 0" it is not
])
def test_an_amount_money_cannot_hold_is_a_field_error_not_a_failure(world: SlackWorld,
                                                                    amount: str, wrong: set):
    # Money is kept to 14 digits before the point (storage/types.money): anything past that
    # is said at the field, like "abc", instead of failing after the modal closed.
    from tests.fakes.slack_requests import view_submission_payload

    with session_scope(world.deps.session_factory) as session:
        name = session.scalars(select(XeroConnection.tenant_name)).first()
    world.send.command(f'settings "{name}"', user=ADMIN)
    world.fake.wait_for_calls("views.open")
    view = world.fake.views[max(world.fake.views)]
    values = {
        "settings_time": {"value": {"type": "timepicker", "selected_time": "08:30"}},
        "settings_minimum": {"value": {"type": "number_input", "value": amount}},
        "settings_alert_overdue": {"value": {"type": "number_input", "value": amount}},
    }
    answer = world.send.interaction(view_submission_payload(world.fake, view, values,
                                                            user=ADMIN))
    assert answer.response.status_code == 200
    assert answer.json()["response_action"] == "errors", answer.response.text
    assert set(answer.json()["errors"]) == wrong


def test_settings_is_for_admins(world: SlackWorld):
    (refused,) = ask(world, "settings", user=MEMBER)
    assert refused["text"].startswith("Only admins can change chaser-bot's settings")
    assert world.fake.calls_to("views.open") == []


def test_disconnect_is_for_admins_and_then_tells_xero_and_keeps_history(world: SlackWorld):
    (refused,) = ask(world, "disconnect", user=MEMBER)
    assert refused["text"].startswith("Only admins can disconnect Xero")
    with session_scope(world.deps.session_factory) as session:
        first = session.scalars(select(XeroConnection).order_by(XeroConnection.id)).first()
        name = first.tenant_name
    posts = ask(world, f'disconnect "{name}"', user=ADMIN, count=2)
    assert posts[0]["text"] == f"Disconnecting {name}…"
    assert posts[1]["text"].startswith(f"{name} is disconnected from chaser-bot")
    with session_scope(world.deps.session_factory) as session:
        assert session.get(XeroConnection, first.id).status == "disconnected"


def test_sync_is_acknowledged_while_xero_is_still_answering(world: SlackWorld):
    # Xero (the sandbox) holds its next answers for 2 s: the ack cannot have waited for it.
    httpx.post(f"{world.sandbox.url}/_sandbox/faults",
               json={"kind": "delay", "delay_ms": 2000, "count": 1}).raise_for_status()
    sent = world.send.command("sync", user=MEMBER)
    assert sent.json()["text"] == "Syncing with Xero…"
    assert world.fake.hook(sent.response_url) == []  # the result is still to come
    (result,) = world.fake.wait_for_hook(sent.response_url)
    assert "synced" in result["text"]


def test_look_ups_read_the_local_store_only(world: SlackWorld):
    invoice = an_overdue_invoice(world)
    before = sandbox_calls(world)
    for text in ("status", "overdue", f"invoice {invoice.invoice_number}", "customer zzzz",
                 "help"):
        sent = world.send.command(text, user=ADMIN)
        assert sent.response.status_code == 200, text
        if sent.response_url and text != "help":
            world.fake.wait_for_hook(sent.response_url)
    assert sandbox_calls(world) == before


def test_settings_switch_the_payment_alert_and_set_the_overdue_alert_amount(world: SlackWorld):
    from bot.payloads import SettingsForm, decode_as
    from tests.fakes.slack_requests import view_submission_payload

    with session_scope(world.deps.session_factory) as session:
        name = session.scalars(select(XeroConnection.tenant_name)).first()
    world.send.command(f'settings "{name}"', user=ADMIN)
    world.fake.wait_for_calls("views.open")
    view = world.fake.views[max(world.fake.views)]
    blocks = {block.get("block_id"): block for block in view["blocks"]}
    # Defaults: payment alerts on, no overdue amount.
    assert blocks["settings_alerts"]["element"]["initial_options"][0]["value"] == "alert_payments"
    assert "initial_value" not in blocks["settings_alert_overdue"]["element"]
    values = {
        "settings_time": {"value": {"type": "timepicker", "selected_time": "09:00"}},
        "settings_minimum": {"value": {"type": "number_input", "value": "0"}},
        "settings_alerts": {"value": {"type": "checkboxes", "selected_options": []}},
        "settings_alert_overdue": {"value": {"type": "number_input", "value": "-5"}},
    }
    bad = world.send.interaction(view_submission_payload(world.fake, view, values, user=ADMIN))
    assert "settings_alert_overdue" in bad.json()["errors"]

    values["settings_alert_overdue"]["value"]["value"] = "5,000"
    saved = world.send.interaction(view_submission_payload(world.fake, view, values, user=ADMIN))
    assert saved.response.status_code == 200
    connection_id = decode_as(view["private_metadata"], SettingsForm).c
    with session_scope(world.deps.session_factory) as session:
        row = organisation_settings(session, connection_id)
        assert (row.alert_payments, row.alert_overdue_over) == (False, Decimal("5000"))


def test_a_closed_modal_is_answered_200_and_changes_nothing(world: SlackWorld):
    # view_closed comes only for notify_on_close modals (docs.slack.dev/surfaces/modals); one
    # still arriving must be acked, and must not be taken for a cancel of anything.
    from tests.fakes.slack_requests import view_closed_payload

    send, fake = world.send, world.fake
    with session_scope(world.deps.session_factory) as session:
        name = session.scalars(select(XeroConnection.tenant_name)).first()
    assert send.command(f'settings "{name}"', user=ADMIN).response.status_code == 200
    fake.wait_for_calls("views.open")
    view = fake.views[max(fake.views)]
    before = (len(fake.calls), dict(fake.views), audit_actions(world))
    for cleared in (False, True):
        closed = send.interaction(view_closed_payload(fake, view, user=ADMIN,
                                                      is_cleared=cleared))
        assert (closed.response.status_code, closed.response.text) == (200, "")
    time.sleep(0.3)  # anything the app would do after the ack has had time to happen
    assert (len(fake.calls), dict(fake.views), audit_actions(world)) == before



def audit_actions(world: SlackWorld) -> list[str]:
    with session_scope(world.deps.session_factory) as session:
        return [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
