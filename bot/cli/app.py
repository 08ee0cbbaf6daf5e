"""The `chaser` command line: the composition root that wires settings, storage and Xero."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from bot import messages
from bot.cli.sandbox import sandbox_command
from bot.cli.support import CommandError, describe_db_error, finite, redact_url
from bot.config import ConfigError, Settings, load_settings
from bot.errors import BadInput, UserFacingError
from bot.logs import configure_logging
from bot.messages import TERMINAL

# Click's exceptions as typer raises them (recent typer vendors click as typer._click).
click_errors = sys.modules[typer.BadParameter.__module__]

log = logging.getLogger(__name__)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    help="chaser-bot: chase unpaid Xero invoices from Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

F = TypeVar("F", bound=Callable[..., object])

# The sizes `chaser demo` accepts per organisation: it syncs every row into SQLite and prints a
# summary, so it stays well inside what the sandbox could hold (bot/sandbox: MAX_CONTACTS...).
DEMO_MAX_CONTACTS = 10_000
DEMO_MAX_INVOICES = 100_000
MAX_CONNECT_WAIT = 24 * 3600  # seconds: a consent nobody finishes within a day is abandoned

# Exit codes (the README's Commands section lists them).
EXIT_OK = 0
EXIT_FAILED = 1  # the command could not do its work; one line says why and what to do
EXIT_USAGE = 2  # a setting, option or argument is wrong; one line names it
EXIT_NOT_BUILT = 3  # the command is listed but not built yet
EXIT_INTERRUPTED = 130  # Ctrl-C


def friendly(func: F) -> F:
    """Turn expected failures into one clear line instead of a traceback."""

    @wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except SQLAlchemyError as exc:
            error: UserFacingError = CommandError(f"database error: {describe_db_error(exc)}")
        except UserFacingError as exc:
            error = exc
        if isinstance(error, BadInput):  # an option or argument as typed: the README's exit 2
            err_console.print(f"[red]Error:[/red] {escape(error.text(TERMINAL))}")
            raise typer.Exit(EXIT_USAGE) from None
        if isinstance(error, ConfigError):
            hint = messages.CONFIG_HINT.render(TERMINAL)
            err_console.print(f"[red]Configuration error:[/red] {escape(error.text(TERMINAL))} "
                              f"{escape(hint)}")
            raise typer.Exit(EXIT_USAGE) from None
        err_console.print(f"[red]Error:[/red] {escape(error.text(TERMINAL))}")
        raise typer.Exit(EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


def settings_or_exit(*, server: bool = False) -> Settings:
    """The checked settings, with logging set up for a command (or, with `server`, serve).

    A command speaks for itself: log lines would interleave with its output and say its
    events twice, so only errors are logged unless LOG_LEVEL asks for more. A server's log is
    its output, so `serve` logs at LOG_LEVEL (INFO by default).
    """
    settings = load_settings()
    asked = "log_level" in settings.model_fields_set
    configure_logging(settings.log_level if asked or server else "ERROR")
    return settings


def not_yet(command: str, what: str) -> None:
    err_console.print(messages.later_issue(command, what).render(TERMINAL), markup=False)
    raise typer.Exit(EXIT_NOT_BUILT)


@db_app.command("upgrade")
@friendly
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database schema to the latest revision."""
    from alembic.util import CommandError as MigrationRefused

    from storage import db

    settings = settings_or_exit()
    known = db.revisions()
    if revision != "head" and revision not in known:
        raise typer.BadParameter(
            messages.unknown_revision(revision, ", ".join(known)).render(TERMINAL),
            param_hint="REVISION",
        )
    url = settings.resolved_database_url
    try:
        db.upgrade(url, revision)
    except SQLAlchemyError as exc:  # unreachable or refused: one line that says what to do
        raise CommandError(
            f"could not migrate {redact_url(url)}: {describe_db_error(exc)}"
        ) from exc
    except MigrationRefused as exc:  # e.g. a revision older than the database's own
        raise CommandError(f"could not migrate {redact_url(url)}: {exc}") from exc
    console.print(f"Database {redact_url(url)} is at revision {db.current_revision(url)}.")


@app.command()
@friendly
def doctor() -> None:
    """Check configuration, the database, Slack and Xero settings, one line each."""
    from bot.cli.doctor import run_checks

    settings = settings_or_exit()
    ok = True
    for check in run_checks(settings):
        mark = {"pass": "[green]PASS[/green]", "fail": "[red]FAIL[/red]"}.get(
            check.status, "[yellow]SKIP[/yellow]"
        )
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}", soft_wrap=True)
        ok = ok and check.status != "fail"
    raise typer.Exit(0 if ok else 1)


