"""`chaser demo`: run every capability built so far on embedded defaults and narrate it."""

from __future__ import annotations

import json

from rich.console import Console

from bot.config import Settings
from bot.doctor import redact_url


def run_demo(
    settings: Settings, console: Console, *, json_output: bool, contacts: int, invoices: int
) -> dict[str, object]:
    """Migrate a demo database and report; later steps join as capabilities land."""
    from storage import db

    # The demo keeps its own database so a trial never mixes with real books.
    url = f"sqlite:///{(settings.data_dir / 'demo.sqlite3').resolve()}"
    db.upgrade(url)
    figures: dict[str, object] = {"database": redact_url(url), "revision": db.current_revision(url)}
    if json_output:
        console.print_json(json.dumps(figures))
    else:
        console.print(f"Migrated the demo database {figures['database']} "
                      f"to revision {figures['revision']}.")
    return figures
