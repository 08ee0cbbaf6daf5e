"""Chasing schedules: their steps, Chaser's default, and which step is due for an invoice.

Pure: plain values in and out. A schedule has three parts, as Chaser's: chases N days before
the due date, N days after it (the last may repeat every X days up to a cap), and a thank-you
N days after payment. Every chase has a step key naming its day ("overdue:15"), the ledger's
idempotency key, so an edit to a schedule or a move to another schedule never sends a second
chase for the same day of the same invoice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from bot.errors import BadInput


class Part(StrEnum):
    """The parts of a schedule (the values of storage.models.SchedulePart)."""

    BEFORE_DUE = "before_due"
    OVERDUE = "overdue"
    PAID = "paid"


# Template families shipped in bot/chasing/templates/ (each has single and grouped variants).
TEMPLATES = ("due_soon", "overdue", "final_notice", "thank_you")
DEFAULT_TEMPLATE = {Part.BEFORE_DUE: "due_soon", Part.OVERDUE: "overdue", Part.PAID: "thank_you"}
MAX_DAYS = 3650
MAX_STEPS = 20  # per part: Chaser's schedules have a handful; more is a typing accident
DEFAULT_SCHEDULE_NAME = "Default"
SENDER_NAME_MAX = 255  # a sender's From name: what organisation_settings keeps (String(255))


class ScheduleError(BadInput):
    """A schedule or step as typed cannot be used; the message says what to change."""


def sender_name(text: str | None) -> str | None:
    """A sender's From name as typed, trimmed (None: none); BadInput past SENDER_NAME_MAX
    characters, on every database (SQLite kept a longer one, PostgreSQL refused it)."""
    name = (text or "").strip() or None
    if name is not None and len(name) > SENDER_NAME_MAX:
        raise BadInput(f"A sender's name is at most {SENDER_NAME_MAX} characters "
                       f"(got {len(name)}).")
    return name


def _shown(value: object, limit: int = 30) -> str:
    """What was typed, quoted and cut short: an error stays one readable line."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


@dataclass(frozen=True)
class StepSpec:
    """One chase of a schedule."""

    part: Part
    days: int
    template: str
    grouped: bool = True
    escalated_sender: bool = False
    escalated_recipients: bool = False
    needs_approval: bool = False

    @property
    def key(self) -> str:
        return step_key(self.part, self.days)

    @property
    def escalated(self) -> bool:
        return self.escalated_sender or self.escalated_recipients


@dataclass(frozen=True)
class ScheduleSpec:
    """A whole schedule: its steps and the repeat of its last overdue step."""

    name: str
    steps: tuple[StepSpec, ...]
    repeat_every_days: int | None = None
    repeat_limit: int | None = None

    @property
    def chases(self) -> tuple[StepSpec, ...]:
        """Before-due and overdue steps, by their day relative to the due date."""
        chasing = [s for s in self.steps if s.part is not Part.PAID]
        return tuple(sorted(chasing, key=offset))

    @property
    def thank_you(self) -> StepSpec | None:
        return next((s for s in self.steps if s.part is Part.PAID), None)


def step_key(part: Part | str, days: int) -> str:
    """The ledger key of a chase: its part and its day ("before_due:7", "overdue:15")."""
    return f"{Part(part).value}:{days}"


def offset(step: StepSpec) -> int:
    """Days from the due date to the step (negative before it)."""
    return -step.days if step.part is Part.BEFORE_DUE else step.days


# Chaser's default for new accounts: a week before due, a day after, then weekly until paid
# (capped here: eight repeats, eight weeks, before an invoice counts as end of schedule), in
# grouped emails (one for not-yet-due, one for overdue), thank-you on.
DEFAULT_SCHEDULE = ScheduleSpec(
    name=DEFAULT_SCHEDULE_NAME,
    steps=(
        StepSpec(Part.BEFORE_DUE, 7, "due_soon"),
        StepSpec(Part.OVERDUE, 1, "overdue"),
        StepSpec(Part.PAID, 0, "thank_you"),
    ),
    repeat_every_days=7,
    repeat_limit=8,
)


def check_name(name: str) -> None:
    """ScheduleError unless `name` can name a schedule: 1 to 100 characters, none of them a
    control character (an escape sequence in a name rewrote the terminal of `schedule show`)."""
    if not name.strip() or len(name) > 100:
        raise ScheduleError("A schedule needs a name of 1 to 100 characters.")
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise ScheduleError("A schedule's name cannot hold control characters (escapes, tabs, "
                            "line breaks).")


