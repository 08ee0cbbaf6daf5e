"""The /chaser settings modal: current settings in, a Slack view out (and values read back)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from bot import messages
from bot.ids import Action, Block, Field, View
from bot.payloads import SettingsForm, encode
from storage.money import MONEY_LIMIT, quantize_money

WAIT_FOR_EXPECTED = "wait_for_expected_date"
BUTTONS_ADMINS_ONLY = "buttons_admins_only"
ALERT_PAYMENTS = "alert_payments"


@dataclass(frozen=True)
class SettingsValues:
    """What the modal edits for one organisation (admins and managers are the workspace's)."""

    connection_id: int
    organisation: str
    digest_channel_id: str | None
    digest_time: str  # "HH:MM" in the organisation's timezone
    timezone: str
    admins: list[str]
    managers: list[str]
    minimum_chase_amount: Decimal
    currency: str
    wait_for_expected_date: bool
    buttons_admins_only: bool
    alert_payments: bool = True
    alert_overdue_over: Decimal | None = None
    approvals_channel_id: str | None = None


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _input(block: Block, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:
    found = {"type": "input", "block_id": block, "label": _plain(label),
             "element": {**element, "action_id": Field.VALUE}, "optional": optional}
    if hint:
        found["hint"] = _plain(hint)
    return found


def settings_modal(values: SettingsValues) -> dict[str, Any]:
    """The modal, filled with the current values."""
    channel: dict[str, Any] = {"type": "conversations_select",
                               "filter": {"include": ["public", "private"],
                                          "exclude_bot_users": True}}
    if values.digest_channel_id:
        channel["initial_conversation"] = values.digest_channel_id
    approvals: dict[str, Any] = {"type": "conversations_select",
                                 "filter": {"include": ["public", "private"],
                                            "exclude_bot_users": True}}
    if values.approvals_channel_id:
        approvals["initial_conversation"] = values.approvals_channel_id
    checks = [
        {"text": _plain(messages.SETTINGS_WAIT_LABEL), "value": WAIT_FOR_EXPECTED},
        {"text": _plain(messages.SETTINGS_BUTTONS_LABEL), "value": BUTTONS_ADMINS_ONLY},
    ]
    chosen = [option for option, on in zip(
        checks, (values.wait_for_expected_date, values.buttons_admins_only), strict=True) if on]
    options: dict[str, Any] = {"type": "checkboxes", "options": checks}
    if chosen:
        options["initial_options"] = chosen
    payments = {"text": _plain(messages.SETTINGS_ALERT_PAYMENTS_LABEL), "value": ALERT_PAYMENTS}
    alerts: dict[str, Any] = {"type": "checkboxes", "options": [payments]}
    if values.alert_payments:
        alerts["initial_options"] = [payments]
    overdue_over: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": True,
                                    "min_value": "0"}
    if values.alert_overdue_over is not None:
        overdue_over["initial_value"] = str(values.alert_overdue_over)
    return {
        "type": "modal",
        "callback_id": View.SETTINGS,
        "private_metadata": encode(SettingsForm(c=values.connection_id)),
        "title": _plain(messages.SETTINGS_TITLE),
        "submit": _plain(messages.SETTINGS_SAVE),
        "close": _plain(messages.SETTINGS_CANCEL),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{values.organisation}*"}},
            # Pushes the schedule modal on top of this one (views.push): Back returns here.
            {"type": "section", "block_id": Block.SETTINGS_SCHEDULE,
             "text": {"type": "mrkdwn", "text": messages.SETTINGS_SCHEDULE_TEXT},
             "accessory": {"type": "button", "action_id": Action.SETTINGS_EDIT_SCHEDULE,
                           "text": _plain(messages.SETTINGS_SCHEDULE_BUTTON),
                           "value": encode(SettingsForm(c=values.connection_id))}},
            _input(Block.SETTINGS_CHANNEL, messages.SETTINGS_CHANNEL_LABEL, channel,
                   optional=True),
            _input(Block.SETTINGS_TIME, messages.SETTINGS_TIME_LABEL,
                   {"type": "timepicker", "initial_time": values.digest_time},
                   hint=messages.SETTINGS_TIME_HINT.format(zone=values.timezone)),
            _input(Block.SETTINGS_ADMINS, messages.SETTINGS_ADMINS_LABEL,
                   {"type": "multi_users_select", "initial_users": values.admins},
                   optional=True, hint=messages.SETTINGS_ADMINS_HINT),
            _input(Block.SETTINGS_MANAGERS, messages.SETTINGS_MANAGERS_LABEL,
                   {"type": "multi_users_select", "initial_users": values.managers},
                   optional=True, hint=messages.SETTINGS_MANAGERS_HINT),
            _input(Block.SETTINGS_APPROVALS, messages.SETTINGS_APPROVALS_LABEL, approvals,
                   optional=True, hint=messages.SETTINGS_APPROVALS_HINT),
            _input(Block.SETTINGS_MINIMUM,
                   messages.SETTINGS_MINIMUM_LABEL.format(currency=values.currency),
                   {"type": "number_input", "is_decimal_allowed": True, "min_value": "0",
                    "initial_value": str(values.minimum_chase_amount)}),
            _input(Block.SETTINGS_OPTIONS, messages.SETTINGS_OPTIONS_LABEL, options,
                   optional=True),
            _input(Block.SETTINGS_ALERTS, messages.SETTINGS_ALERTS_LABEL, alerts,
                   optional=True),
            _input(Block.SETTINGS_ALERT_OVERDUE,
                   messages.SETTINGS_ALERT_OVERDUE_LABEL.format(currency=values.currency),
                   overdue_over, optional=True, hint=messages.SETTINGS_ALERT_OVERDUE_HINT),
        ],
    }


