"""The schedule modal, its submission read back and /chaser schedule's listing, by equality."""

from __future__ import annotations

from bot.blocks.schedule_modal import (
    ListedSchedule,
    ScheduleChoice,
    ScheduleListing,
    ScheduleModalValues,
    notice_modal,
    read_submission,
    schedule_list_blocks,
    schedule_modal,
)
from bot.blocks.settings_modal import SettingsValues, settings_modal
from bot.chasing.schedule_form import FormField, ScheduleForm
from bot.chasing.schedules import DEFAULT_SCHEDULE, Part, ScheduleSpec, StepSpec
from bot.payloads import ScheduleRef, SettingsForm, decode_as

STRICT = ScheduleSpec("Strict", (StepSpec(Part.BEFORE_DUE, 3, "due_soon", grouped=False),
                                 StepSpec(Part.OVERDUE, 1, "overdue"),
                                 StepSpec(Part.OVERDUE, 14, "final_notice", escalated_sender=True,
                                          escalated_recipients=True, needs_approval=True)),
                      repeat_every_days=7, repeat_limit=None)
CHOICES = [ScheduleChoice(1, "Default", True), ScheduleChoice(2, "Strict", False)]


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def option(text: str, value: str) -> dict:
    return {"text": plain(text), "value": value}


STEP_HINT = ("One chase a line: days, then any of :single (one email per invoice), escalated "
             "(escalated sender and recipients), escalated-sender, escalated-recipients, "
             "approval (a manager approves), template=due_soon|overdue|final_notice. "
             "E.g. 14:escalated,approval")


def test_the_modal_shows_the_chosen_schedule_and_the_senders() -> None:
    view = schedule_modal(ScheduleModalValues(
        connection_id=7, organisation="Kiwi Plumbing", choices=CHOICES, chosen=2, spec=STRICT,
        is_default=False, sender_name="Sam", sender_email="sam@kiwi.example"))
    pick = [option("Default (default)", "1"), option("Strict", "2"),
            option("New schedule…", "new")]
    assert view == {
        "type": "modal", "callback_id": "schedule",
        "private_metadata": '{"v":"h1","c":7,"s":2}',
        "title": plain("Chasing schedule"), "submit": plain("Save schedule"),
        "close": plain("Back"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Kiwi Plumbing*"}},
            {"type": "input", "block_id": "schedule_pick", "dispatch_action": True,
             "label": plain("Schedule"),
             "element": {"type": "static_select", "action_id": "schedule_pick",
                         "options": pick, "initial_option": pick[1]}},
            {"type": "input", "block_id": "schedule_before_due:2",
             "label": plain("Before the due date (days before)"), "optional": True,
             "element": {"type": "plain_text_input", "multiline": True,
                         "initial_value": "3:single", "action_id": "value"}},
            {"type": "input", "block_id": "schedule_overdue:2",
             "label": plain("Overdue (days after the due date)"), "optional": True,
             "element": {"type": "plain_text_input", "multiline": True,
                         "initial_value": "1\n14:template=final_notice,escalated,approval",
                         "action_id": "value"},
             "hint": plain(STEP_HINT)},
            {"type": "input", "block_id": "schedule_repeat_every:2",
             "label": plain("Then repeat the last overdue chase every (days)"),
             "optional": True,
             "element": {"type": "number_input", "is_decimal_allowed": False,
                         "min_value": "1", "max_value": "365", "initial_value": "7",
                         "action_id": "value"},
             "hint": plain("Leave it empty for no repeat.")},
            {"type": "input", "block_id": "schedule_repeat_limit:2",
             "label": plain("At most this many repeats"), "optional": True,
             "element": {"type": "number_input", "is_decimal_allowed": False,
                         "min_value": "1", "max_value": "100", "action_id": "value"},
             "hint": plain("Leave it empty to repeat until paid.")},
            {"type": "input", "block_id": "schedule_options:2", "label": plain("Also"),
             "optional": True,
             "element": {"type": "checkboxes", "action_id": "value", "options": [
                 option("Thank the customer when paid", "thank_you"),
                 option("Make this the default schedule", "make_default")]},
             "hint": plain("Customers not put on another schedule are chased on the default.")},
            {"type": "divider"},
            {"type": "input", "block_id": "sender_name:2",
             "label": plain("Reminders come from (name)"), "optional": True,
             "element": {"type": "plain_text_input", "multiline": False, "initial_value": "Sam",
                         "max_length": 255, "action_id": "value"},
             "hint": plain("For every schedule of the organisation.")},
            {"type": "input", "block_id": "sender_email:2",
             "label": plain("Replies go to (email)"), "optional": True,
             "element": {"type": "email_text_input", "initial_value": "sam@kiwi.example",
                         "action_id": "value"}},
            {"type": "input", "block_id": "escalated_sender_name:2",
             "label": plain("Escalated reminders come from (name)"), "optional": True,
             "element": {"type": "plain_text_input", "multiline": False,
                         "max_length": 255, "action_id": "value"}},
            {"type": "input", "block_id": "escalated_sender_email:2",
             "label": plain("Escalated replies go to (email)"), "optional": True,
             "element": {"type": "email_text_input", "action_id": "value"}},
        ],
    }


