"""`chaser sync`: a progress bar per entity and a summary table, or one JSON object."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from bot.cli.support import choose_connections, migrated_context
from bot.config import Settings
from bot.messages import TERMINAL

if TYPE_CHECKING:
    from bot.chasing.sync import SyncProgress, SyncReport
    from bot.deps import AppDeps

FIGURES = ("contacts", "invoices", "api_calls", "throttled")


def _targets(ctx: AppDeps, org: str | None) -> list[int]:
    """The connections to sync: those `--org` names (whatever their state, so a lost or
    disconnected one says why), else every one not disconnected on purpose."""
    from storage import repositories
    from storage.db import session_scope
    from storage.models import ConnectionStatus

    with session_scope(ctx.session_factory) as session:
        connections = repositories.list_connections(session)
        if org is None:
            connections = [c for c in connections
                           if c.status != ConnectionStatus.DISCONNECTED]
        return [c.id for c in choose_connections(connections, org)]


def summed_figures(reports: Iterable[SyncReport]) -> dict[str, int]:
    """Contacts, invoices, API calls and throttled requests summed over organisations."""
    figures = [report.figures() for report in reports]
    return {key: sum(int(f[key]) for f in figures) for key in FIGURES}


def totals(reports: list[SyncReport], seconds: float) -> dict[str, object]:
    """The `--json` object: figures summed over organisations, wall-clock seconds, and one
    result per organisation, so a script can tell which one failed and why."""
    return {
        **summed_figures(reports),
        "seconds": round(seconds, 3),
        "organisations": [organisation_result(report) for report in reports],
    }


def organisation_result(report: SyncReport) -> dict[str, object]:
    """One organisation's outcome ("ok", "skipped", "failed"), its code and line, its figures."""
    return {
        "connection_id": report.connection_id,
        "organisation": report.tenant_name,
        "outcome": report.outcome,
        "code": report.code,
        "retry_later": report.retry_later,
        "full": report.full,
        "error": report.text(TERMINAL) if report.outcome != "ok" else None,
        **report.figures(),
    }


def run_sync(
    settings: Settings,
    console: Console,
    *,
    org: str | None = None,
    full: bool = False,
    json_output: bool = False,
    err_console: Console | None = None,
    deps: AppDeps | None = None,
) -> int:
    """Sync the chosen (or every) organisation; returns the exit code (1 if any failed).

    `deps` are services already built (a test's, whose retries do not wait); by default
    they are built from `settings` once the database is known to be migrated.
    """
    err_console = err_console or Console(stderr=True, highlight=False)
    ctx = deps or migrated_context(settings)
    targets = _targets(ctx, org)
    started = time.perf_counter()
    if json_output:
        reports = ctx.sync_service().sync_all(full=full, connection_ids=targets)
    else:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks: dict[tuple[int, str], TaskID] = {}

            def advance(event: SyncProgress) -> None:
                key = (event.connection_id, event.entity)
                if key not in tasks:
                    name = event.tenant_name or str(event.connection_id)
                    label = f"{escape(name)} {event.entity}"
                    tasks[key] = progress.add_task(label, total=event.total)
                progress.update(
                    tasks[key], completed=event.done, total=event.total or event.done or None
                )

            reports = ctx.sync_service().sync_all(full=full, progress=advance,
                                                  connection_ids=targets)
    seconds = time.perf_counter() - started

    said: set[str] = set()
    for report in reports:
        if report.code == "configuration":  # our app's own settings: one line, not one per org
            line = report.text(TERMINAL) or ""
            if line not in said:
                said.add(line)
                err_console.print(line, markup=False)
        elif report.outcome == "skipped":  # the sentence names the organisation itself
            err_console.print(report.text(TERMINAL), markup=False)
        elif report.outcome == "failed":
            err_console.print(
                f"{report.tenant_name or report.connection_id} failed: "
                f"{report.text(TERMINAL)}",
                markup=False,
            )
    if json_output:
        print(json.dumps(totals(reports, seconds)))
    else:
        console.print(_table(reports))
    return 0 if all(report.outcome == "ok" for report in reports) else 1


def _table(reports: list[SyncReport]) -> Table:
    table = Table(
        "Organisation",
        "Result",
        "Contacts",
        "Invoices",
        "API calls",
        "Throttled",
        "Seconds",
        title="Sync",
    )
    for report in reports:
        result = {
            "ok": "[green]full[/green]" if report.full else "[green]ok[/green]",
            "skipped": "[yellow]skipped[/yellow]",
        }.get(report.outcome, "[red]failed[/red]")
        table.add_row(
            escape(report.tenant_name or str(report.connection_id)),
            result,
            str(report.contacts),
            str(report.invoices),
            str(report.api_calls),
            str(report.throttled),
            f"{report.seconds:.2f}",
        )
    return table
