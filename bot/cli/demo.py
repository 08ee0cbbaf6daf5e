"""`chaser demo`: a local Xero, a fresh database, connect, sync, and an overdue summary."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.chasing.plan import ChasePlan
from bot.chasing.receivables import (
    BucketTotal,
    OrgReceivables,
    grouped_money,
    org_today,
)
from bot.chasing.receivables_service import ReceivablesService
from bot.chasing.timezones import org_zone
from bot.cli.chase import plan_as_dict, print_plan, totals_text
from bot.cli.support import CommandError, redact_url
from bot.config import Settings
from bot.messages import TERMINAL
from bot.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

if TYPE_CHECKING:
    from bot.chasing.connections import ConnectResult
    from bot.chasing.digest import Digest
    from bot.deps import AppDeps

log = logging.getLogger(__name__)

# A sandbox user with the Standard role in every generated organisation.
SANDBOX_LOGIN_HINT = "finance@sandbox.example"
DEMO_ORGS = 2
DEMO_ACTOR = "demo"


class DemoError(CommandError):
    """The demo could not go on; the message is one line for the terminal."""


# Connecting without a browser ---------------------------------------------------------


def connect_unattended(ctx: AppDeps, login_hint: str = SANDBOX_LOGIN_HINT) -> ConnectResult:
    """Run the consent flow against a sandbox started with auto-approve, no browser or server.

    The sandbox approves at once for a login_hint user and redirects to our callback; we
    read the code and state off that redirect instead of serving the callback route.
    """
    from bot.cli.connect import follow_auto_approval
    from storage.models import CLI_WORKSPACE_TEAM_ID

    service = ctx.connect_service()
    location = follow_auto_approval(
        service.start(CLI_WORKSPACE_TEAM_ID, None, login_hint=login_hint)
    )
    if location is None:
        raise DemoError(
            "the sandbox did not approve consent at once: start it with `chaser sandbox "
            "--auto-approve`, or unset XERO_BASE_URL to let the demo run its own."
        )
    query = parse_qs(urlsplit(location).query)
    if "error" in query:
        raise DemoError(f"the sandbox refused consent: {query['error'][0]}")
    return service.complete(query["state"][0], query["code"][0])


# The sandbox --------------------------------------------------------------------------


@contextlib.contextmanager
def demo_sandbox(settings: Settings, *, contacts: int, invoices: int) -> Iterator[str]:
    """The sandbox URL: XERO_BASE_URL when it points at one, else our own on a free port."""
    if settings.xero_base_url:
        yield settings.xero_base_url.rstrip("/")
        return
    from bot.sandbox.ledger import build_ledger
    from bot.sandbox.server import SandboxConfig, SandboxServer

    ledger = build_ledger(seed=1, orgs=DEMO_ORGS, contacts=contacts, invoices=invoices)
    server = SandboxServer(SandboxConfig(auto_approve=True), ledger).start()
    try:
        yield server.url
    finally:
        # Stopped by Ctrl-C, the sandbox cancels the request it was answering, and uvicorn logs
        # that as an error with a traceback although nothing went wrong: this run is over.
        logging.getLogger("uvicorn.error").disabled = True
        server.stop()


def demo_settings(settings: Settings, sandbox_url: str) -> Settings:
    """The user's settings pointed at the sandbox with its well-known credentials."""
    from pydantic import SecretStr

    same_sandbox = settings.xero_base_url and settings.xero_base_url.rstrip("/") == sandbox_url
    return settings.model_copy(
        update={
            "xero_base_url": sandbox_url,
            "xero_client_id": (settings.xero_client_id if same_sandbox else None)
            or SANDBOX_CLIENT_ID,
            "xero_client_secret": (settings.xero_client_secret if same_sandbox else None)
            or SecretStr(SANDBOX_CLIENT_SECRET),
        }
    )


def fresh_database(data_dir: Path) -> str:
    """A new, migrated SQLite file for this run: a trial never mixes with real books."""
    from storage import db

    path = (data_dir / "demo.sqlite3").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    db.upgrade(url)
    return url


# Writing back ----------------------------------------------------------------------------


def write_back_examples(ctx: AppDeps, connection_id: int) -> list[dict[str, Any]]:
    """Set an expected date on an invoice Xero accepts it for and on one it refuses it for."""
    from bot.chasing.receivables_service import open_receivables
    from bot.chasing.xero_edits import EditRefusal, expected_date_refusal, lock_date
    from storage import repositories
    from storage.db import session_scope

    with session_scope(ctx.session_factory) as session:
        connection = repositories.get_connection(session, connection_id)
        if connection is None:
            return []
        timezone = connection.timezone
        lock = lock_date(connection.period_lock_date, connection.end_of_year_lock_date)
        refusals = {
            invoice: expected_date_refusal(invoice, lock)
            for invoice in open_receivables(session, connection_id)
        }
        clean = next((inv for inv, why in refusals.items() if why is None), None)
        part_paid = next(
            (inv for inv, why in refusals.items() if why is EditRefusal.ALLOCATED), None
        )
        picks = [
            (kind, inv.id, inv.invoice_number)
            for kind, inv in (("clean", clean), ("part_paid", part_paid))
            if inv is not None
        ]
    examples = []
    target = org_today(ctx.clock(), timezone) + timedelta(14)
    for kind, invoice_id, number in picks:
        outcome = ctx.expected_dates().set(connection_id, invoice_id, target, DEMO_ACTOR)
        examples.append(
            {
                "invoice": kind,
                "invoice_number": number,
                "date": target.isoformat(),
                "held_in": outcome.held_in,
                "reason": outcome.reason,
            }
        )
    return examples