@app.command()
@friendly
def demo(
    json_output: Annotated[bool, typer.Option("--json", help="Print figures as JSON.")] = False,
    contacts: Annotated[
        int,
        typer.Option(min=1, max=DEMO_MAX_CONTACTS,
                     help="Contacts per sandbox organisation (when the demo runs its own)."),
    ] = 40,
    invoices: Annotated[
        int,
        typer.Option(
            min=1, max=DEMO_MAX_INVOICES,
            help="Sales invoices per sandbox organisation (when the demo runs its own).",
        ),
    ] = 400,
) -> None:
    """Run everything that exists so far on embedded defaults and say what happened."""
    from bot.cli.demo import run_demo

    run_demo(settings_or_exit(), console, json_output=json_output, contacts=contacts,
             invoices=invoices)


@app.command()
@friendly
def serve() -> None:
    """Run the Slack app (Socket Mode with SLACK_APP_TOKEN, HTTP otherwise)."""
    from bot.cli.serve import serve as run_serve

    run_serve(settings_or_exit(server=True), on_ready=lambda line: console.print(line))


@app.command()
@friendly
def connect(
    login_hint: Annotated[
        str | None, typer.Option(help="Xero login email (the sandbox auto-approves it).")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(min=1, max=MAX_CONNECT_WAIT, callback=finite,
                     help="Seconds to wait for Xero."),
    ] = 300.0,
) -> None:
    """Link a Xero organisation over OAuth 2.0."""
    from bot.cli.connect import run_connect

    run_connect(settings_or_exit(), console, login_hint=login_hint, timeout=timeout)


@app.command()
@friendly
def disconnect(
    org: Annotated[
        str | None, typer.Option(help="Organisation name or short code to disconnect.")
    ] = None,
) -> None:
    """Revoke the Xero connection, keeping local history."""
    from bot.cli.connect import run_disconnect

    run_disconnect(settings_or_exit(), console, org=org)


@app.command()
@friendly
def sync(
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation (name or tenant id).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything, not just changes.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object of figures (summed).")
    ] = False,
) -> None:
    """Sync contacts and invoices from Xero now."""
    from bot.cli.sync import run_sync

    code = run_sync(settings_or_exit(), console, org=org, full=full,
                    json_output=json_output, err_console=err_console)
    raise typer.Exit(code)


@app.command()
@friendly
def digest(
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation (name or short code).")
    ] = None,
    post: Annotated[
        bool, typer.Option("--post", help="Post it to the organisation's digest channel.")
    ] = False,
    page: Annotated[int, typer.Option(min=1, help="Which page of overdue invoices.")] = 1,
) -> None:
    """Show the daily overdue digest here, or post it to Slack with --post."""
    from bot.cli.digest import run_digest

    raise typer.Exit(run_digest(settings_or_exit(), console, org=org, post=post, page=page))


@app.command()
@friendly
def chase(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and why each skipped invoice is.")
    ] = False,
    now: Annotated[
        bool, typer.Option("--now", help="Ignore the chase window, as Chaser's 'Chase now'.")
    ] = False,
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation (name or tenant id).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    resolve: Annotated[
        str | None,
        typer.Option("--resolve", metavar="MESSAGE-ID",
                     help="Record what you found about an unconfirmed send."),
    ] = None,
    delivered: Annotated[
        bool | None,
        typer.Option("--delivered/--not-delivered",
                     help="With --resolve: it reached the customer, or it did not."),
    ] = None,
) -> None:
    """Sync, then send the reminder emails due now (inside the organisation's window)."""
    from bot.cli.chase import resolve_unconfirmed, run_chase
    from bot.cli.support import migrated_context

    settings = settings_or_exit()
    if resolve is not None:
        if delivered is None:
            raise BadInput("With --resolve, say --delivered or --not-delivered.")
        resolve_unconfirmed(migrated_context(settings), console, resolve, delivered)
        return
    raise typer.Exit(run_chase(settings, console, org=org, dry_run=dry_run, now=now,
                               json_output=json_output))


schedule_app = typer.Typer(help="Chasing schedules and senders.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")
OrgOption = Annotated[
    str | None, typer.Option("--org", help="The organisation (name or tenant id).")
]


@schedule_app.command("show")
@friendly
def schedule_show(org: OrgOption = None) -> None:
    """Show the organisation's schedules and their steps."""
    from bot.cli.schedule import show

    show(settings_or_exit(), console, org=org)


