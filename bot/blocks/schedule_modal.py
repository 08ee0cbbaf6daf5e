"""The chasing schedule modal and the /chaser schedule listing: values in, Block Kit out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot import messages
from bot.blocks.digest import MAX_BLOCKS as MESSAGE_BLOCKS
from bot.blocks.mrkdwn import escape
from bot.chasing.schedule_form import FormField, ScheduleForm
from bot.chasing.schedules import (
    SENDER_NAME_MAX,
    Part,
    ScheduleSpec,
    describe_step,
    steps_text,
)
from bot.ids import Action, Block, Field, View
from bot.messages import SLACK
from bot.payloads import ScheduleAssign, ScheduleRef, encode

NEW = "new"  # the picker's value for a new schedule
THANK_YOU = "thank_you"
MAKE_DEFAULT = "make_default"


@dataclass(frozen=True)
class ScheduleChoice:
    """One schedule in the picker."""

    id: int
    name: str
    default: bool


@dataclass(frozen=True)
class ScheduleModalValues:
    """What the modal shows: the organisation's schedules, the one being edited (None: a new
    one, starting from `spec`), and the organisation's senders."""

    connection_id: int
    organisation: str
    choices: list[ScheduleChoice]
    chosen: int | None
    spec: ScheduleSpec
    is_default: bool
    sender_name: str | None = None
    sender_email: str | None = None
    escalated_sender_name: str | None = None
    escalated_sender_email: str | None = None
    root: bool = False  # opened on its own: its close button cancels instead of going back


def block_id(block: Block, chosen: int | None) -> str:
    """An input's block_id for the schedule shown (see Block: a new one per schedule)."""
    return f"{block}:{NEW if chosen is None else chosen}"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text[:75]), "value": value}


def _input(block: Block, chosen: int | None, label: str, element: dict[str, Any], *,
           optional: bool = True, hint: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"type": "input", "block_id": block_id(block, chosen),
                             "label": _plain(label), "optional": optional,
                             "element": {**element, "action_id": Field.VALUE}}
    if hint:
        found["hint"] = _plain(hint)
    return found


def _text_input(initial: str | None, *, multiline: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    return element


def _number_input(initial: int | None, low: int, high: int) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": False,
                               "min_value": str(low), "max_value": str(high)}
    if initial is not None:
        element["initial_value"] = str(initial)
    return element


def _email_input(initial: str | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "email_text_input"}
    if initial:
        element["initial_value"] = initial
    return element


