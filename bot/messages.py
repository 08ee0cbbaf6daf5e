"""Every sentence a person reads, written once and rendered for the surface that shows it.

A `Message` is a template; `render(surface)` fills in the values and the surface's own way of
writing a command: `{cmd[connect]}` becomes `/chaser connect` in Slack and `chaser connect` in
a terminal. Build one with a function below (`needs_reconnect(name, reason)`) or `say(...)`;
render it only where it is shown (the CLI funnel, the Slack error handler, a web page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Surface:
    """Where a person reads a message; it decides how a command is written."""

    name: str
    prefix: str  # "/chaser" (the slash command) or "chaser" (the console script)
    place: str  # where the person goes back to: "Slack", "the terminal"

    def command(self, name: str) -> str:
        """A command as this surface's user would type it, e.g. `/chaser connect`."""
        return f"`{self.prefix} {name}`"

    def __getitem__(self, name: str) -> str:
        # Lets templates say {cmd[connect]}: str.format looks the name up here.
        return self.command(name)


SLACK = Surface("slack", "/chaser", "Slack")
TERMINAL = Surface("terminal", "chaser", "the terminal")  # the CLI, and log lines an operator reads


@dataclass(frozen=True)
class Message:
    """A sentence for a person: a str.format template, its values, and {cmd[...]} commands."""

    template: str
    values: Mapping[str, object] = field(default_factory=dict)

    def render(self, surface: Surface) -> str:
        """The sentence as `surface` shows it, on one line (nested Messages rendered too)."""
        values = {
            key: value.render(surface) if isinstance(value, Message) else value
            for key, value in self.values.items()
        }
        text = self.template.format_map({**values, "cmd": surface, "place": surface.place})
        return " ".join(text.split())

    def __add__(self, other: Message) -> Message:
        """Two sentences said one after the other."""
        return say("{first} {second}", first=self, second=other)


def say(template: str, **values: object) -> Message:
    """A Message from a template such as "Run {cmd[connect]} for {name}."."""
    return Message(template, values)


def plain(text: str) -> Message:
    """Text that is already final (Xero's own words, a name): braces are kept as they are."""
    return Message("{text}", {"text": text})


def render(message: Message | str, surface: Surface) -> str:
    """Render a Message, or pass plain text through (on one line)."""
    if isinstance(message, Message):
        return message.render(surface)
    return " ".join(message.split())


# Setup, configuration and the database -------------------------------------------------------

CONFIG_HINT = say("Set it in the environment or in a .env file, then run {cmd[doctor]}.")

DB_NOT_MIGRATED = say("The database schema is not up to date. Run {cmd[db upgrade]}.")

# Ctrl-C: every command commits as it goes, so stopping loses nothing already done.
INTERRUPTED = say("interrupted; nothing lost — run it again to resume")


def usage_error(problem: str, command: str) -> Message:
    """An option or argument the command cannot take (`command` is e.g. "sync", or "")."""
    problem = problem.strip()
    problem = problem if problem.endswith((".", "?", "!")) else f"{problem}."
    help_command = f"{command} --help".strip()
    return say(f"{{problem}} See {{cmd[{help_command}]}}.", problem=problem)


# `chaser doctor` on the secret key and each connection.
DOCTOR_KEY_NO_TOKENS = say("no stored Xero tokens to check it against yet")


def doctor_key_decrypts(count: int) -> Message:
    """The key opens every stored token set."""
    return say("decrypts the stored Xero tokens of {count} organisation(s)", count=count)


def doctor_key_fails(names: list[str]) -> Message:
    """The key does not open the stored tokens of these organisations."""
    return say("CHASER_SECRET_KEY (or data/secret.key) does not decrypt the stored Xero tokens "
               "of {names}: restore the key they were saved with, or reconnect them with "
               "{cmd[connect]}", names=", ".join(names))


DOCTOR_KEY_MISSING = say(
    "no CHASER_SECRET_KEY and no data/secret.key, yet Xero tokens are stored: restore the key "
    "they were saved with, or reconnect with {cmd[connect]}"
)


def doctor_connection(state: str, detail: str | None = None) -> Message:
    """One connection's line: its state, and why when it cannot be used."""
    return say("{state}: {detail}", state=state, detail=detail) if detail else plain(state)


def about_organisation(name: str, problem: Message) -> Message:
    """A problem with one organisation, led by its name."""
    return say("{name}: {problem}", name=name, problem=problem)


def unexpected_command_error(kind: str, reference: str) -> Message:
    """A command failed in a way no message was written for (a bug), said in one line."""
    return say("Error: something unexpected went wrong ({kind}, reference {reference}). Run it "
               "again with LOG_LEVEL=DEBUG to see where, and report it.",
               kind=kind, reference=reference)


def unknown_revision(revision: str, known: str) -> Message:
    """`db upgrade` was given a revision the migrations do not have."""
    return say("There is no schema revision {revision!r}: use head (the default) or one of "
               "{known}.", revision=revision, known=known)

SECRET_KEY_HINT = say(
    "The key (CHASER_SECRET_KEY or data/secret.key) must be the one the stored Xero tokens "
    "were encrypted with; without it, reconnect Xero with {cmd[connect]} to store new ones."
)


def later_issue(command: str, what: str) -> Message:
    """A command that exists in the menu but not yet in the code."""
    # `command` is one of our own command names, so it can sit in the template itself.
    return say(f"{{cmd[{command}]}} is not built yet: {{what}} arrives in a later release.",
               what=what)


XERO_CREDENTIALS_MISSING = say(
    "XERO_CLIENT_ID and XERO_CLIENT_SECRET are not set: copy them from your app at "
    "https://developer.xero.com/app/manage into the environment or .env "
    "({cmd[sandbox]} prints values for the local sandbox)."
)



def xero_credentials_refused(why: str) -> Message:
    """Xero's token endpoint said invalid_client: our app's id or secret is wrong."""
    return say(
        "Xero refused chaser-bot's XERO_CLIENT_ID / XERO_CLIENT_SECRET ({why}): copy both "
        "again from your app at https://developer.xero.com/app/manage, then run "
        "{cmd[doctor]}. No organisation was changed.",
        why=why,
    )


# A connection to one Xero organisation --------------------------------------------------------