@schedule_app.command("set")
@friendly
def schedule_set(
    name: Annotated[
        str | None, typer.Argument(help="Schedule name (default: the default schedule).")
    ] = None,
    before: Annotated[
        list[str] | None,
        typer.Option("--before", help="A step N days before due: DAYS[:flags]. Repeatable."),
    ] = None,
    overdue: Annotated[
        list[str] | None,
        typer.Option("--overdue", help="A step N days after due: DAYS[:flags] (flags: grouped, "
                     "single, escalated, escalated-sender, escalated-recipients, approval, "
                     "template=NAME). Repeatable."),
    ] = None,
    no_before: Annotated[bool, typer.Option("--no-before", help="No before-due steps.")] = False,
    repeat_every: Annotated[
        int | None, typer.Option(min=1, help="Repeat the last overdue step every N days.")
    ] = None,
    repeat_cap: Annotated[int | None, typer.Option(min=1, help="At most N repeats.")] = None,
    no_repeat: Annotated[bool, typer.Option("--no-repeat", help="Do not repeat.")] = False,
    thank_you: Annotated[
        bool | None, typer.Option("--thank-you/--no-thank-you", help="Thank after payment.")
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Make this the organisation's default.")
    ] = False,
    org: OrgOption = None,
) -> None:
    """Create or change a schedule; parts not given stay as they are."""
    from bot.chasing.schedules import ScheduleEdit
    from bot.cli.schedule import set_schedule

    edit = ScheduleEdit(
        before_due=[] if no_before else before, overdue=overdue, thank_you=thank_you,
        repeat_every_days=repeat_every, repeat_limit=repeat_cap, no_repeat=no_repeat,
    )
    set_schedule(settings_or_exit(), console, org=org, name=name, edit=edit,
                 make_default=default)


@schedule_app.command("assign")
@friendly
def schedule_assign(
    customer: Annotated[str, typer.Argument(help="The customer's name as in Xero.")],
    schedule: Annotated[
        str | None, typer.Argument(help="Schedule name (none: back to the default).")
    ] = None,
    org: OrgOption = None,
) -> None:
    """Chase one customer on another schedule."""
    from bot.cli.schedule import assign

    assign(settings_or_exit(), console, org=org, customer=customer, schedule_name=schedule)


@schedule_app.command("sender")
@friendly
def schedule_sender(
    name: Annotated[str | None, typer.Option(help="The name reminders come from.")] = None,
    email: Annotated[str | None, typer.Option(help="Where replies go (Reply-To).")] = None,
    escalated: Annotated[
        bool, typer.Option("--escalated", help="Set the escalated sender instead.")
    ] = False,
    org: OrgOption = None,
) -> None:
    """Set who reminders come from (normal or escalated sender)."""
    from bot.cli.schedule import set_senders

    set_senders(settings_or_exit(), console, org=org, name=name, email=email,
               escalated=escalated)


@app.command()
@friendly
def status(
    org: Annotated[
        str | None, typer.Option("--org", help="The organisation (name or tenant id).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print figures as JSON.")] = False,
) -> None:
    """Each organisation: connection, last sync, chasing, and open invoices not chased and why."""
    from bot.cli.status import show_status

    show_status(settings_or_exit(), console, org=org, json_output=json_output)


customer_app = typer.Typer(help="Customers' chasing: who escalations go to.",
                           no_args_is_help=True)
app.add_typer(customer_app, name="customer")


@customer_app.command("escalate")
@friendly
def customer_escalate(
    customer: Annotated[str, typer.Argument(help="The customer's name as in Xero.")],
    email: Annotated[
        list[str] | None,
        typer.Option("--email", help="An escalated recipient (repeatable; replaces the list)."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="No escalated recipients: use the normal ones.")
    ] = False,
    org: OrgOption = None,
) -> None:
    """Choose who the customer's escalated emails go to (no option: show them)."""
    from bot.cli.customer import escalate

    escalate(settings_or_exit(), console, org=org, customer=customer, emails=email or [],
             clear=clear)


app.command("sandbox")(friendly(sandbox_command))


def main(args: list[str] | None = None) -> None:
    """Entry point for the `chaser` console script: exit codes as the README's table says."""
    sys.exit(run(args))


def run(args: list[str] | None = None) -> int:
    """Run one command and return its exit code; usage errors and Ctrl-C are one line each."""
    try:
        # Not standalone: typer would print usage errors as a box, and turn Ctrl-C into a
        # silent exit 130; both are said here, once, the same way for every command.
        code = app(args=args, prog_name="chaser", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        console.print(exc.format_message(), markup=False, highlight=False)
        return EXIT_USAGE
    except click_errors.ClickException as exc:
        command = _command_name(exc)
        err_console.print(
            f"[red]Error:[/red] "
            f"{escape(messages.usage_error(exc.format_message(), command).render(TERMINAL))}"
        )
        return EXIT_USAGE if isinstance(exc, click_errors.UsageError) else exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line with an id; the traceback is for LOG_LEVEL=DEBUG
        error_id = secrets.token_hex(4)
        log.debug("unexpected error %s", error_id, exc_info=exc)
        err_console.print(messages.unexpected_command_error(type(exc).__name__, error_id)
                          .render(TERMINAL), markup=False)
        return EXIT_FAILED
    if code == EXIT_INTERRUPTED:
        err_console.print(messages.INTERRUPTED.render(TERMINAL), markup=False)
    return code if isinstance(code, int) else EXIT_OK


def _command_name(exc: click_errors.ClickException) -> str:
    """The failing command as typed after `chaser` ("sync", "db upgrade"), for its --help."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else ""
    return path.removeprefix("chaser").strip()