def validate(spec: ScheduleSpec) -> ScheduleSpec:
    """The schedule, or ScheduleError saying what is wrong with it."""
    check_name(spec.name)
    seen: set[str] = set()
    for step in spec.steps:
        if not 0 <= step.days <= MAX_DAYS:
            raise ScheduleError(f"Step days must be 0 to {MAX_DAYS} (got {_shown(step.days)}).")
        if step.template not in TEMPLATES:
            raise ScheduleError(
                f"Unknown template {_shown(step.template)}: use one of {', '.join(TEMPLATES)}."
            )
        if step.key in seen:
            raise ScheduleError(f"Two steps fall on the same day ({step.key}).")
        seen.add(step.key)
    if {step_key(Part.BEFORE_DUE, 0), step_key(Part.OVERDUE, 0)} <= seen:
        # One day, two keys: only the later step would ever be sent (the latest chase counts).
        raise ScheduleError("Two steps fall on the due date (0 days before due and 0 days "
                            "after): keep one of them.")
    for part in (Part.BEFORE_DUE, Part.OVERDUE):
        if sum(1 for s in spec.steps if s.part is part) > MAX_STEPS:
            raise ScheduleError(f"At most {MAX_STEPS} steps {part.value.replace('_', ' ')}.")
    if sum(1 for s in spec.steps if s.part is Part.PAID) > 1:
        raise ScheduleError("A schedule has at most one thank-you step.")
    if spec.repeat_every_days is not None:
        if not 1 <= spec.repeat_every_days <= 365:
            raise ScheduleError("Repeat every 1 to 365 days.")
        if not any(s.part is Part.OVERDUE for s in spec.steps):
            raise ScheduleError("Only an overdue step can repeat: add one first.")
    if spec.repeat_limit is not None and not 1 <= spec.repeat_limit <= 100:
        raise ScheduleError("The repeat cap must be 1 to 100.")
    return spec


# Which chase is due --------------------------------------------------------------------------


@dataclass(frozen=True)
class DueStep:
    """A chase of one invoice on a given day: the step (a repeat has the last step's settings)."""

    step: StepSpec
    key: str
    on: date
    repeat: int = 0  # 0 for a step as written, n for its n-th repeat


def _chase_at(spec: ScheduleSpec, due: date, index: int) -> DueStep | None:
    """The index-th chase of an invoice (steps, then repeats), or None past the end."""
    chases = spec.chases
    if index < len(chases):
        step = chases[index]
        return DueStep(step, step.key, due + timedelta(days=offset(step)))
    last = chases[-1] if chases else None
    if last is None or last.part is not Part.OVERDUE or not spec.repeat_every_days:
        return None
    repeat = index - len(chases) + 1
    if spec.repeat_limit is not None and repeat > spec.repeat_limit:
        return None
    days = last.days + repeat * spec.repeat_every_days
    return DueStep(last, step_key(Part.OVERDUE, days), due + timedelta(days=days), repeat)


def current_chase(spec: ScheduleSpec, due: date, today: date) -> DueStep | None:
    """The latest chase whose day has come (on or before `today`), or None if none has yet.

    Only the latest counts: chases whose day passed while the bot was down (or before the
    invoice was synced) are not sent one by one, but caught up once by this one.
    """
    chases = spec.chases
    if not chases or due + timedelta(days=offset(chases[0])) > today:
        return None
    found: DueStep | None = None
    for index, step in enumerate(chases):
        on = due + timedelta(days=offset(step))
        if on > today:
            return found
        found = DueStep(step, step.key, on)
        last_index = index
    # Past the last written step: jump straight to the latest repeat instead of walking.
    if found is None or found.step.part is not Part.OVERDUE or not spec.repeat_every_days:
        return found
    elapsed = (today - found.on).days
    repeat = elapsed // spec.repeat_every_days
    if spec.repeat_limit is not None:
        repeat = min(repeat, spec.repeat_limit)
    if repeat == 0:
        return found
    return _chase_at(spec, due, last_index + repeat)


def next_chase(spec: ScheduleSpec, due: date, after: DueStep | None) -> DueStep | None:
    """The chase after `after` (the first chase when None), or None at the end of schedule."""
    if after is None:
        return _chase_at(spec, due, 0)
    chases = spec.chases
    keys = [s.key for s in chases]
    index = keys.index(after.key) if after.repeat == 0 and after.key in keys else (
        len(chases) - 1 + after.repeat
    )
    return _chase_at(spec, due, index + 1)


def thank_you_due(spec: ScheduleSpec, paid_on: date | None, today: date) -> DueStep | None:
    """The thank-you chase when the schedule has one and its day has come."""
    step = spec.thank_you
    if step is None or paid_on is None:
        return None
    on = paid_on + timedelta(days=step.days)
    return DueStep(step, step.key, on) if on <= today else None


# Parsing a step as typed at the command line -----------------------------------------------

_FLAGS = {
    "grouped": {"grouped": True},
    "single": {"grouped": False},
    "escalated": {"escalated_sender": True, "escalated_recipients": True},
    "escalated-sender": {"escalated_sender": True},
    "escalated-recipients": {"escalated_recipients": True},
    "approval": {"needs_approval": True},
}
STEP_SYNTAX = "DAYS[:flag,...] with flags grouped|single, escalated, escalated-sender, " \
    "escalated-recipients, approval, template=NAME"


