"""A whole schedule as typed in a form (the Slack modal): every part read, each error kept
under the part it is about, through the same step parser as the CLI (schedules.parse_steps)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.chasing.schedules import (
    Part,
    ScheduleError,
    ScheduleSpec,
    StepSpec,
    check_name,
    parse_steps,
    validate,
)
from bot.messages import Message


class FormField(StrEnum):
    """The parts of a schedule form, each of which can carry its own error."""

    NAME = "name"
    BEFORE_DUE = "before_due"
    OVERDUE = "overdue"
    REPEAT_EVERY = "repeat_every"
    REPEAT_LIMIT = "repeat_limit"


@dataclass(frozen=True)
class ScheduleForm:
    """Every part of a schedule as typed: steps one a line (DAYS[:flags]), numbers as text."""

    name: str
    before_due: str = ""
    overdue: str = ""
    repeat_every_days: str = ""  # empty: the last overdue step does not repeat
    repeat_limit: str = ""  # empty: it repeats until paid
    thank_you: bool = True


@dataclass(frozen=True)
class FormResult:
    """The schedule a form asks for, or what to fix in which part (nothing saved then)."""

    spec: ScheduleSpec | None
    errors: dict[FormField, Message]


def _whole_number(text: str, low: int, high: int, wrong: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        raise ScheduleError(wrong) from None
    if not low <= number <= high:
        raise ScheduleError(wrong)
    return number


def _part_steps(part: Part, text: str) -> list[StepSpec]:
    steps = parse_steps(part, text)
    validate(ScheduleSpec("steps", tuple(steps)))  # days, templates, two on one day
    return steps


def read_form(form: ScheduleForm, *, thank_you: StepSpec | None = None) -> FormResult:
    """The schedule a whole form describes, every part replaced (the CLI's `set` edits parts
    instead); a thank-you that was on keeps its day and template (`thank_you`)."""
    errors: dict[FormField, Message] = {}
    steps: dict[Part, list[StepSpec]] = {Part.BEFORE_DUE: [], Part.OVERDUE: []}
    name = form.name.strip()
    try:
        check_name(name)
    except ScheduleError as error:
        errors[FormField.NAME] = error.message
    for part, field, text in ((Part.BEFORE_DUE, FormField.BEFORE_DUE, form.before_due),
                              (Part.OVERDUE, FormField.OVERDUE, form.overdue)):
        try:
            steps[part] = _part_steps(part, text)
        except ScheduleError as error:
            errors[field] = error.message
    every = limit = None
    try:
        every = _whole_number(form.repeat_every_days, 1, 365,
                              "Repeat every 1 to 365 days, or leave it empty for no repeat.")
        if every is not None and not steps[Part.OVERDUE] and FormField.OVERDUE not in errors:
            raise ScheduleError("Only an overdue step can repeat: add one, or leave this empty.")
    except ScheduleError as error:
        errors[FormField.REPEAT_EVERY] = error.message
    try:
        limit = _whole_number(form.repeat_limit, 1, 100,
                              "Cap the repeats at 1 to 100, or leave it empty to repeat until "
                              "paid.")
        if limit is not None and not form.repeat_every_days.strip():
            raise ScheduleError("A cap needs a repeat: set how often, or leave the cap empty.")
    except ScheduleError as error:
        errors[FormField.REPEAT_LIMIT] = error.message
    if errors:
        return FormResult(None, errors)
    paid = (thank_you or StepSpec(Part.PAID, 0, "thank_you"),) if form.thank_you else ()
    spec = ScheduleSpec(name, tuple(steps[Part.BEFORE_DUE] + steps[Part.OVERDUE]) + paid,
                        every, limit)
    try:
        return FormResult(validate(spec), {})
    except ScheduleError as error:  # a rule across the parts (a step on the due date in both)
        return FormResult(None, {FormField.OVERDUE: error.message})