# Xero's terse refusal codes, said the way an admin reading a Slack DM would understand them.
# These phrases are stored as a connection's status_reason, so they name no command.
REFUSAL_REASONS = {
    "invalid_grant": "Xero no longer accepts chaser-bot's access (it was revoked, or unused "
                     "for 60 days)",
    "tenant_disconnected": "the organisation was disconnected from chaser-bot in Xero",
    "unauthorized": "Xero refused chaser-bot's access token",
    "token_expired": "Xero refused chaser-bot's access token even after a refresh",
    "forbidden": "Xero refused chaser-bot access to this organisation",
    "no_refresh_token": "no Xero refresh token is stored",
}


def refusal_reason(code: str) -> str:
    """A short phrase for a refusal code; text that is not a known code is kept as given."""
    return REFUSAL_REASONS.get(code, code)


def not_connected() -> Message:
    """No such connection (or it was removed while we worked)."""
    return say("That Xero organisation is not connected. Run {cmd[connect]} to connect it.")


def needs_reconnect(name: str | None, reason: str | None) -> Message:
    """Which organisation, why, and the command that fixes it."""
    return say(
        "{name} needs reconnecting{why}: chasing is paused until an admin runs {cmd[connect]} "
        "again.",
        name=name or "This Xero organisation",
        why=f" ({reason})" if reason else "",
    )


def disconnected(name: str | None) -> Message:
    """Someone disconnected the organisation on purpose."""
    return say("{name} is disconnected from Xero. Run {cmd[connect]} to connect it again.",
               name=name or "This Xero organisation")


# The same states as stored facts (a sync's last error): no command, fit for every surface.
RECORD_NOT_CONNECTED = "not connected to Xero"
RECORD_DISCONNECTED = "disconnected from Xero"


def record_needs_reconnect(reason: str | None) -> str:
    """A lost connection as a stored fact."""
    return f"needs reconnecting ({reason})" if reason else "needs reconnecting"


def record_credentials_refused(why: str) -> str:
    """Our app's credentials refused, as a stored fact."""
    return f"Xero refused XERO_CLIENT_ID / XERO_CLIENT_SECRET ({why})"


# Xero misbehaving -----------------------------------------------------------------------------

def xero_retry_later(what: str) -> Message:
    """A transient fault (outage, odd answer, rate limit): the same action may work later."""
    return say("{what}; retry later.", what=what)


XERO_UNAVAILABLE = "Xero is having trouble right now"
XERO_UNREADABLE = "Xero sent an answer chaser-bot could not read"
XERO_UNREACHABLE = "Could not reach Xero"
XERO_BUSY = "Xero is busy with this organisation right now"
XERO_DAILY_LIMIT = "Xero's daily call limit for this organisation is used up"


def unexpected_error(reference: str) -> Message:
    """A bug of ours: the reference ties what the person saw to the logged traceback."""
    return say("Something unexpected went wrong (reference {reference}); it is logged for "
               "whoever runs chaser-bot.", reference=reference)


def xero_said(messages: list[str] | tuple[str, ...]) -> Message:
    """Xero refused a request and said why in its own (validation) words."""
    said = " ".join(m.strip() for m in messages if m.strip())
    return plain(f"Xero said: {said}" if said else "Xero rejected the request.")


XERO_NOT_FOUND = plain("That item no longer exists in Xero.")


def xero_failed(status: int | None) -> Message:
    """Xero refused a call we do not have a better sentence for."""
    code = f" (HTTP {status})" if status else ""
    return plain(f"Xero could not complete the request{code}.")


# Connecting an organisation (consent, the callback page, disconnect) --------------------------

CONNECT_ROLE_HELP = say(
    "You need the Standard or Adviser user role in Xero to connect it. Ask your Xero admin to "
    "change your role (Settings → Users in Xero), or ask a Standard or Adviser user to run "
    "{cmd[connect]}."
)
CONNECT_USER_NOT_FOUND = "Your Xero user was not found in this organisation's user list."


def connect_role_refused(role: str) -> str:
    """Why a user may not connect an organisation (their role), a fact with no command."""
    return f"Your Xero user role here is {role}."


CONNECT_LINK_EXPIRED = say("This link has expired — run {cmd[connect]} again.")
CONNECT_SIGN_IN_FAILED = say(
    "Xero did not accept the sign-in (it may have taken more than a few minutes). Run "
    "{cmd[connect]} again."
)
CONNECT_XERO_TROUBLE = say(
    "Xero signed you in but then could not list your organisations. Please run {cmd[connect]} "
    "again in a few minutes."
)
CONNECT_NO_ORGANISATIONS = say(
    "No Xero organisation was chosen. Run {cmd[connect]} again and pick at least one "
    "organisation on Xero's consent page."
)
CONNECT_UNREADABLE_ORGANISATION = "Xero did not let us read the organisation's details."
CONNECT_TRY_AGAIN_SOON = say("Run {cmd[connect]} again in a few minutes.")
CONNECT_CHASED_ELSEWHERE_HELP = say(
    "Ask that workspace's admins to run {cmd[disconnect]} for it there, then run {cmd[connect]} "
    "again here.")


def connect_chased_elsewhere(workspace: str) -> str:
    """Why a second Slack workspace may not connect an organisation another one chases."""
    return (f"It is already connected to chaser-bot in the Slack workspace {workspace}, which "
            "chases its customers: connecting it here too would email them twice.")
CONNECT_CANCELLED = say(
    "You cancelled connecting Xero, so nothing was changed. Run {cmd[connect]} whenever you "
    "are ready."
)
CONNECT_INCOMPLETE = say(
    "This link is incomplete. Run {cmd[connect]} again to get a fresh one."
)


def connect_refused_by_xero(said: str) -> Message:
    """Xero's authorize step came back with an error other than a cancel."""
    return say("Xero could not connect ({said}). Run {cmd[connect]} again.", said=said)


def connect_crashed(reference: str) -> Message:
    """Something unexpected broke the callback; the reference ties it to the log."""
    return say(
        "Something went wrong while connecting Xero (reference {reference}). Please run "
        "{cmd[connect]} again; if it keeps happening, share the reference with whoever runs "
        "chaser-bot.",
        reference=reference,
    )


CALLBACK_CLOSE_TAB = say("You can close this tab and go back to {place}.")
CALLBACK_CONNECTED_TITLE = "Xero connected"
CALLBACK_NOT_CONNECTED_TITLE = "Xero not connected"
CALLBACK_CONNECTED_INTRO = "chaser-bot can now chase unpaid invoices for:"
CALLBACK_NOT_KEPT = "was not connected."

NO_CONNECTIONS = say("No Xero organisation is connected: run {cmd[connect]} first.")


def connect_timed_out(seconds: float) -> Message:
    """Nobody approved consent in time."""
    return say("No answer from Xero within {seconds:g} seconds. Run {cmd[connect]} again when "
               "you are ready.", seconds=seconds)


