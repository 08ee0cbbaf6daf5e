"""Every name Slack round-trips to us: commands, subcommands, events, action/callback/block ids.

Listeners, block builders and tests use these, never string literals, so a rename is one edit
and tests/test_manifest.py can check the manifest and the registered listeners agree. Add your
names in the class for their kind; keep values short (Slack: action_id/block_id ≤ 255).
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    """Slash commands (each one is also in app_manifest.yaml)."""

    CHASER = "/chaser"


class Subcommand(StrEnum):
    """The first word after /chaser."""

    HELP = "help"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    STATUS = "status"
    SYNC = "sync"
    OVERDUE = "overdue"
    INVOICE = "invoice"
    CUSTOMER = "customer"
    SETTINGS = "settings"
    PAUSE = "pause"
    RESUME = "resume"
    ESCALATE = "escalate"
    SCHEDULE = "schedule"


class Event(StrEnum):
    """Events API event types we subscribe to (each one is also a bot event in the manifest)."""

    APP_HOME_OPENED = "app_home_opened"
    APP_UNINSTALLED = "app_uninstalled"
    TOKENS_REVOKED = "tokens_revoked"


class Action(StrEnum):
    """action_id of buttons, pickers and selects."""

    CONNECT_XERO = "connect_xero"  # a link button: Slack still sends block_actions on click
    CUSTOMER_PICK = "customer_pick"  # one of several close matches (":<id>" keeps ids unique)
    LOOKUP_VIEW_IN_XERO = "lookup_view_in_xero"  # link buttons in /chaser replies
    LOOKUP_EDIT_CONTACT = "lookup_edit_contact"
    ESCALATION_APPROVE = "escalation_approve"
    ESCALATION_DECLINE = "escalation_decline"
    ESCALATION_SNOOZE = "escalation_snooze"  # a static_select: the option's value says how long
    FOREWARN_SKIP = "forewarn_skip"
    # The daily digest's per-invoice controls and pager (bot/blocks/digest.py).
    DIGEST_EXPECTED_DATE = "digest_expected_date"
    DIGEST_PAUSE = "digest_pause"
    DIGEST_RESUME = "digest_resume"
    DIGEST_DISPUTE = "digest_dispute"
    DIGEST_RESOLVE = "digest_resolve"
    DIGEST_VIEW_INVOICE = "digest_view_invoice"  # link buttons: acknowledged, nothing to do
    DIGEST_EDIT_CONTACT = "digest_edit_contact"
    DIGEST_PAGE = "digest_page"
    # Connect or reconnect Xero from App Home or a connection-lost DM: a fresh consent link.
    RECONNECT_XERO = "reconnect_xero"
    OPEN_XERO_CONSENT = "open_xero_consent"  # the link button that fresh link sits on
    # The settings modal's button that pushes the schedule modal, and that modal's picker.
    SETTINGS_EDIT_SCHEDULE = "settings_edit_schedule"
    SCHEDULE_PICK = "schedule_pick"
    SCHEDULE_CUSTOMER_PICK = "schedule_customer_pick"  # a close match (":<id>" as CUSTOMER_PICK)


class View(StrEnum):
    """callback_id of modals."""

    SETTINGS = "settings"
    DIGEST_DISPUTE = "digest_dispute"  # why an invoice is disputed
    SCHEDULE = "schedule"  # one chasing schedule and the senders
    NOTICE = "notice"  # a pushed modal that only tells the person something


class Block(StrEnum):
    """block_id of input blocks whose values a view submission reads."""

    SETTINGS_ORG = "settings_org"
    SETTINGS_CHANNEL = "settings_channel"
    SETTINGS_TIME = "settings_time"
    SETTINGS_ADMINS = "settings_admins"
    SETTINGS_MANAGERS = "settings_managers"
    SETTINGS_MINIMUM = "settings_minimum"
    SETTINGS_OPTIONS = "settings_options"
    SETTINGS_ALERTS = "settings_alerts"
    SETTINGS_ALERT_OVERDUE = "settings_alert_overdue"
    SETTINGS_APPROVALS = "settings_approvals"
    ESCALATION_ACTIONS = "escalation_actions"
    ESCALATION_DECISION = "escalation_decision"
    DISPUTE_REASON = "dispute_reason"
    SETTINGS_SCHEDULE = "settings_schedule"
    # The schedule modal's inputs: each block_id ends ":<schedule id or new>", so picking
    # another schedule (views.update) shows its values instead of keeping what was typed.
    SCHEDULE_PICK = "schedule_pick"
    SCHEDULE_NAME = "schedule_name"
    SCHEDULE_BEFORE_DUE = "schedule_before_due"
    SCHEDULE_OVERDUE = "schedule_overdue"
    SCHEDULE_REPEAT_EVERY = "schedule_repeat_every"
    SCHEDULE_REPEAT_LIMIT = "schedule_repeat_limit"
    SCHEDULE_OPTIONS = "schedule_options"
    SENDER_NAME = "sender_name"
    SENDER_EMAIL = "sender_email"
    ESCALATED_SENDER_NAME = "escalated_sender_name"
    ESCALATED_SENDER_EMAIL = "escalated_sender_email"
    # Not inputs: the ids of the digest's blocks, which carry what a click needs.
    DIGEST_LINE = "dl"  # + ":" + an InvoiceRef payload (the date picker's only context)
    DIGEST_BUTTONS = "db"  # + ":" + the invoice id
    DIGEST_PAGER = "digest_pager"


class Field(StrEnum):
    """action_id of inputs inside a modal (read as state.values[block][field])."""

    VALUE = "value"