# Chasing ----------------------------------------------------------------------------------

# Online invoice links fetched per organisation: the demo's sandbox keeps Xero's 60 calls a
# minute, and a few links are enough to show them in the emails.
DEMO_LINK_CALLS = 5
DEMO_ROWS_SHOWN = 8


@dataclass
class DemoChase:
    plan: ChasePlan
    zone: str | None
    figures: dict[str, Any]


def demo_chase(ctx: AppDeps) -> list[DemoChase]:
    """Each organisation's chase plan, sent at once ("Chase now") to the outbox folder.

    The demo never emails anyone: whatever SMTP_URL says, its emails become .eml files.
    """
    from bot.chasing.plan import plan_chase
    from bot.deps import reminder_sender
    from storage import repositories
    from storage.db import session_scope
    from storage.settings import organisation_settings, update_organisation_settings

    with session_scope(ctx.session_factory) as session:
        connections = [(c.id, c.tenant_name or c.tenant_id, c.timezone)
                       for c in repositories.list_connections(session)]
        for connection_id, name, _zone in connections:
            if organisation_settings(session, connection_id).sender_email is None:
                slug = "".join(ch for ch in name.lower() if ch.isalnum()) or "accounts"
                update_organisation_settings(
                    session, connection_id, by=DEMO_ACTOR, sender_name=f"{name} accounts",
                    sender_email=f"accounts@{slug}.example",
                )
    chases = []
    with reminder_sender(ctx, actor=DEMO_ACTOR, link_calls=DEMO_LINK_CALLS,
                         outbox_only=True) as sender:
        for connection_id, _name, zone in connections:
            plan = plan_chase(ctx.session_factory, connection_id, ctx.clock(),
                              ignore_window=True)
            result = sender.run(plan)
            figures = {**plan_as_dict(plan), "sent": result.emails_sent,
                       "invoices_sent": result.invoices_sent, "stopped": result.stopped}
            chases.append(DemoChase(plan, zone, figures))
    return chases


def _narrate_chase(console: Console, chases: list[DemoChase], outbox: Path) -> None:
    for chase in chases:
        console.print()
        print_plan(console, chase.plan, chase.zone, limit=DEMO_ROWS_SHOWN)
    sent = sum(chase.figures["sent"] for chase in chases)
    console.print()
    console.print(f"Chase now: wrote {sent} reminder email(s) to {outbox} (.eml files; open "
                  "one in a mail app). Nobody was emailed: the demo always uses the outbox.")


# The demo itself ------------------------------------------------------------------------