def disconnected_done(name: str) -> Message:
    """What `disconnect` did, and how to undo it."""
    return say("Disconnected {name}. Its synced contacts, invoices and history are kept; run "
               "{cmd[connect]} to connect it again.", name=name)


DISCONNECT_XERO_NOT_TOLD = plain(
    "Xero could not be reached, so the connection was removed here only: remove chaser-bot "
    "under Settings → Connected apps in Xero."
)


# Expected payment dates ---------------------------------------------------------------------

INVOICE_NOT_SYNCED = say("That invoice is not in chaser-bot; run {cmd[sync]} first.")
# Chaser's wording for the two documented reasons Xero refuses the field.
EXPECTED_DATE_ALLOCATED = (
    "Saved in chaser-bot only: Xero won't accept it because the invoice has a part payment, "
    "prepayment or credit note applied."
)
EXPECTED_DATE_LOCKED = (
    "Saved in chaser-bot only: Xero won't accept it because the invoice was created in a "
    "locked period."
)
EXPECTED_DATE_NOT_OPEN = (
    "Saved in chaser-bot only: Xero won't accept it because the invoice is no longer open there "
    "(paid, voided or deleted since the last sync); the next sync brings its new status."
)
EXPECTED_DATE_OTHER = "Saved in chaser-bot only: Xero won't accept it."


# The audit trail (bot/chasing/audit_trail.py) ------------------------------------------------
# One sentence per recorded action; `{...}` values come from the entry's detail.

AUDIT_SENTENCES = {
    "reminder_sent": "emailed {to} about {invoices}{escalated}",
    "reminder_failed": "could not email {to} about {invoices}: {error}",
    "reminder_unconfirmed": "may or may not have emailed {to} about {invoices} (unconfirmed)",
    "reminder_held_for_approval": "held the escalated email about {invoices} for a manager",
    "chase_run": "chase run: {emails_sent} emails sent, {skipped_count} invoices not chased",
    "invoice.expected_payment_date": "set the expected payment date of {invoices} to {new_date}",
    "invoice.paused": "paused chasing {invoices}{until}",
    "invoice.resumed": "resumed chasing {invoices}",
    "invoice.disputed": "marked {invoices} disputed{reason}",
    "invoice.dispute_resolved": "resolved the dispute on {invoices}",
    "contact.paused": "paused chasing {customer}{until}",
    "contact.resumed": "resumed chasing {customer}",
    "account.paused": "paused all chasing{until}",
    "account.resumed": "resumed all chasing",
    "escalation.requested": "asked the managers to approve an escalated email about {invoices}",
    "escalation.approved": "approved the escalated email about {invoices}",
    "escalation.declined": "declined the escalated email: chasing {invoices} stopped",
    "escalation.snoozed": "snoozed the escalation about {invoices} until {until_at}",
    "escalation.refused": "tried to {decision} the escalation about {invoices} (not a manager)",
    "escalation.sent": "sent the approved escalated email to {to}",
    "escalation.send_failed": "could not send the approved escalated email: {error}",
    "forewarn.skipped": "skipped {customer} from the chase on {run_date}",
    "forewarn.posted": "posted the forewarn for {run_date}: {emails} emails",
    "connection.connected": "connected Xero",
    "connection.reconnected": "reconnected Xero",
    "connection.disconnected": "disconnected Xero",
    "connection.needs_reconnect": "Xero needs reconnecting ({reason})",
    "connection.refused": "Xero organisation not connected ({reason})",
    "permission.refused": "was refused: {capability}",
    "settings.changed": "changed the settings: {fields}",
    "settings.sender": "set the {which} to {sender}",
    "schedule.saved": "saved the {schedule} chasing schedule",
    "contact.schedule": "put {customer} on the {schedule} chasing schedule",
}
AUDIT_SCHEDULER = "chaser-bot"
AUDIT_NOTHING = "No history recorded yet."
AUDIT_HEADING = "Latest history"


# Chasing: reminder emails ---------------------------------------------------------------------

NO_SENDER_ADDRESS = say(
    "Reminders need an address to come from: set the sender with "
    "{cmd[schedule sender]} --email you@yourcompany.com, or set SMTP_FROM."
)


def mail_server_unavailable(why: str) -> Message:
    """The mail server could not be reached or refused our login: nothing was sent."""
    return say("Nothing was sent: the mail server is unavailable ({why}). The next run "
               "tries again.", why=why)


# Slack: /chaser --------------------------------------------------------------------------------

# (usage, what it does) for each /chaser subcommand, in the order help lists them.
CHASER_COMMANDS = (
    ("help", "What chaser-bot can do (this list)."),
    ("connect", "Connect a Xero organisation (admins)."),
    ("disconnect [org]", "Disconnect a Xero organisation, keeping its history (admins)."),
    ("status", "Each organisation: connection, last sync, next digest, chasing, what won't be "
               "chased and why."),
    ("sync [org]", "Sync from Xero now and say what changed."),
    ("overdue [customer]", "Overdue invoices, most overdue first."),
    ("invoice <number>", "One invoice: amounts, dates, expected date, history, View in Xero."),
    ("customer <name>", "A customer's emails, escalated recipients, open invoices and totals."),
    ("settings", "Digest channel and time, admins, managers, chasing rules (admins)."),
    ("pause [customer <name>] [until YYYY-MM-DD]",
     "Pause chasing for everyone (admins) or for one customer."),
    ("resume [customer <name>]", "Resume chasing for everyone (admins) or for one customer."),
    ("escalate <customer> [email,… | clear]",
     "Who a customer's escalated emails go to: show, choose or clear them (admins)."),
    ("schedule [edit [org] | customer <name> <schedule>]",
     "The chasing schedules; edit them and the senders, or put a customer on one (admins)."),
)

SLACK_HELP_TITLE = "chaser-bot chases unpaid Xero invoices. Commands:"
SLACK_UNKNOWN_SUBCOMMAND = "`/chaser {word}` is not a command. Try `/chaser help`."
SLACK_USAGE = "Usage: `/chaser {usage}`"


def not_a_date(typed: str) -> str:
    """A date typed after `until` that no calendar has (2026-02-30) or not as YYYY-MM-DD."""
    return f"“{typed[:40]}” is not a date: write it as YYYY-MM-DD, e.g. 2026-12-31."
# A click or form no listener reads (a message from an older release): said to the person.
SLACK_UNHANDLED = ("That button or form is from a message chaser-bot no longer reads. Run "
                   "`/chaser help` to see what it does now.")