def test_a_new_schedule_asks_for_its_name_and_starts_from_the_default() -> None:
    view = schedule_modal(ScheduleModalValues(
        connection_id=7, organisation="Kiwi", choices=CHOICES, chosen=None,
        spec=DEFAULT_SCHEDULE, is_default=False))
    assert view["private_metadata"] == '{"v":"h1","c":7}'
    assert decode_as(view["private_metadata"], ScheduleRef) == ScheduleRef(c=7, s=None)
    assert view["close"] == plain("Back")  # pushed over the settings modal
    alone = schedule_modal(ScheduleModalValues(
        connection_id=7, organisation="Kiwi", choices=CHOICES, chosen=1,
        spec=DEFAULT_SCHEDULE, is_default=True, root=True))
    assert alone["close"] == plain("Cancel")
    assert decode_as(alone["private_metadata"], ScheduleRef) == ScheduleRef(c=7, s=1, r=True)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["schedule_pick"]["element"]["initial_option"] == option("New schedule…", "new")
    assert blocks["schedule_name:new"] == {
        "type": "input", "block_id": "schedule_name:new",
        "label": plain("Name of the new schedule"), "optional": False,
        "element": {"type": "plain_text_input", "multiline": False, "action_id": "value"}}
    assert blocks["schedule_options:new"]["element"]["initial_options"] == [
        option("Thank the customer when paid", "thank_you")]


def test_a_submission_reads_back_as_the_form_the_parser_takes() -> None:
    def typed(value: str | None) -> dict:
        return {"value": {"type": "plain_text_input", "value": value}}

    state = {
        "schedule_name:new": typed(" Strict "),
        "schedule_before_due:new": typed("3:single"),
        "schedule_overdue:new": typed("1\n14:escalated"),
        "schedule_repeat_every:new": {"value": {"type": "number_input", "value": "7"}},
        "schedule_repeat_limit:new": {"value": {"type": "number_input", "value": None}},
        "schedule_options:new": {"value": {"type": "checkboxes", "selected_options": [
            {"value": "make_default"}]}},
        "sender_name:new": typed(None), "sender_email:new": typed(" ap@kiwi.example "),
    }
    read = read_submission(state, None, None)
    assert read.form == ScheduleForm(name=" Strict ", before_due="3:single",
                                     overdue="1\n14:escalated", repeat_every_days="7",
                                     repeat_limit="", thank_you=False)
    assert (read.make_default, read.sender_name, read.sender_email,
            read.escalated_sender_email) == (True, None, "ap@kiwi.example", None)
    assert read.error_for(FormField.OVERDUE) == "schedule_overdue:new"
    # An existing schedule keeps its name whatever a forged state says.
    state = {k.replace(":new", ":2"): v for k, v in state.items()}
    assert read_submission(state, 2, "Strict").form.name == "Strict"