def parse_step(part: Part, text: str) -> StepSpec:
    """A step from "14:escalated,approval,template=final_notice" (days, then flags)."""
    days_text, _, flags_text = text.strip().partition(":")
    # Digits 0-9 only: int() also reads "1_0" as 10 and other scripts' digits ("１").
    try:
        if not re.fullmatch(r"[+-]?[0-9]+", days_text.strip()):
            raise ValueError(days_text)
        days = int(days_text)  # ValueError past 4,300 digits too
    except ValueError:
        raise ScheduleError(f"{_shown(text.strip())} is not a step: write {STEP_SYNTAX}.") \
            from None
    step = StepSpec(part, days, DEFAULT_TEMPLATE[part])
    for flag in filter(None, (f.strip() for f in flags_text.split(","))):
        if flag.startswith("template="):
            step = replace(step, template=flag.removeprefix("template="))
        elif flag in _FLAGS:
            step = replace(step, **_FLAGS[flag])  # type: ignore[arg-type]
        else:
            raise ScheduleError(f"Unknown step flag {_shown(flag)}: write {STEP_SYNTAX}.")
    return step


def parse_steps(part: Part, text: str) -> list[StepSpec]:
    """Steps typed one a line (";" also separates them), each as `parse_step` reads it."""
    lines = (line.strip() for line in text.replace(";", "\n").splitlines())
    return [parse_step(part, line) for line in lines if line]


def step_text(step: StepSpec) -> str:
    """The step as `parse_step` reads it, naming only what differs from a plain step."""
    flags = []
    if step.template != DEFAULT_TEMPLATE[step.part]:
        flags.append(f"template={step.template}")
    if not step.grouped:
        flags.append("single")
    if step.escalated_sender and step.escalated_recipients:
        flags.append("escalated")
    elif step.escalated_sender:
        flags.append("escalated-sender")
    elif step.escalated_recipients:
        flags.append("escalated-recipients")
    if step.needs_approval:
        flags.append("approval")
    return f"{step.days}:{','.join(flags)}" if flags else str(step.days)


def steps_text(spec: ScheduleSpec, part: Part) -> str:
    """A part's steps one a line, as `parse_steps` reads them back."""
    return "\n".join(step_text(s) for s in spec.chases if s.part is part)


def describe_step(step: StepSpec) -> str:
    """One line for a person: "14 days after due — final_notice, grouped, escalated sender"."""
    days = f"{step.days} day" if step.days == 1 else f"{step.days} days"
    when = {
        Part.BEFORE_DUE: f"{days} before due",
        Part.OVERDUE: f"{days} after due",
        Part.PAID: f"{days} after payment" if step.days else "on payment",
    }[step.part]
    flags = [step.template, "grouped" if step.grouped else "one email per invoice"]
    if step.escalated_sender:
        flags.append("escalated sender")
    if step.escalated_recipients:
        flags.append("escalated recipients")
    if step.needs_approval:
        flags.append("needs approval")
    return f"{when} — {', '.join(flags)}"


@dataclass
class ScheduleEdit:
    """Changes to a schedule as typed: parts replaced only when given."""

    before_due: list[str] | None = None
    overdue: list[str] | None = None
    thank_you: bool | None = None
    repeat_every_days: int | None = None
    repeat_limit: int | None = None
    no_repeat: bool = False


def apply_edit(spec: ScheduleSpec, edit: ScheduleEdit) -> ScheduleSpec:
    """The schedule with the edit applied, validated."""
    steps: dict[Part, list[StepSpec]] = {part: [] for part in Part}
    for step in spec.steps:
        steps[step.part].append(step)
    if edit.before_due is not None:
        steps[Part.BEFORE_DUE] = [parse_step(Part.BEFORE_DUE, t) for t in edit.before_due]
    if edit.overdue is not None:
        steps[Part.OVERDUE] = [parse_step(Part.OVERDUE, t) for t in edit.overdue]
    if edit.thank_you is True and not steps[Part.PAID]:
        steps[Part.PAID] = [StepSpec(Part.PAID, 0, "thank_you")]
    elif edit.thank_you is False:
        steps[Part.PAID] = []
    # What is asked for and cannot be had is refused, not dropped (the form refuses it too).
    if edit.no_repeat and (edit.repeat_every_days or edit.repeat_limit):
        raise ScheduleError("Either no repeat, or how often and the cap: not both.")
    if edit.repeat_every_days and not steps[Part.OVERDUE]:
        raise ScheduleError("Only an overdue step can repeat: add one first.")
    every = None if edit.no_repeat else (edit.repeat_every_days or spec.repeat_every_days)
    limit = None if edit.no_repeat else (edit.repeat_limit or spec.repeat_limit)
    if edit.repeat_limit and not (every and steps[Part.OVERDUE]):
        raise ScheduleError("A cap needs a repeat: set how often the last overdue step "
                            "repeats too.")
    return validate(
        ScheduleSpec(
            name=spec.name,
            steps=tuple(steps[Part.BEFORE_DUE] + steps[Part.OVERDUE] + steps[Part.PAID]),
            repeat_every_days=every if steps[Part.OVERDUE] else None,
            repeat_limit=limit if every and steps[Part.OVERDUE] else None,
        )
    )