SLACK_UNEXPECTED = ("Something went wrong (reference {reference}). Please try again; if it keeps "
                    "happening, share the reference with whoever runs chaser-bot.")
SLACK_NOT_AVAILABLE_HERE = ("chaser-bot is not set up for this workspace yet: ask whoever runs "
                            "it to install it here.")
SLACK_ORG_WIDE_REFUSED = ("chaser-bot is installed one workspace at a time, not across an "
                          "Enterprise Grid organisation: ask whoever runs it to install it in "
                          "this workspace.")
SLACK_INSTALL_NOT_DONE_TITLE = "chaser-bot was not installed"
SLACK_INSTALL_CANCELLED = "The install was cancelled on Slack's page, so nothing was installed."
SLACK_INSTALL_LINK_STALE = ("This install link has expired, was used already or was opened in "
                            "another browser, so nothing was installed. Start again from the "
                            "install page, in this browser.")
SLACK_INSTALL_AGAIN = "Install chaser-bot in Slack"


def slack_install_failed(reason: str) -> str:
    """Why Slack's install did not complete (Slack's or Bolt's own error code)."""
    return (f"Slack did not complete the install ({reason}), so nothing was installed. Start "
            "again from the install page.")


SLACK_HOME_PLACEHOLDER = "chaser-bot chases unpaid Xero invoices. Try `/chaser status`."


# Who may do what (bot/chasing/permissions.py) --------------------------------------------------

NOT_ALLOWED = {
    "connect": "Only admins can connect Xero: {who}.",
    "disconnect": "Only admins can disconnect Xero: {who}.",
    "change_settings": "Only admins can change chaser-bot's settings: {who}.",
    "pause_all": "Only admins can pause or resume all chasing: {who}. Anyone can pause one "
                 "customer with {cmd[pause customer <name>]}.",
    "approve_escalations": "Only managers can approve escalated emails: {who}.",
    "use_buttons": "For this organisation only admins can use these buttons: {who}.",
    "choose_recipients": "Only admins can choose who escalated emails go to: {who}.",
    "edit_schedules": "Only admins can change chasing schedules: {who}.",
}
OTHER_WORKSPACES_ORGANISATION = say(
    "That Xero organisation belongs to another Slack workspace; only its own people can act "
    "on it.")


def who_can(user_ids: list[str], *, managers: bool = False) -> str:
    """Who may do it instead: the named people (as Slack mentions) and the rule."""
    people = ", ".join(f"<@{user}>" for user in user_ids[:5])
    if managers:
        return f"the managers named in settings ({people})"
    rule = ("workspace admins and owners, whoever connected Xero, and people added as admins "
            "in settings")
    return f"{rule} ({people})" if people else rule


# Pause, resume and dispute (bot/chasing/controls.py) -------------------------------------------

ALL_CHASING = "all chasing"
NOT_IN_CHASER = say("That is not in chaser-bot (any more); run {cmd[sync]} and try again.")


def pause_until_past(until: str) -> Message:
    """A pause that would end today or earlier."""
    return say("{until} is not after today: give a later date, e.g. "
               "{cmd[pause until YYYY-MM-DD]}.", until=until)


# Alerts from live Xero changes (a thread per customer in the digest channel) ----------------


def alert_thread(customer: str, organisation: str | None) -> Message:
    """The parent message a customer's alerts reply under."""
    return say("*{customer}* · payments and overdue invoices{where}. Alerts are in the thread.",
               customer=customer, where=f" ({organisation})" if organisation else "")


def alert_thread_fallback(customer: str) -> Message:
    return say("Alerts about {customer}", customer=customer)


def days_after_due(days: int | None) -> str:
    """How late a payment came, in words."""
    if days is None:
        return "no due date"
    if days == 0:
        return "on the due date"
    if days < 0:
        return f"{-days} day{'s' if days != -1 else ''} before the due date"
    return f"{days} day{'s' if days != 1 else ''} after the due date"


def payment_received(customer: str, amount: str, invoice: str, lateness: str,
                     still_due: str | None) -> Message:
    """A payment arrived on a chased invoice."""
    rest = f" {still_due} is still due." if still_due else " It is now paid in full."
    return say("Payment received: *{customer}* paid {amount} on invoice {invoice}, "
               "{lateness}.{rest}", customer=customer, amount=amount, invoice=invoice,
               lateness=lateness, rest=rest)


def invoice_overdue(customer: str, amount: str, invoice: str, days: int,
                    threshold: str) -> Message:
    """An invoice above the alert amount became overdue."""
    return say("Overdue: invoice {invoice} for *{customer}* ({amount} due) is {days} "
               "day{s} past its due date (your alert amount is {threshold}).",
               customer=customer, amount=amount, invoice=invoice, days=days,
               s="" if days == 1 else "s", threshold=threshold)


ALERT_VIEW_INVOICE = "View invoice in Xero"
ALERT_VIEW_CONTACT = "View customer in Xero"
ALERT_UNKNOWN_CUSTOMER = "A customer"
ALERT_UNNUMBERED_INVOICE = "without a number"


# Connecting Xero from Slack -------------------------------------------------------------------


def connected_dm(tenant_name: str, *, reconnected: bool) -> Message:
    """The DM to whoever connected an organisation."""
    if reconnected:
        return say("{name} is reconnected to chaser-bot: chasing resumes. See {cmd[status]}.",
                   name=tenant_name)
    return say("{name} is connected to chaser-bot. Pick a digest channel and time with "
               "{cmd[settings]}, then see {cmd[status]}.", name=tenant_name)


def connect_refused_dm(tenant_name: str, reason: str, what_to_do: Message | str) -> Message:
    """The DM when an organisation was not kept after consent."""
    return say("{name} was not connected. {reason} {what}", name=tenant_name, reason=reason,
               what=what_to_do)


UNCONFIRMED_HINT = say(
    "the run stopped or the connection broke while the mail server had the email, so it may "
    "have gone. Search your sent mail or the server's log for its Message-ID (in "
    "{cmd[chase --dry-run]}'s activity), then record what you found with "
    "{cmd[chase --resolve MESSAGE-ID --delivered]} or --not-delivered. It is never resent "
    "on its own."
)


def nothing_unconfirmed(message_id: str) -> Message:
    """--resolve named a Message-ID with no unconfirmed send."""
    return say("No unconfirmed reminder has the Message-ID {message_id}; "
               "{cmd[chase --dry-run]} lists them.", message_id=message_id)
# Escalation approval cards (bot/blocks/escalation.py) and their answers ----------------------

