"""`chaser chase`: show the plan (--dry-run), send what is due inside the window, or now (--now)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot import messages
from bot.chasing.plan import ChasePlan
from bot.chasing.policy import SKIP_REASON_LABELS
from bot.chasing.receivables import grouped_money
from bot.chasing.timezones import org_zone
from bot.cli.support import CommandError, choose_connections, migrated_context
from bot.config import Settings
from bot.messages import TERMINAL

if TYPE_CHECKING:
    from bot.chasing.chase_run import ChaseOutcome
    from bot.deps import AppDeps

CLI_ACTOR = "cli"
SKIPPED_SHOWN = 50


def _when(moment: datetime | None, zone_name: str | None) -> str:
    if moment is None:
        return "never (no chase days set)"
    return f"{moment.astimezone(org_zone(zone_name)):%a %d %b %Y %H:%M %Z}"


def _short(moment: datetime | None, zone_name: str | None) -> str:
    return f"{moment.astimezone(org_zone(zone_name)):%a %d %b %H:%M}" if moment else "—"


def totals_text(totals: dict[str, Decimal]) -> str:
    """Amounts per currency for the terminal, e.g. "AUD 1,200.00, NZD 50.00" ("" for none)."""
    return ", ".join(
        f"{currency} {grouped_money(amount)}" for currency, amount in sorted(totals.items())
    )


def plan_as_dict(plan: ChasePlan) -> dict[str, Any]:
    """The plan as JSON-ready figures (money as strings)."""
    return {
        "organisation": plan.organisation,
        "window_open": plan.window_open,
        "window_ignored": plan.window_ignored,
        "send_at": plan.send_at.isoformat() if plan.send_at else None,
        "emails": [
            {
                "customer": email.contact_name, "to": list(email.recipients),
                "template": email.template, "steps": email.step_keys,
                "needs_approval": email.needs_approval and not email.approved,
                "escalated": email.escalated,
                "invoices": [i.number for i in email.invoices],
                "totals": {c: str(a) for c, a in email.totals().items()},
            }
            for email in plan.emails
        ],
        "skipped": [
            {"invoice": s.number, "customer": s.contact_name, "reason": s.reason.value}
            for s in plan.skipped
        ],
        "upcoming": len(plan.upcoming),
    }


def print_plan(console: Console, plan: ChasePlan, zone_name: str | None,
               trail: list[str] | None = None, *, limit: int | None = None) -> None:
    """The plan for a person: emails with their send time, then each skipped invoice and why."""
    shown = limit or SKIPPED_SHOWN
    if plan.window_ignored:
        state = "closed, ignored (chase now)"
    else:
        state = "open now" if plan.window_open else "closed"
    console.print(f"[bold]{escape(plan.organisation)}[/bold]: chase window {state}; these "
                  f"emails go at {_when(plan.send_at, zone_name)}.")
    if plan.emails:
        table = Table("Customer", "Step", "Invoices", "Amount due", "To", "Send at", box=None,
                      pad_edge=False, title=f"Emails ({len(plan.emails)})", title_justify="left")
        for email in plan.emails[:shown]:
            note = " [yellow](needs approval)[/yellow]" if (
                email.needs_approval and not email.approved) else ""
            table.add_row(
                escape(email.contact_name) + note, ", ".join(email.step_keys),
                escape(", ".join(i.number for i in email.invoices)), totals_text(email.totals()),
                escape(", ".join(email.recipients)),
                _short(plan.send_at, zone_name),
            )
        console.print(table)
        if len(plan.emails) > shown:
            console.print(f"… and {len(plan.emails) - shown} more emails.")
    else:
        console.print("No reminder emails are due.")
    if plan.skipped:
        table = Table("Invoice", "Customer", "Amount due", "Why not chased", box=None,
                      pad_edge=False, title=f"Not chased ({len(plan.skipped)})",
                      title_justify="left")
        for item in plan.skipped[:shown]:
            table.add_row(escape(item.number), escape(item.contact_name),
                          f"{item.currency} {grouped_money(item.amount_due)}",
                          SKIP_REASON_LABELS[item.reason])
        console.print(table)
        if len(plan.skipped) > shown:
            console.print(f"… and {len(plan.skipped) - shown} more.")
    if plan.upcoming:
        first = plan.upcoming[0]
        console.print(f"{len(plan.upcoming)} invoice(s) have later chases; the next on "
                      f"{first.on:%a %d %b %Y} ({escape(first.contact_name)}, {first.number}).")
    if trail:
        console.print("Latest activity:")
        for line in trail:
            console.print(f"  {escape(line)}")


def _trail(ctx: AppDeps, connection_id: int, zone_name: str | None) -> list[str]:
    from bot.chasing.audit_trail import render_trail, trail_lines
    from storage.audit import latest_audit
    from storage.db import session_scope

    with session_scope(ctx.session_factory) as session:
        entries = latest_audit(session, connection_id=connection_id, limit=5)
        return render_trail(trail_lines(entries, org_zone(zone_name)), TERMINAL)


def print_outcome(console: Console, outcome: ChaseOutcome) -> None:
    """What a run did, one line (and why it stopped, if it did)."""
    plan, result = outcome.plan, outcome.result
    name = escape(plan.organisation)
    if outcome.stopped:
        console.print(f"{name}: nothing sent: {escape(outcome.stopped)}")
        return
    if result is None or not result.window_open:
        console.print(f"{name}: outside the chase window; nothing sent. The next window opens "
                      f"{_when(plan.send_at, None)} (use --now to send anyway).")
        return
    console.print(
        f"{name}: sent {result.emails_sent} email(s) about {result.invoices_sent} invoice(s) "
        f"to {escape(result.destination)}; {result.failed} failed (retried next run), "
        f"{result.held_for_approval} held for approval, {len(plan.skipped)} invoice(s) not "
        f"chased."
    )
    if result.unconfirmed:
        console.print(f"{name}: {result.unconfirmed} send(s) unconfirmed: "
                      + messages.UNCONFIRMED_HINT.render(TERMINAL))
    if result.stopped:
        console.print(f"{name}: stopped early: {escape(result.stopped)}")


def resolve_unconfirmed(ctx: AppDeps, console: Console, message_id: str,
                        delivered: bool) -> None:
    """Record what a person found about an unconfirmed send."""
    from storage.audit import record_audit
    from storage.db import session_scope
    from storage.models import Reminder
    from storage.reminders import resolve_unconfirmed as resolve

    with session_scope(ctx.session_factory) as session:
        rows = session.query(Reminder).filter(Reminder.message_id == message_id).all()
        changed = resolve(session, [r.id for r in rows], sent=delivered, now=ctx.clock(),
                          by=CLI_ACTOR)
        if not changed:
            raise CommandError(messages.nothing_unconfirmed(message_id))
        record_audit(session, action="reminder_resolved", actor=CLI_ACTOR, at=ctx.clock(),
                     connection_id=rows[0].connection_id,
                     detail={"message_id": message_id, "delivered": delivered,
                             "invoices": [{"invoice_id": r.invoice_id, "step": r.step_key}
                                          for r in rows]})
    what = "recorded as sent" if delivered else "will be sent again by the next run"
    console.print(f"{changed} reminder(s) {what}.")


def run_chase(settings: Settings, console: Console, *, org: str | None, dry_run: bool,
              now: bool, json_output: bool) -> int:
    """The chase command: plan (and unless --dry-run, sync and send) per organisation."""
    from bot.chasing.chase_run import chase_organisation
    from bot.chasing.plan import plan_chase
    from bot.chasing.reminders import from_address
    from bot.deps import reminder_sender
    from storage import repositories
    from storage.db import session_scope

    ctx = migrated_context(settings)
    with session_scope(ctx.session_factory) as session:
        chosen = [(c.id, c.timezone) for c in
                  choose_connections(repositories.list_connections(session), org)]
    figures: list[dict[str, Any]] = []
    code = 0
    if dry_run:
        for connection_id, zone in chosen:
            plan = plan_chase(ctx.session_factory, connection_id, ctx.clock(), ignore_window=now)
            # What the real run would stop on before its first email, said now.
            cannot_send = (messages.NO_SENDER_ADDRESS.render(TERMINAL) if any(
                from_address(settings.smtp_from, email) is None for email in plan.emails)
                else None)
            figures.append({**plan_as_dict(plan), "cannot_send": cannot_send})
            if not json_output:
                print_plan(console, plan, zone, _trail(ctx, connection_id, zone))
                if cannot_send:
                    console.print(f"{escape(plan.organisation)}: these emails cannot go yet: "
                                  f"{escape(cannot_send)}")
    else:
        syncer = ctx.sync_service()
        with reminder_sender(ctx, actor=CLI_ACTOR) as sender:
            for connection_id, _zone in chosen:
                outcome = chase_organisation(
                    connection_id, session_factory=ctx.session_factory, clock=ctx.clock,
                    sender=sender, sync=syncer.sync, ignore_window=now,
                )
                result = outcome.result
                stopped = outcome.stopped or (result.stopped if result else None)
                figures.append({**plan_as_dict(outcome.plan), "stopped": stopped,
                                "sent": result.emails_sent if result else 0,
                                "failed": result.failed if result else 0,
                                "destination": sender.destination})
                if outcome.stopped or (result and (result.stopped or result.failed)):
                    code = 1
                if not json_output:
                    print_outcome(console, outcome)
    if json_output:
        print(json.dumps(figures))
    return code
