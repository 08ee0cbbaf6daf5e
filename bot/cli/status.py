"""`chaser status`: each organisation's connection, last sync, chasing, and what won't be chased."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from bot import messages
from bot.cli.support import choose_connections, migrated_context
from bot.config import Settings
from bot.messages import TERMINAL


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "never"


def show_status(settings: Settings, console: Console, *, org: str | None,
                json_output: bool) -> None:
    """Print one block per organisation (or, with --json, one object per organisation)."""
    from bot.chasing.not_chased import not_chased
    from bot.chasing.organisations import connection_statuses
    from storage import repositories
    from storage.db import session_scope

    ctx = migrated_context(settings)
    with session_scope(ctx.session_factory) as session:
        connections = repositories.list_connections(session)
        if not connections:
            console.print(messages.STATUS_NONE.render(TERMINAL), markup=False)
            return
        statuses = connection_statuses(session, choose_connections(connections, org),
                                       ctx.clock())
    figures = []
    for status in statuses:
        skipped = not_chased(ctx.session_factory, status.connection_id, ctx.clock())
        figures.append({
            "organisation": status.name, "needs_reconnect": status.needs_reconnect,
            "last_sync_at": status.last_sync_at.isoformat() if status.last_sync_at else None,
            "last_sync_error": status.last_sync_error, "chasing_paused": status.paused,
            "not_chased": skipped.total,
            "not_chased_by_reason": {reason.value: count for reason, count in skipped.by_reason},
        })
        if json_output:
            continue
        state = (f"[yellow]needs reconnecting[/yellow] ({escape(status.reason or '')})"
                 if status.needs_reconnect else "connected")
        sync = _when(status.last_sync_at) + (
            f" — failed: {escape(status.last_sync_error)}" if status.last_sync_error
            else (" — ok" if status.last_sync_at else ""))
        chasing = ("paused until Xero is reconnected" if status.needs_reconnect
                   else ("paused" + (f" until {status.paused_until}" if status.paused_until
                                     else "")) if status.paused else "on")
        console.print(f"[bold]{escape(status.name)}[/bold]: {state}")
        console.print(f"  Last sync: {sync}")
        console.print(f"  Chasing: {chasing}")
        console.print(f"  Not chased: {escape(messages.not_chased_summary(skipped.labelled()))}")
    if json_output:
        console.print_json(json.dumps(figures))