ESCALATION_HEADER = "Escalation to approve: {customer}"
ESCALATION_SUMMARY = (
    "*{organisation}* would send an escalated reminder to *{customer}* about {count} "
    "{invoice_word} totalling *{total}* ({step})."
)
ESCALATION_INVOICE_LINE = "• {number}: {amount_due}, due {due_date} ({days_overdue} days overdue)"
ESCALATION_MORE_INVOICES = "…and {count} more"
ESCALATION_HISTORY = "*History*"
ESCALATION_NO_HISTORY = "No reminders sent yet."
ESCALATION_EMAIL = "*The email that would go*\nFrom: {sender}\nTo: {recipients}\nSubject: {subject}"
ESCALATION_NO_EMAIL = "The email cannot be shown: nothing is left to send."
ESCALATION_APPROVE = "Approve and send"
ESCALATION_DECLINE = "Decline"
ESCALATION_SNOOZE = "Snooze…"
ESCALATION_SNOOZE_CHOICES = {4: "4 hours", 24: "1 day", 72: "3 days", 168: "1 week"}
ESCALATION_CONFIRM_TITLE = "Are you sure?"
ESCALATION_CONFIRM_APPROVE = "Send the escalated email to {recipients} now?"
ESCALATION_CONFIRM_DECLINE = "Stop chasing these invoices? You can resume them later."
ESCALATION_CONFIRM_YES = "Yes"
ESCALATION_CONFIRM_NO = "Cancel"
ESCALATION_FALLBACK = "Escalation to approve: {customer}, {total}"
ESCALATION_DECIDED = {
    "approved": ":white_check_mark: Approved by {who} on {when}: sending the email…",
    "sent": ":white_check_mark: Approved by {who} on {when}: email sent.",
    "send_failed": ":warning: Approved by {who} on {when}, but the email did not go: {outcome}",
    "declined": ":no_entry_sign: Declined by {who} on {when}: chasing these invoices stopped.",
    "snoozed": ":alarm_clock: Snoozed by {who} on {when}: you'll be asked again on {until}.",
    "withdrawn": ":heavy_minus_sign: No longer needed ({outcome}).",
}
ESCALATION_ALREADY_DECIDED = "This escalation was already handled: {state}."
ESCALATION_STEPS = {"overdue": "{days} days overdue", "before_due": "due in {days} days",
                    "paid": "a thank-you"}
ESCALATION_DECLINED_REASON = "escalation declined by a manager"
ESCALATION_SENT_TO = "sent to {to}"
ESCALATION_SENT_LATER = "sent by a later chase run"
ESCALATION_SEND_FAILED = "the mail server refused it; the next chase run tries again"


def escalation_nothing_to_send(reasons: list[str]) -> str:
    """Why an approved escalation had nothing left to send (skip reason labels)."""
    return "nothing left to send" + (f" ({', '.join(reasons)})" if reasons else "")
ESCALATION_UNKNOWN = "This escalation no longer exists."
ESCALATION_SNOOZE_UNKNOWN = ("That snooze is not one this card offers (4 hours, 1 day, 3 days or "
                             "1 week); pick one from the card's Snooze menu.")


# The forewarn: tomorrow's chase plan in Slack (bot/blocks/forewarn.py) -----------------------

FOREWARN_HEADER = "Tomorrow's chase: {organisation}"
FOREWARN_SUMMARY = (
    "{emails} {email_word} to {customers} {customer_word} for *{total}*, going out {send_at}. "
    "Skip anyone who should not hear from us tomorrow."
)
FOREWARN_NOTHING = "Nothing to send {send_at}: no reminders are due."
FOREWARN_CUSTOMER = "*{name}*: {emails} {email_word}, {invoices} {invoice_word}, {total}\nTo: {to}"
FOREWARN_NEEDS_APPROVAL = " · needs a manager's approval"
FOREWARN_SKIPPED = ":fast_forward: Skipped by {who}: not chased tomorrow."
FOREWARN_SKIP = "Skip"
FOREWARN_MORE = "…and {count} more customers: run {command} for the whole plan."
FOREWARN_FALLBACK = "Tomorrow's chase for {organisation}: {emails} emails for {total}"
FOREWARN_SKIP_DONE = "{customer} won't be chased on {run_date}."
FOREWARN_SKIP_TOO_LATE = "Tomorrow's chase for this plan has already run, so nothing was skipped."


# /chaser look-ups and organisations ------------------------------------------------------------


def which_organisation(names: list[str]) -> Message:
    """Several organisations fit: name one."""
    return say("Which organisation? Add its name: {names}.", names=", ".join(names))


def no_such_organisation(asked: str, names: list[str]) -> Message:
    return say("No connected organisation is called “{asked}”. Connected: {names}.",
               asked=asked, names=", ".join(names))


def invoice_not_found(number: str) -> Message:
    return say("No invoice {number} in chaser-bot. Check the number, or run {cmd[sync]} if "
               "it is new in Xero.", number=number)


def customer_not_found(name: str) -> Message:
    return say("No customer matches “{name}”. Check the spelling, or run {cmd[sync]} if "
               "they are new in Xero.", name=name)


EXPECTED_KEPT_IN_XERO = "kept in Xero"
EXPECTED_KEPT_LOCALLY = "kept in chaser-bot only: {reason}"
EXPECTED_REFUSED = "Xero would not accept it"
OVERDUE_NONE = "Nothing is overdue. 🎉"
OVERDUE_NONE_FOR = "Nothing of {customer}'s is overdue."
OVERDUE_HEADING = "{count} overdue invoices, {total}"
OVERDUE_HEADING_FOR = "{customer}: {count} overdue invoices, {total}"
OVERDUE_MORE = "Showing the {shown} most overdue of {count}."
CUSTOMER_CHOOSE = "Several customers match “{asked}”. Which one?"
VIEW_IN_XERO = "View in Xero"
EDIT_IN_XERO = "Edit contact in Xero"
CONNECT_BUTTON = "Connect Xero"
CONNECT_PROMPT = ("Connect a Xero organisation: the button opens Xero's consent page (the link "
                  "works once, for 10 minutes). You'll get a DM when it is done.")
XERO_NOT_CONFIGURED = ("Xero is not set up for this chaser-bot yet: whoever runs it must set "
                       "XERO_CLIENT_ID and XERO_CLIENT_SECRET.")
