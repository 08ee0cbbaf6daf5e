"""Schedules: which chase is due for an invoice, repeats and their cap, the thank-you, parsing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

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
    thank_you_due,
    validate,
)

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


@pytest.mark.parametrize("text", ["soon", "3:loud", "-2"])
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