def test_the_listing_shows_each_organisations_schedules_and_how_to_change_them() -> None:
    blocks = schedule_list_blocks([ScheduleListing("Kiwi", [
        ListedSchedule(DEFAULT_SCHEDULE, True, 0), ListedSchedule(STRICT, False, 2)])])
    assert blocks == [
        {"type": "header", "text": plain("Chasing schedules: Kiwi")},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            "*Default* (default)\n"
            "• 7 days before due — due_soon, grouped\n"
            "• 1 day after due — overdue, grouped\n"
            "• then the last overdue chase again every 7 days, at most 8 times\n"
            "• on payment — thank_you, grouped")}},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            "*Strict* · 2 customers on it\n"
            "• 3 days before due — due_soon, one email per invoice\n"
            "• 1 day after due — overdue, grouped\n"
            "• 14 days after due — final_notice, grouped, escalated sender, escalated "
            "recipients, needs approval\n"
            "• then the last overdue chase again every 7 days, until paid\n"
            "• no thank-you after payment")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Change them with `/chaser schedule edit` (admins) or in `/chaser settings`; put a "
            "customer on one with `/chaser schedule customer <name> <schedule>`.")}]},
    ]


def test_the_settings_modal_offers_the_schedule_modal_for_its_organisation() -> None:
    from decimal import Decimal

    view = settings_modal(SettingsValues(
        connection_id=7, organisation="Kiwi", digest_channel_id=None, digest_time="09:00",
        timezone="Pacific/Auckland", admins=[], managers=[], minimum_chase_amount=Decimal(0),
        currency="NZD", wait_for_expected_date=False, buttons_admins_only=False))
    assert view["blocks"][1] == {
        "type": "section", "block_id": "settings_schedule",
        "text": {"type": "mrkdwn",
                 "text": "Chasing schedules, who is on which, and who reminders come from."},
        "accessory": {"type": "button", "action_id": "settings_edit_schedule",
                      "text": plain("Edit chasing schedules"),
                      "value": '{"v":"g1","c":7}'}}
    assert decode_as(view["blocks"][1]["accessory"]["value"], SettingsForm).c == 7


def test_a_notice_only_says_its_text() -> None:
    assert notice_modal("Only admins can change chasing schedules.") == {
        "type": "modal", "callback_id": "notice", "title": plain("chaser-bot"),
        "close": plain("Back"), "blocks": [{"type": "section", "text": {
            "type": "mrkdwn", "text": "Only admins can change chasing schedules."}}]}


def test_more_schedules_than_a_message_holds_are_counted_not_dropped():
    many = [ListedSchedule(ScheduleSpec(f"Terms {n}", STRICT.steps, 7, None), False, 0)
            for n in range(60)]
    blocks = schedule_list_blocks([ScheduleListing("Kiwi", many)])
    assert len(blocks) == 50  # Slack's most for a message
    shown = sum(block["type"] == "section" for block in blocks)
    assert shown == 48  # the header, 48 schedules, the footer
    footer = blocks[-1]["elements"][0]["text"]
    assert footer.startswith("12 more schedule(s) not shown here: `chaser schedule show`")


def test_a_schedule_name_is_text_in_the_listing_not_markup() -> None:
    # Listed as typed, "<https://pay.example|Default>" was a link labelled Default for
    # everyone who lists the schedules, and "<!here>" a mention.
    spoof = ScheduleSpec("<https://pay.example|Default> & <!here>", DEFAULT_SCHEDULE.steps)
    blocks = schedule_list_blocks([ScheduleListing("Kiwi", [ListedSchedule(spoof, False, 0)])])
    assert blocks[1]["text"]["text"].startswith(
        "*&lt;https://pay.example|Default&gt; &amp; &lt;!here&gt;*\n")