STATUS_NONE = say("No Xero organisation is connected yet. Run {cmd[connect]}.")
# OAuth installs: any workspace may install the app, so a terminal's connection has no workspace.
TERMINAL_ORGANISATIONS_NOT_SHOWN = say(
    "Organisations connected from the terminal (`chaser connect`) are not shown here: with "
    "several Slack workspaces chaser-bot cannot tell which one they belong to. To see and chase "
    "an organisation here, connect it from Slack with {cmd[connect]}."
)
SYNCING = "Syncing with Xero…"
DISCONNECTING = "Disconnecting {name}…"
DISCONNECTED_DONE = "{name} is disconnected from chaser-bot; its history is kept."
def counted(count: int, word: str) -> str:
    """"1 invoice", "2 invoices": a count with its noun (English plurals in -s)."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def sync_done(name: str, contacts: int, invoices: int, seconds: float) -> str:
    return (f"{name}: synced {counted(contacts, 'contact')} and {counted(invoices, 'invoice')} "
            f"in {seconds:.1f} s.")
SYNC_NOT_DONE = "{name}: not synced — {reason}"


# /chaser settings (the modal) ------------------------------------------------------------------

SETTINGS_TITLE = "chaser-bot settings"
SETTINGS_SAVE = "Save"
SETTINGS_CANCEL = "Cancel"
SETTINGS_CHANNEL_LABEL = "Digest channel"
SETTINGS_TIME_LABEL = "Digest time"
SETTINGS_TIME_HINT = "The organisation's local time ({zone})."
SETTINGS_ADMINS_LABEL = "Admins"
SETTINGS_ADMINS_HINT = ("Besides workspace admins and whoever connected Xero: they connect, "
                        "disconnect, change settings and pause all chasing.")
SETTINGS_MANAGERS_LABEL = "Managers"
SETTINGS_MANAGERS_HINT = "They approve escalated emails (admins do when nobody is named)."
SETTINGS_APPROVALS_LABEL = "Escalations to approve go to"
SETTINGS_APPROVALS_HINT = "Leave it empty to send each manager the card by direct message."
SETTINGS_MINIMUM_LABEL = "Minimum amount to chase ({currency})"
SETTINGS_OPTIONS_LABEL = "Chasing"
SETTINGS_WAIT_LABEL = "Don't chase before the expected payment date"
SETTINGS_BUTTONS_LABEL = "Only admins may use the digest's buttons"
SETTINGS_TIME_MISSING = "Pick a time for the digest."
SETTINGS_MINIMUM_BAD = "Enter an amount of 0 or more, e.g. 50 or 49.95."
SETTINGS_SAVED = "Settings saved for {name}."
SETTINGS_SCHEDULE_BUTTON = "Edit chasing schedules"
SETTINGS_SCHEDULE_TEXT = "Chasing schedules, who is on which, and who reminders come from."


# The schedule modal and /chaser schedule ----------------------------------------------------

SCHEDULE_TITLE = "Chasing schedule"
SCHEDULE_SAVE = "Save schedule"
SCHEDULE_BACK = "Back"
SCHEDULE_PICK_LABEL = "Schedule"
SCHEDULE_NEW = "New schedule…"
SCHEDULE_NAME_LABEL = "Name of the new schedule"
SCHEDULE_STEP_HINT = ("One chase a line: days, then any of :single (one email per invoice), "
                      "escalated (escalated sender and recipients), escalated-sender, "
                      "escalated-recipients, approval (a manager approves), "
                      "template=due_soon|overdue|final_notice. E.g. 14:escalated,approval")
SCHEDULE_BEFORE_LABEL = "Before the due date (days before)"
SCHEDULE_OVERDUE_LABEL = "Overdue (days after the due date)"
SCHEDULE_REPEAT_EVERY_LABEL = "Then repeat the last overdue chase every (days)"
SCHEDULE_REPEAT_EVERY_HINT = "Leave it empty for no repeat."
SCHEDULE_REPEAT_LIMIT_LABEL = "At most this many repeats"
SCHEDULE_REPEAT_LIMIT_HINT = "Leave it empty to repeat until paid."
SCHEDULE_OPTIONS_LABEL = "Also"
SCHEDULE_THANK_YOU = "Thank the customer when paid"
SCHEDULE_MAKE_DEFAULT = "Make this the default schedule"
SCHEDULE_DEFAULT_HINT = "Customers not put on another schedule are chased on the default."
SCHEDULE_IS_DEFAULT_HINT = ("This is the default: customers not put on another schedule are "
                           "chased on it, until another schedule is made the default.")
SENDER_NAME_LABEL = "Reminders come from (name)"
SENDER_EMAIL_LABEL = "Replies go to (email)"
ESCALATED_SENDER_NAME_LABEL = "Escalated reminders come from (name)"
ESCALATED_SENDER_EMAIL_LABEL = "Escalated replies go to (email)"
SENDER_HINT = "For every schedule of the organisation."
SCHEDULE_NAME_TAKEN = "There is a schedule called {name} already: pick it above, or choose " \
    "another name."
SCHEDULE_CUSTOMER_CHOOSE = "Several customers match “{asked}”. Which one goes on {schedule}?"
SCHEDULE_SAVED = "Saved the {schedule} chasing schedule for {name}."
SCHEDULE_NOTICE_TITLE = "chaser-bot"
SCHEDULES_HEADING = "Chasing schedules"
SCHEDULE_DEFAULT_MARK = " (default)"
SCHEDULE_ON_IT = "{count} customers on it"
SCHEDULE_REPEAT_LINE = "then the last overdue chase again every {every} days{cap}"
SCHEDULE_NO_THANK_YOU = "no thank-you after payment"
SCHEDULES_NOT_SHOWN = ("{count} more schedule(s) not shown here: `chaser schedule show` in a "
                       "terminal lists them all.")
SCHEDULE_FOOTER = say("Change them with {cmd[schedule edit]} (admins) or in {cmd[settings]}; "
                      "put a customer on one with {cmd[schedule customer <name> <schedule>]}.")


def schedule_assigned(customer: str, organisation: str, schedule: str, default: bool) -> str:
    """The reply after putting a customer on a schedule."""
    which = f"the {schedule} schedule" + (" (the default)" if default else "")
    return f"{customer} ({organisation}) is now chased on {which}."


def no_schedule_named(words: str, names: list[str]) -> Message:
    """`/chaser schedule customer` whose words end in no schedule's name."""
    return say("“{words}” does not end with a schedule's name (have: {names}). Write "
               "{cmd[schedule customer <name> <schedule>]}.", words=words,
               names=", ".join(names) or "none")
