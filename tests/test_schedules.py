"""Schedules: which chase is due for an invoice, repeats and their cap, the thank-you, parsing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.chasing.schedule_form import FormField, ScheduleForm, read_form
from bot.chasing.schedules import (
    DEFAULT_SCHEDULE,
    Part,
    ScheduleEdit,
    ScheduleError,
    ScheduleSpec,
    StepSpec,
    apply_edit,
    current_chase,
    next_chase,
    parse_step,
    parse_steps,
    step_text,
    steps_text,
    thank_you_due,
    validate,
)
from bot.messages import SLACK

DUE = date(2026, 12, 1)


def key_on(days_from_due: int) -> str | None:
    found = current_chase(DEFAULT_SCHEDULE, DUE, DUE + timedelta(days=days_from_due))
    return found.key if found else None


@pytest.mark.parametrize(
    ("days_from_due", "key"),
    [
        (-8, None),  # before the first chase
        (-7, "before_due:7"),
        (0, "before_due:7"),
        (1, "overdue:1"),
        (7, "overdue:1"),
        (8, "overdue:8"),  # first weekly repeat
        (20, "overdue:15"),
        (57, "overdue:57"),  # the eighth and last repeat
        (400, "overdue:57"),  # capped: the last chase stays the current one
    ],
)
def test_the_default_schedule_is_chasers_week_before_day_after_then_weekly_capped(
    days_from_due: int, key: str | None
) -> None:
    assert key_on(days_from_due) == key


def test_a_chase_missed_for_weeks_is_caught_up_by_the_latest_one_only() -> None:
    # Down from day 2 to day 30: the one chase due on return is the latest, not four of them.
    assert key_on(30) == "overdue:29"


def test_next_chase_walks_steps_then_repeats_then_ends() -> None:
    first = next_chase(DEFAULT_SCHEDULE, DUE, None)
    assert first is not None and first.key == "before_due:7" and first.on == DUE - timedelta(7)
    second = next_chase(DEFAULT_SCHEDULE, DUE, first)
    assert second is not None and second.key == "overdue:1"
    third = next_chase(DEFAULT_SCHEDULE, DUE, second)
    assert third is not None and third.key == "overdue:8" and third.repeat == 1
    last = current_chase(DEFAULT_SCHEDULE, DUE, DUE + timedelta(days=57))
    assert last is not None and next_chase(DEFAULT_SCHEDULE, DUE, last) is None


def test_a_schedule_without_repeats_ends_at_its_last_step() -> None:
    spec = validate(ScheduleSpec("Short", (StepSpec(Part.OVERDUE, 3, "overdue"),)))
    due = current_chase(spec, DUE, DUE + timedelta(days=90))
    assert due is not None and due.key == "overdue:3"
    assert next_chase(spec, DUE, due) is None


def test_thank_you_falls_due_days_after_payment() -> None:
    paid = date(2026, 12, 3)
    assert thank_you_due(DEFAULT_SCHEDULE, paid, paid - timedelta(days=1)) is None
    due = thank_you_due(DEFAULT_SCHEDULE, paid, paid)
    assert due is not None and due.key == "paid:0"
    assert thank_you_due(DEFAULT_SCHEDULE, None, paid) is None


def test_parse_step_reads_days_and_flags() -> None:
    step = parse_step(Part.OVERDUE, "30:escalated,approval,single,template=final_notice")
    assert step == StepSpec(Part.OVERDUE, 30, "final_notice", grouped=False,
                            escalated_sender=True, escalated_recipients=True,
                            needs_approval=True)


# "1_0" and "１" (full width) are numbers to Python's int(): they were read as 10 and 1.
@pytest.mark.parametrize("text", ["soon", "3:loud", "-2", "1_0", "１", "٣"])
def test_parse_step_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ScheduleError):
        validate(ScheduleSpec("X", (parse_step(Part.OVERDUE, text),)))


def test_an_edit_replaces_only_the_parts_given_and_is_validated() -> None:
    edited = apply_edit(DEFAULT_SCHEDULE, ScheduleEdit(overdue=["1", "14:escalated,approval"],
                                                       thank_you=False, repeat_limit=3))
    assert [s.key for s in edited.steps] == ["before_due:7", "overdue:1", "overdue:14"]
    assert edited.repeat_every_days == 7 and edited.repeat_limit == 3
    with pytest.raises(ScheduleError, match="same day"):
        apply_edit(DEFAULT_SCHEDULE, ScheduleEdit(overdue=["1", "1"]))
    with pytest.raises(ScheduleError, match="template"):
        apply_edit(DEFAULT_SCHEDULE, ScheduleEdit(overdue=["1:template=rude"]))


NO_REPEAT = ScheduleSpec("Once", (StepSpec(Part.OVERDUE, 5, "overdue"),))
BEFORE_ONLY = ScheduleSpec("Early", (StepSpec(Part.BEFORE_DUE, 3, "due_soon"),))


@pytest.mark.parametrize(("spec", "edit", "says"), [
    # Each was saved with the asked-for repeat or cap silently dropped (exit 0).
    (NO_REPEAT, ScheduleEdit(repeat_limit=3), "A cap needs a repeat"),
    (BEFORE_ONLY, ScheduleEdit(repeat_every_days=7), "Only an overdue step can repeat"),
    (BEFORE_ONLY, ScheduleEdit(before_due=["3"], repeat_every_days=7, repeat_limit=2),
     "Only an overdue step can repeat"),
    (DEFAULT_SCHEDULE, ScheduleEdit(no_repeat=True, repeat_every_days=3), "not both"),
    (DEFAULT_SCHEDULE, ScheduleEdit(no_repeat=True, repeat_limit=3), "not both"),
])
def test_an_edit_asking_for_a_repeat_it_cannot_have_is_refused(spec, edit, says) -> None:
    with pytest.raises(ScheduleError, match=says):
        apply_edit(spec, edit)


def test_an_edit_that_removes_the_overdue_steps_drops_their_repeat() -> None:
    edited = apply_edit(DEFAULT_SCHEDULE, ScheduleEdit(overdue=[]))
    assert edited.repeat_every_days is None and edited.repeat_limit is None
    capped = apply_edit(NO_REPEAT, ScheduleEdit(repeat_every_days=7, repeat_limit=2))
    assert (capped.repeat_every_days, capped.repeat_limit) == (7, 2)


@pytest.mark.parametrize("step", [
    StepSpec(Part.OVERDUE, 1, "overdue"),
    StepSpec(Part.BEFORE_DUE, 7, "due_soon", grouped=False),
    StepSpec(Part.OVERDUE, 30, "final_notice", escalated_sender=True,
             escalated_recipients=True, needs_approval=True),
    StepSpec(Part.OVERDUE, 14, "overdue", escalated_sender=True),
    StepSpec(Part.OVERDUE, 21, "overdue", escalated_recipients=True, needs_approval=True),
    StepSpec(Part.BEFORE_DUE, 0, "overdue"),
])
def test_a_step_written_as_text_reads_back_the_same(step: StepSpec) -> None:
    assert parse_step(step.part, step_text(step)) == step


def test_step_text_names_only_what_differs_from_a_plain_step() -> None:
    assert step_text(StepSpec(Part.OVERDUE, 1, "overdue")) == "1"
    assert step_text(StepSpec(Part.OVERDUE, 30, "final_notice", grouped=False,
                              escalated_sender=True, escalated_recipients=True,
                              needs_approval=True)) == \
        "30:template=final_notice,single,escalated,approval"


def test_steps_are_typed_one_a_line_or_separated_by_semicolons() -> None:
    assert [s.key for s in parse_steps(Part.OVERDUE, " 1\n\n14:escalated ; 30 ")] == [
        "overdue:1", "overdue:14", "overdue:30"]
    assert parse_steps(Part.BEFORE_DUE, "  ") == []
    assert steps_text(DEFAULT_SCHEDULE, Part.BEFORE_DUE) == "7"
    assert steps_text(DEFAULT_SCHEDULE, Part.OVERDUE) == "1"


def test_a_whole_form_replaces_every_part_of_the_schedule() -> None:
    result = read_form(ScheduleForm(name=" Strict ", before_due="3", overdue="1\n10:escalated",
                                    repeat_every_days="5", repeat_limit="", thank_you=False))
    assert result.errors == {}
    assert result.spec == ScheduleSpec(
        "Strict", (StepSpec(Part.BEFORE_DUE, 3, "due_soon"), StepSpec(Part.OVERDUE, 1, "overdue"),
                   StepSpec(Part.OVERDUE, 10, "overdue", escalated_sender=True,
                            escalated_recipients=True)), 5, None)


def test_a_form_keeps_the_thank_you_step_it_had() -> None:
    kept = StepSpec(Part.PAID, 2, "thank_you", grouped=False)
    result = read_form(ScheduleForm(name="A", overdue="1"), thank_you=kept)
    assert result.spec is not None and result.spec.thank_you == kept
    fresh = read_form(ScheduleForm(name="A", overdue="1")).spec
    assert fresh is not None and fresh.thank_you == StepSpec(Part.PAID, 0, "thank_you")


@pytest.mark.parametrize(("form", "field", "says"), [
    (ScheduleForm(name=" "), FormField.NAME, "needs a name"),
    (ScheduleForm(name="\x1b[31mRed", overdue="1"), FormField.NAME, "control characters"),
    (ScheduleForm(name="A", before_due="soon"), FormField.BEFORE_DUE, "is not a step"),
    (ScheduleForm(name="A", overdue="1\n1"), FormField.OVERDUE, "same day"),
    (ScheduleForm(name="A", overdue="3:loud"), FormField.OVERDUE, "Unknown step flag"),
    (ScheduleForm(name="A", before_due="0", overdue="0\n5"), FormField.OVERDUE,
     "Two steps fall on the due date"),
    (ScheduleForm(name="A", overdue="4000"), FormField.OVERDUE, "0 to 3650"),
    (ScheduleForm(name="A", overdue="1:template=rude"), FormField.OVERDUE, "Unknown template"),
    (ScheduleForm(name="A", overdue="1", repeat_every_days="0"), FormField.REPEAT_EVERY,
     "1 to 365"),
    (ScheduleForm(name="A", overdue="1", repeat_every_days="weekly"), FormField.REPEAT_EVERY,
     "1 to 365"),
    (ScheduleForm(name="A", before_due="7", repeat_every_days="7"), FormField.REPEAT_EVERY,
     "Only an overdue step can repeat"),
    (ScheduleForm(name="A", overdue="1", repeat_every_days="7", repeat_limit="101"),
     FormField.REPEAT_LIMIT, "1 to 100"),
    (ScheduleForm(name="A", overdue="1", repeat_limit="3"), FormField.REPEAT_LIMIT,
     "A cap needs a repeat"),
])
def test_a_form_says_what_to_fix_in_the_part_that_is_wrong(form, field, says) -> None:
    result = read_form(form)
    assert result.spec is None and list(result.errors) == [field]
    assert says in result.errors[field].render(SLACK)


def test_a_long_or_huge_typed_step_is_answered_in_a_short_line() -> None:
    long_line = "x" * 5000
    for form in (ScheduleForm(name="A", overdue=long_line),
                 ScheduleForm(name="A", overdue="1:" + long_line),
                 ScheduleForm(name="A", overdue="9" * 4000),
                 ScheduleForm(name="A", overdue="9" * 5000),
                 ScheduleForm(name="A", overdue="1:template=" + long_line)):
        (said,) = read_form(form).errors.values()
        assert len(said.render(SLACK)) < 300


def test_a_part_holds_at_most_twenty_steps() -> None:
    result = read_form(ScheduleForm(name="A", overdue="\n".join(str(d) for d in range(21))))
    assert result.errors[FormField.OVERDUE].render(SLACK) == "At most 20 steps overdue."
    assert read_form(ScheduleForm(name="A", overdue="\n".join(str(d) for d in range(20)))).spec


def test_a_chase_on_the_due_date_is_written_in_one_part_only() -> None:
    # 0 days before due and 0 days after due are the same day: only the later step was ever
    # sent (the latest chase counts), the before-due one silently never.
    both = ScheduleSpec("X", (StepSpec(Part.BEFORE_DUE, 0, "due_soon"),
                              StepSpec(Part.OVERDUE, 0, "overdue")))
    with pytest.raises(ScheduleError, match="Two steps fall on the due date"):
        validate(both)
    assert validate(ScheduleSpec("X", both.steps[:1]))
    assert validate(ScheduleSpec("X", both.steps[1:]))