@dataclass(frozen=True)
class SettingsChange:
    """What a submitted modal asks for, checked; `errors` maps block ids to a message."""

    connection_id: int
    digest_channel_id: str | None
    digest_time: str | None
    admins: list[str]
    managers: list[str]
    minimum_chase_amount: Decimal | None
    wait_for_expected_date: bool
    buttons_admins_only: bool
    errors: dict[str, str]
    alert_payments: bool = True
    alert_overdue_over: Decimal | None = None
    approvals_channel_id: str | None = None


def _amount(raw: str) -> Decimal:
    """An amount as typed ("1,250.50"), to the cent by the money rule; InvalidOperation when
    it is not a number money can hold (stored, 1e30 failed after the modal had closed)."""
    amount = Decimal(raw.replace(",", ""))
    if not amount.is_finite() or abs(amount) >= MONEY_LIMIT:
        raise InvalidOperation
    return quantize_money(amount)


def read_submission(connection_id: int, state: dict[str, Any]) -> SettingsChange:
    """The submitted values (view.state.values), with a message for each one that is wrong."""

    def value(block: Block) -> dict[str, Any]:
        return (state.get(block) or {}).get(Field.VALUE) or {}

    errors: dict[str, str] = {}
    time = value(Block.SETTINGS_TIME).get("selected_time")
    if not time:
        errors[Block.SETTINGS_TIME] = messages.SETTINGS_TIME_MISSING
    raw = (value(Block.SETTINGS_MINIMUM).get("value") or "0").strip()
    try:
        minimum: Decimal | None = _amount(raw)
        if minimum < 0:
            raise InvalidOperation
    except InvalidOperation:
        minimum = None
        errors[Block.SETTINGS_MINIMUM] = messages.SETTINGS_MINIMUM_BAD
    chosen = {o.get("value") for o in value(Block.SETTINGS_OPTIONS).get("selected_options") or []}
    alerts = {o.get("value") for o in value(Block.SETTINGS_ALERTS).get("selected_options") or []}
    overdue_raw = (value(Block.SETTINGS_ALERT_OVERDUE).get("value") or "").strip()
    overdue_over: Decimal | None = None
    if overdue_raw:
        try:
            overdue_over = _amount(overdue_raw)
            if overdue_over <= 0:
                raise InvalidOperation
        except InvalidOperation:
            overdue_over = None
            errors[Block.SETTINGS_ALERT_OVERDUE] = messages.SETTINGS_ALERT_OVERDUE_BAD
    return SettingsChange(
        connection_id=connection_id,
        digest_channel_id=value(Block.SETTINGS_CHANNEL).get("selected_conversation"),
        digest_time=time,
        admins=list(value(Block.SETTINGS_ADMINS).get("selected_users") or []),
        managers=list(value(Block.SETTINGS_MANAGERS).get("selected_users") or []),
        minimum_chase_amount=minimum,
        wait_for_expected_date=WAIT_FOR_EXPECTED in chosen,
        buttons_admins_only=BUTTONS_ADMINS_ONLY in chosen,
        errors=errors,
        alert_payments=ALERT_PAYMENTS in alerts,
        alert_overdue_over=overdue_over,
        approvals_channel_id=value(Block.SETTINGS_APPROVALS).get("selected_conversation"),
    )