SETTINGS_ALERTS_LABEL = "Alerts in the digest channel"
SETTINGS_ALERT_PAYMENTS_LABEL = "When a chased invoice is paid in Xero"
SETTINGS_ALERT_OVERDUE_LABEL = "When an invoice of at least this amount falls overdue ({currency})"
SETTINGS_ALERT_OVERDUE_HINT = "Leave it empty for no overdue alerts."
SETTINGS_ALERT_OVERDUE_BAD = "Enter an amount above 0, e.g. 5000, or leave it empty."


def customers_ambiguous(asked: str, names: list[str]) -> Message:
    """Several customers fit a pause or resume (or one only comes close): say which, in full."""
    if len(names) == 1:
        return say("No customer is called “{asked}”. Did you mean {name}? Write it in full.",
                   asked=asked, name=names[0])
    return say("Several customers match “{asked}”: {names}. Write one of them in full, as "
               "listed here.", asked=asked, names="; ".join(names))


def control_outcome(subject: str, organisation: str, paused: bool, until: str | None,
                    changed: bool) -> str:
    """One line after pause/resume: what is now paused or chased, in which organisation."""
    what = subject if subject != ALL_CHASING else "Chasing"
    if not changed:
        state = "was already paused" if paused else "was not paused"
        return f"{what} ({organisation}) {state}."
    if paused:
        return f"{what} ({organisation}) is paused" + (f" until {until}." if until else ".")
    return f"{what} ({organisation}) is chased again."


# Escalated recipients (bot/chasing/recipients.py) --------------------------------------------

NO_ESCALATED_GIVEN = say("Give at least one email address for the escalated recipients.")
ESCALATED_NONE = "none chosen: escalations go to the normal recipients"


def bad_email(address: str, problem: str) -> Message:
    """An address email-validator refused, with its reason."""
    return say("{address!r} is not an email address we can send to: {problem}",
               address=address, problem=problem)


def too_many_escalated(limit: int) -> Message:
    return say("Choose at most {limit} escalated recipients.", limit=limit)


def escalated_chosen(customer: str, organisation: str, emails: tuple[str, ...],
                     changed: bool) -> Message:
    """The reply after choosing or clearing a customer's escalated recipients."""
    if not emails:
        return say("{customer} ({organisation}) has no escalated recipients{now}: escalations "
                   "go to the normal recipients.", customer=customer, organisation=organisation,
                   now=" now" if changed else "")
    return say("Escalated emails to {customer} ({organisation}) {verb} to {emails}.",
               customer=customer, organisation=organisation, emails=", ".join(emails),
               verb="now go" if changed else "already go")


def escalated_shown(customer: str, emails: tuple[str, ...]) -> Message:
    """A customer's escalated recipients, and how to change them."""
    chosen = ", ".join(emails) or ESCALATED_NONE
    return say("Escalated emails to {customer} go to: {chosen}. Change them with "
               "{cmd[escalate <customer> a@b.com,c@d.com]} or {cmd[escalate <customer> clear]}.",
               customer=customer, chosen=chosen)


def not_chased_summary(labelled: list[tuple[str, int]]) -> str:
    """ "5 open invoices (3 customer paused, 2 no email)", or that every open one is chased."""
    total = sum(count for _, count in labelled)
    if not total:
        return "every open invoice is chased"
    reasons = ", ".join(f"{count} {label}" for label, count in labelled)
    return f"{total} open invoice{'s' if total != 1 else ''} ({reasons})"


FOREWARN_SKIP_NOT_ALLOWED = say(
    "Only chaser-bot's admins can skip customers here. Ask an admin, or see {cmd[settings]}."
)


# The daily digest (Slack's mrkdwn; the terminal shows the same blocks) ----------------------

DIGEST_NOTHING = "nothing"
DIGEST_NOTHING_OVERDUE = "Nothing is overdue. :tada:"
DIGEST_NO_NUMBER = "(no number)"
DIGEST_NO_CUSTOMER = "(no customer)"
DIGEST_NEVER_SYNCED = "not synced yet"
DIGEST_NEEDS_RECONNECT = say(
    ":warning: *Xero needs reconnecting.* Chasing is paused and these figures are from the last "
    "sync. An admin can reconnect with {cmd[connect]}."
)
DIGEST_DISCONNECTED = say(
    ":warning: *This organisation is disconnected.* Nothing is chased; connect it again with "
    "{cmd[connect]}."
)
DIGEST_EXPECTED_PLACEHOLDER = "Expected payment date"
DIGEST_PAUSE = "Pause chasing"
DIGEST_RESUME = "Resume chasing"
DIGEST_DISPUTE = "Mark disputed"
DIGEST_RESOLVE = "Resolve dispute"
DIGEST_VIEW_IN_XERO = "View in Xero"
DIGEST_EDIT_CONTACT = "Edit contact in Xero"
DIGEST_SHOW_MORE = "Show more"
DIGEST_FIRST_PAGE = "Back to the top"
DIGEST_LINE_PAUSED = ":double_vertical_bar: chasing paused"

DISPUTE_MODAL_TITLE = "Mark disputed"
DISPUTE_MODAL_SUBMIT = "Mark disputed"
DISPUTE_MODAL_CLOSE = "Cancel"
DISPUTE_MODAL_LABEL = "What is disputed?"


def digest_title(organisation: str) -> str:
    """The digest's header."""
    return f"Overdue digest · {organisation}"


def digest_fallback(organisation: str, overdue: int, total: str) -> str:
    """The digest's notification text."""
    return f"Overdue digest for {organisation}: {_invoices(overdue)} overdue, {total}."


def digest_last_sync(when: str) -> str:
    """When the digest's figures were last synced."""
    return f"last synced {when}"


def digest_account_paused(until: str | None) -> str:
    """The banner while the whole account's chasing is paused."""
    if until:
        return f":double_vertical_bar: *Chasing is paused for this organisation until {until}.*"
    return ":double_vertical_bar: *Chasing is paused for this organisation.*"


def digest_unconverted(count: int) -> str:
    """Foreign invoices left out of a base-currency total for want of a rate."""
    return f"{count:,} without an exchange rate left out"


def digest_base_amount(amount: str) -> str:
    """An amount shown again in the base currency."""
    return f"≈ {amount}"


def _invoices(count: int) -> str:
    return f"{count:,} invoice" + ("" if count == 1 else "s")


def digest_open_line(count: int, totals: str) -> str:
    """The open invoices' count and totals."""
    return f"*Open:* {_invoices(count)} · {totals}"


def digest_overdue_line(count: int, totals: str) -> str:
    """The overdue invoices' count and totals."""
    return f"*Overdue:* {_invoices(count)} · {totals}"