def schedule_modal(values: ScheduleModalValues) -> dict[str, Any]:
    """The modal, filled with the chosen schedule (or a new one) and the senders."""
    chosen, spec = values.chosen, values.spec
    options = [_option(c.name + (messages.SCHEDULE_DEFAULT_MARK if c.default else ""), str(c.id))
               for c in values.choices[:99]] + [_option(messages.SCHEDULE_NEW, NEW)]
    wanted = NEW if chosen is None else str(chosen)
    picked = next((o for o in options if o["value"] == wanted), options[-1])
    # Picking another schedule sends block_actions at once (dispatch_action), and the
    # modal is redrawn with that schedule's values (views.update).
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{values.organisation}*"}},
        {"type": "input", "block_id": Block.SCHEDULE_PICK, "dispatch_action": True,
         "label": _plain(messages.SCHEDULE_PICK_LABEL),
         "element": {"type": "static_select", "action_id": Action.SCHEDULE_PICK,
                     "options": options, "initial_option": picked}},
    ]
    if chosen is None:
        blocks.append(_input(Block.SCHEDULE_NAME, chosen, messages.SCHEDULE_NAME_LABEL,
                             _text_input(None), optional=False))
    checks = [_option(messages.SCHEDULE_THANK_YOU, THANK_YOU)]
    if not values.is_default:  # the default stays one until another is made the default:
        checks.append(_option(messages.SCHEDULE_MAKE_DEFAULT, MAKE_DEFAULT))  # no box to untick
    ticked = checks[:1] if spec.thank_you is not None else []
    options_element: dict[str, Any] = {"type": "checkboxes", "options": checks}
    if ticked:
        options_element["initial_options"] = ticked
    blocks += [
        _input(Block.SCHEDULE_BEFORE_DUE, chosen, messages.SCHEDULE_BEFORE_LABEL,
               _text_input(steps_text(spec, Part.BEFORE_DUE), multiline=True)),
        _input(Block.SCHEDULE_OVERDUE, chosen, messages.SCHEDULE_OVERDUE_LABEL,
               _text_input(steps_text(spec, Part.OVERDUE), multiline=True),
               hint=messages.SCHEDULE_STEP_HINT),
        _input(Block.SCHEDULE_REPEAT_EVERY, chosen, messages.SCHEDULE_REPEAT_EVERY_LABEL,
               _number_input(spec.repeat_every_days, 1, 365),
               hint=messages.SCHEDULE_REPEAT_EVERY_HINT),
        _input(Block.SCHEDULE_REPEAT_LIMIT, chosen, messages.SCHEDULE_REPEAT_LIMIT_LABEL,
               _number_input(spec.repeat_limit, 1, 100),
               hint=messages.SCHEDULE_REPEAT_LIMIT_HINT),
        _input(Block.SCHEDULE_OPTIONS, chosen, messages.SCHEDULE_OPTIONS_LABEL, options_element,
               hint=messages.SCHEDULE_IS_DEFAULT_HINT if values.is_default
               else messages.SCHEDULE_DEFAULT_HINT),
        {"type": "divider"},
        _input(Block.SENDER_NAME, chosen, messages.SENDER_NAME_LABEL,
               {**_text_input(values.sender_name), "max_length": SENDER_NAME_MAX},
               hint=messages.SENDER_HINT),
        _input(Block.SENDER_EMAIL, chosen, messages.SENDER_EMAIL_LABEL,
               _email_input(values.sender_email)),
        _input(Block.ESCALATED_SENDER_NAME, chosen, messages.ESCALATED_SENDER_NAME_LABEL,
               {**_text_input(values.escalated_sender_name), "max_length": SENDER_NAME_MAX}),
        _input(Block.ESCALATED_SENDER_EMAIL, chosen, messages.ESCALATED_SENDER_EMAIL_LABEL,
               _email_input(values.escalated_sender_email)),
    ]
    return {
        "type": "modal",
        "callback_id": View.SCHEDULE,
        "private_metadata": encode(ScheduleRef(c=values.connection_id, s=chosen,
                                               r=values.root)),
        "title": _plain(messages.SCHEDULE_TITLE),
        "submit": _plain(messages.SCHEDULE_SAVE),
        "close": _plain(messages.SETTINGS_CANCEL if values.root else messages.SCHEDULE_BACK),
        "blocks": blocks,
    }


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only says something (a refusal pushed over the settings modal)."""
    return {"type": "modal", "callback_id": View.NOTICE,
            "title": _plain(messages.SCHEDULE_NOTICE_TITLE),
            "close": _plain(messages.SCHEDULE_BACK),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]}


# Reading a submission back --------------------------------------------------------------------

FORM_BLOCKS = {
    FormField.NAME: Block.SCHEDULE_NAME,
    FormField.BEFORE_DUE: Block.SCHEDULE_BEFORE_DUE,
    FormField.OVERDUE: Block.SCHEDULE_OVERDUE,
    FormField.REPEAT_EVERY: Block.SCHEDULE_REPEAT_EVERY,
    FormField.REPEAT_LIMIT: Block.SCHEDULE_REPEAT_LIMIT,
}


@dataclass(frozen=True)
class ScheduleSubmission:
    """What the submitted modal asks for, as typed (chasing.schedules.read_form reads it)."""

    form: ScheduleForm
    make_default: bool
    sender_name: str | None
    sender_email: str | None
    escalated_sender_name: str | None
    escalated_sender_email: str | None
    chosen: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def error_for(self, form_field: FormField) -> str:
        """The block_id an error about `form_field` is shown under."""
        return block_id(FORM_BLOCKS[form_field], self.chosen)


def read_submission(state: dict[str, Any], chosen: int | None,
                    name: str | None) -> ScheduleSubmission:
    """The submitted inputs (view.state.values) of the modal showing `chosen` (whose `name`
    is known; a new schedule's is typed)."""

    def value(block: Block) -> dict[str, Any]:
        return (state.get(block_id(block, chosen)) or {}).get(Field.VALUE) or {}

    def text(block: Block) -> str:
        return str(value(block).get("value") or "")

    ticked = {o.get("value") for o in value(Block.SCHEDULE_OPTIONS).get("selected_options")
              or []}
    form = ScheduleForm(
        name=name if chosen is not None and name is not None else text(Block.SCHEDULE_NAME),
        before_due=text(Block.SCHEDULE_BEFORE_DUE), overdue=text(Block.SCHEDULE_OVERDUE),
        repeat_every_days=text(Block.SCHEDULE_REPEAT_EVERY),
        repeat_limit=text(Block.SCHEDULE_REPEAT_LIMIT), thank_you=THANK_YOU in ticked)
    return ScheduleSubmission(
        form=form, make_default=MAKE_DEFAULT in ticked,
        sender_name=text(Block.SENDER_NAME).strip() or None,
        sender_email=text(Block.SENDER_EMAIL).strip() or None,
        escalated_sender_name=text(Block.ESCALATED_SENDER_NAME).strip() or None,
        escalated_sender_email=text(Block.ESCALATED_SENDER_EMAIL).strip() or None,
        chosen=chosen)


# /chaser schedule: the listing ------------------------------------------------------------------


@dataclass(frozen=True)
class ListedSchedule:
    spec: ScheduleSpec
    default: bool
    customers: int  # customers put on it (the default's are everyone else)


@dataclass(frozen=True)
class ScheduleListing:
    """One organisation's schedules as /chaser schedule lists them."""

    organisation: str
    schedules: list[ListedSchedule]


def _schedule_text(listed: ListedSchedule) -> str:
    spec = listed.spec
    head = f"*{escape(spec.name)}*" + (messages.SCHEDULE_DEFAULT_MARK if listed.default
                                       else "")
    if listed.customers:
        head += " · " + messages.SCHEDULE_ON_IT.format(count=listed.customers)
    lines = [head] + [f"• {describe_step(step)}" for step in spec.chases]
    if spec.repeat_every_days:
        cap = f", at most {spec.repeat_limit} times" if spec.repeat_limit else ", until paid"
        lines.append("• " + messages.SCHEDULE_REPEAT_LINE.format(every=spec.repeat_every_days,
                                                                 cap=cap))
    lines.append(f"• {describe_step(spec.thank_you)}" if spec.thank_you
                 else f"• {messages.SCHEDULE_NO_THANK_YOU}")
    return "\n".join(lines)[:3000]


def schedule_list_blocks(listings: list[ScheduleListing]) -> list[dict[str, Any]]:
    """A header per organisation, a section per schedule (within a message's 50 blocks)."""
    blocks: list[dict[str, Any]] = []
    for listing in listings:
        blocks.append({"type": "header", "text": _plain(
            f"{messages.SCHEDULES_HEADING}: {listing.organisation}"[:150])})
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": _schedule_text(s)}}
                   for s in listing.schedules]
    footer = messages.SCHEDULE_FOOTER.render(SLACK)
    if len(blocks) > MESSAGE_BLOCKS - 1:  # Slack refuses a message of more than 50 blocks
        shown = blocks[:MESSAGE_BLOCKS - 1]
        left = sum(block["type"] == "section" for block in blocks[len(shown):])
        footer = messages.SCHEDULES_NOT_SHOWN.format(count=left) + " " + footer
        blocks = shown
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return blocks


def customer_choice_blocks(asked: str, matches: list[tuple[int, str, str]],
                           schedule: str) -> list[dict[str, Any]]:
    """Close matches (id, name, organisation) as buttons; a click puts that one on `schedule`."""
    buttons = [{"type": "button", "text": _plain(f"{name} ({org})"[:75]),
                "action_id": f"{Action.SCHEDULE_CUSTOMER_PICK}:{contact_id}",
                "value": encode(ScheduleAssign(k=contact_id, n=schedule[:100]))}
               for contact_id, name, org in matches[:25]]
    text = messages.SCHEDULE_CUSTOMER_CHOOSE.format(asked=asked, schedule=schedule)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "actions", "elements": buttons}]