def run_demo(
    settings: Settings, console: Console, *, json_output: bool, contacts: int, invoices: int
) -> dict[str, object]:
    """Start (or reuse) a sandbox, connect, sync, and print the overdue summary."""
    # Library loggers would interleave with the narrative; set before the imports below,
    # since alembic logs while it is imported.
    for name in ("bot", "httpx", "chaser.sandbox", "uvicorn", "storage", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from bot.chasing.ports import RecordingNotifier
    from bot.cli.sync import summed_figures
    from bot.deps import build_context, outbox_folder

    url = fresh_database(settings.data_dir)
    sandbox_url = settings.xero_base_url
    try:
        with demo_sandbox(settings, contacts=contacts, invoices=invoices) as sandbox_url:
            ctx = build_context(
                demo_settings(settings, sandbox_url),
                database_url=url,
                notifier=RecordingNotifier(),
            )
            connected = connect_unattended(ctx)
            if not connected.connected:
                reasons = "; ".join(r.reason for r in connected.refused) or "nothing connected"
                raise DemoError(f"could not connect the sandbox: {reasons}")
            reports = ctx.sync_service().sync_all()
            failed = [r for r in reports if r.outcome != "ok"]
            if failed:
                why = failed[0].text(TERMINAL)
                raise DemoError(f"sync failed for {failed[0].tenant_name}: {why}")
            summaries = ReceivablesService(ctx.session_factory, ctx.clock).for_workspace()
            write_back = write_back_examples(ctx, summaries[0].connection_id) if summaries else []
            chases = demo_chase(ctx)
            digests = demo_digests(ctx)
    except httpx.HTTPError as exc:
        raise DemoError(f"could not reach the sandbox at {sandbox_url}: {exc}") from exc

    figures: dict[str, object] = {
        **summed_figures(reports),
        "seconds": round(sum(r.seconds for r in reports), 3),
        "database": redact_url(url),
        "sandbox": sandbox_url,
        "organisations": [
            {"name": s.name, "timezone": s.timezone, **s.summary.as_dict()} for s in summaries
        ],
        "write_back": write_back,
        "chase": [chase.figures for chase in chases],
        "outbox": str(outbox_folder(ctx.settings)),
        "digest": [digest_figures(digest) for digest in digests],
    }
    if json_output:
        # print(), not console.print_json: nothing may wrap or colour machine output.
        print(json.dumps(figures))
    else:
        _narrate(console, figures, summaries, write_back)
        _narrate_chase(console, chases, outbox_folder(ctx.settings))
        _narrate_digests(console, digests)
    return figures


def demo_digests(ctx: AppDeps) -> list[Digest]:
    """Each organisation's digest as it would be posted to Slack this morning."""
    from bot.chasing.digest_builder import DigestBuilder
    from storage import repositories
    from storage.db import session_scope

    with session_scope(ctx.session_factory) as session:
        ids = [c.id for c in repositories.list_connections(session)]
    builder = DigestBuilder(ctx.session_factory, ctx.clock)
    return [digest for digest in map(builder.build, ids) if digest is not None]


def digest_figures(digest: Digest) -> dict[str, object]:
    """The digest in `--json`: its notification text, block count and the lines shown."""
    from bot.blocks.digest import digest_blocks, digest_text

    return {
        "organisation": digest.organisation,
        "text": digest_text(digest),
        "blocks": len(digest_blocks(digest)),
        "top_overdue": [line.invoice_number for line in digest.lines],
        "not_chased": {str(reason): count for reason, count in digest.not_chased.items()},
    }


def _narrate_digests(console: Console, digests: list[Digest]) -> None:
    from bot.cli.digest import print_digest

    for digest in digests:
        console.print()
        console.print(f"[bold]The digest as it would be posted in Slack for "
                      f"{escape(digest.organisation)}[/bold] (its buttons work in Slack):")
        console.print()
        print_digest(console, digest)


def _money(totals: dict[str, Decimal]) -> str:
    return totals_text(totals) or "—"


def _in_base(total: BucketTotal, base_currency: str | None) -> str:
    """The base-currency total in brackets when the amounts span currencies, else nothing."""
    if not base_currency or set(total.totals) <= {base_currency}:
        return ""
    return f" ({base_currency} {grouped_money(total.base)} in all)"


def _narrate(
    console: Console,
    figures: dict[str, Any],
    summaries: list[OrgReceivables],
    write_back: list[dict[str, Any]],
) -> None:
    console.print(
        f"Local Xero sandbox at {figures['sandbox']}; demo database "
        f"{figures['database']} (fresh each run)."
    )
    console.print(
        f"Connected {len(summaries)} organisation(s) and synced {figures['contacts']} contacts "
        f"and {figures['invoices']} invoices in {figures['seconds']:.2f}s "
        f"({figures['api_calls']} API calls, {figures['throttled']} throttled)."
    )
    for org in summaries:
        summary = org.summary
        console.print()
        console.print(
            f"[bold]{escape(org.name)}[/bold] ({summary.today:%d %b %Y} in "
            f"{org_zone(org.timezone)}): {summary.overdue.count} overdue, "
            f"{_money(summary.overdue.totals)}{_in_base(summary.overdue, org.base_currency)}"
        )
        base_heading = f"In {org.base_currency}" if org.base_currency else "In base currency"
        aging = Table(
            "Aging", "Invoices", "Amount due", base_heading, title=None, box=None, pad_edge=False
        )
        for bucket, total in summary.buckets.items():
            aging.add_row(
                bucket.label, str(total.count), _money(total.totals), grouped_money(total.base)
            )
        console.print(aging)
        if summary.overdue_lines:
            top = Table(
                "Customer",
                "Invoice",
                "Amount due",
                "Days overdue",
                box=None,
                pad_edge=False,
                title="Most overdue",
                title_justify="left",
            )
            for line in summary.top_overdue():
                item = line.receivable
                top.add_row(
                    escape(item.customer or "?"),
                    escape(item.invoice_number or "?"),
                    f"{item.currency} {grouped_money(item.amount_due)}",
                    str(line.days_overdue),
                )
            console.print(top)
    if write_back:
        console.print()
        console.print("[bold]Expected payment dates[/bold]")
    for example in write_back:
        when = date.fromisoformat(example["date"])
        if example["held_in"] == "xero":
            console.print(f"  {example['invoice_number']}: {when:%d %b %Y} saved in Xero.")
        else:
            console.print(
                f"  {example['invoice_number']}: {when:%d %b %Y} — "
                f"{escape(example['reason'] or '')}"
            )