def digest_bucket(count: int, totals: str) -> str:
    """One aging period's count and totals."""
    return f"{count:,} · {totals}"


def digest_not_chased(paused: int, disputed: int, reasons: list[tuple[str, int]]) -> str:
    """How many open invoices are paused, disputed or will not be chased, and why."""
    parts = [f"{paused:,} paused", f"{disputed:,} disputed"]
    wont = ", ".join(f"{count:,} {label}" for label, count in reasons)
    parts.append(f"won't be chased: {wont}" if wont else "no others held back")
    return "Not chased: " + " · ".join(parts)


def digest_top_heading(first: int, last: int, total: int) -> str:
    """The heading of the page of most overdue invoices."""
    return (
        f"*Most overdue* ({first:,}–{last:,} of {total:,}, by amount × days overdue)"
    )


def digest_line_overdue(amount: str, days: int, due: str | None) -> str:
    """An overdue invoice's amount, days overdue and due date."""
    late = f"*{days:,} day{'' if days == 1 else 's'} overdue*"
    return f"{amount} · {late}" + (f" (due {due})" if due else "")


def digest_line_expected(when: str, local_only: bool) -> str:
    """An invoice's expected payment date, and whether only chaser-bot keeps it."""
    return f":calendar: expected {when}" + (" (kept in chaser-bot only)" if local_only else "")


def digest_line_disputed(reason: str) -> str:
    """A disputed invoice, with what is disputed."""
    return ":warning: disputed" + (f": “{reason}”" if reason else "")


def digest_line_not_chased(label: str) -> str:
    """Why an invoice is not chased today."""
    return f"not chased: {label}"


def dispute_modal_intro(number: str, customer: str) -> str:
    """What the dispute modal says about the invoice."""
    return (
        f"*{number}* · {customer}\nA disputed invoice is not chased until the dispute is "
        "resolved."
    )


def digest_post_outcome(
    organisation: str, outcome: str, channel: str | None, reason: str | None
) -> Message:
    """What `chaser digest --post` did for one organisation."""
    said = {
        "posted": "{name}: digest posted in channel {channel}.",
        "already_posted": "{name}: today's digest is already being posted.",
        "disabled": "{name}: the digest is switched off in settings.",
        "no_channel": "{name}: no digest channel is set; choose one with {settings} in Slack.",
        "disconnected": "{name}: disconnected; connect it again with {cmd[connect]}.",
        "not_found": "{name}: no such organisation.",
        "failed": "{name}: Slack refused the digest ({reason}).",
    }[outcome]
    return say(said, name=organisation, channel=channel or "", reason=reason or "",
               settings=SLACK.command("settings"))  # the settings modal lives in Slack only


def expected_date_in_past(chosen: str) -> Message:
    """A date picked in the digest that is before the organisation's today."""
    return say("{chosen} is in the past: pick today or a later date for the expected payment.",
               chosen=chosen)


def expected_date_saved(number: str, when: str) -> str:
    """The date picker's change was written to Xero."""
    return f"Expected payment date for {number} set to {when}, in Xero too."


DIGEST_STALE_BUTTON = say(
    "That button belongs to a digest chaser-bot can no longer read; run {cmd[overdue]} for "
    "today's list."
)

DISPUTE_REASON_NEEDED = "Say what the customer disputes, so whoever resolves it knows."


def dispute_reason_too_long(limit: int) -> str:
    return f"Keep the reason to {limit:,} characters; the details can go in Xero's notes."


# A lost Xero connection, by DM; the consent link modal ---------------------------------------

RECONNECT_BUTTON = "Reconnect Xero"
CONNECT_BUTTON = "Connect Xero"
CONSENT_MODAL_TITLE = "Connect Xero"
CONSENT_MODAL_CLOSE = "Close"
CONSENT_OPEN_XERO = "Open Xero"


def connection_lost_dm(organisation: str, reason: str) -> str:
    """Each admin's one DM when an organisation needs reconnecting."""
    return (
        f":warning: *Xero needs reconnecting for {organisation}.* {reason}\n"
        "Chasing for it is paused until someone reconnects: press *Reconnect Xero* and approve "
        "chaser-bot in Xero."
    )


def reconnected_dm(organisation: str) -> str:
    """Each admin told about the lost connection hears it is back, once."""
    return f":white_check_mark: *{organisation} is reconnected to Xero.* Chasing has resumed."


def consent_modal_text(organisation: str | None) -> str:
    """What the consent-link modal says."""
    which = f" *{organisation}*" if organisation else " your organisation"
    return (
        f"Open Xero, sign in and allow chaser-bot access to{which}. The link works for 10 "
        "minutes; the result comes back as a direct message."
    )


# App Home ------------------------------------------------------------------------------------

HOME_TITLE = "chaser-bot"
HOME_INTRO = say(
    "chaser-bot chases unpaid Xero invoices and posts an overdue digest each morning. "
    "Type {cmd[help]} for everything it does."
)
HOME_NOTHING_CONNECTED = "No Xero organisation is connected yet: press *Connect Xero*."
HOME_CONNECTED = ":large_green_circle: Connected"
HOME_DISCONNECTED = ":white_circle: Disconnected"
HOME_NEVER_SYNCED = "not synced yet"
HOME_LAST_SYNC = "Last sync"
HOME_DIGEST = "Daily digest"
HOME_CHASING = "Chasing"
HOME_CHASING_ON = "on"
HOME_CHASING_STOPPED = "stopped until Xero is connected"
HOME_DIGEST_OFF = say("off (turn it on with {cmd[settings]})")
HOME_DIGEST_NO_CHANNEL = say("no channel yet: choose one with {cmd[settings]}")


def home_needs_reconnect(reason: str | None) -> str:
    """An organisation whose connection Xero refused."""
    return ":warning: Needs reconnecting" + (f": {reason}" if reason else "")


def home_last_sync(when: str, error: str | None) -> str:
    """When the organisation last synced, and how it went."""
    return f"{when}" + (f" (failed: {error})" if error else " (ok)")


def home_digest(channel: str, at: str, timezone: str) -> str:
    """Where and when the digest is posted."""
    return f"{channel} at {at} ({timezone})"


def home_chasing_paused(until: str | None) -> str:
    """Chasing paused for the whole organisation."""
    return "paused" + (f" until {until}" if until else "")


def home_more(count: int) -> Message:
    """Organisations App Home has no room for."""
    return say("…and {count} more: {cmd[status]} lists them all.", count=count)
