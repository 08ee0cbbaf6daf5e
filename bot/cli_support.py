"""What every data command of the CLI shares: its one-line error, a migrated context, org choice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import messages
from bot.config import Settings
from bot.doctor import describe_db_error, redact_url

if TYPE_CHECKING:
    from bot.context import AppContext
    from storage.models import XeroConnection


class CommandError(Exception):
    """A failure the user can act on: the CLI prints it as one line and exits 1."""


def migrated_context(settings: Settings) -> AppContext:
    """The shared services, once the database is reachable and at the latest schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.context import build_context
    from storage import db

    url = settings.resolved_database_url
    try:
        migrated = db.current_revision(url) == db.head_revision()
    except SQLAlchemyError as exc:  # unreachable or refused: say which database and why
        raise CommandError(
            f"Cannot open the database {redact_url(url)}: {describe_db_error(exc)}"
        ) from exc
    if not migrated:
        raise CommandError(messages.DB_NOT_MIGRATED)
    return build_context(settings)


def choose_connections(
    connections: Sequence[XeroConnection], org: str | None
) -> list[XeroConnection]:
    """The connections `--org` names (by name, short code or tenant id); all of them without it."""
    if not connections:
        raise CommandError("No Xero organisation is connected: run `chaser connect` first.")
    if org is None:
        return list(connections)
    wanted = org.strip().casefold()
    chosen = [
        c for c in connections
        if wanted in {(c.tenant_name or "").casefold(), (c.short_code or "").casefold(),
                      c.tenant_id.casefold()}
    ]
    if not chosen:
        names = ", ".join(c.tenant_name or c.tenant_id for c in connections)
        raise CommandError(f"No connected Xero organisation is called {org!r} (have: {names}).")
    return chosen
