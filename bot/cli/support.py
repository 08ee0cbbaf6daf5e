"""What every data command of the CLI shares: its one-line error, a migrated context, org choice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import messages
from bot.config import Settings
from bot.errors import UserFacingError

if TYPE_CHECKING:
    from bot.deps import AppDeps
    from storage.models import XeroConnection


class CommandError(UserFacingError):
    """A failure the user can act on: the CLI prints it as one line and exits 1."""

    code = "command"


def finite(value: float | None) -> float | None:
    """Option callback: refuse inf and nan, which no timeout or scale can mean."""
    import math

    import typer

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def not_blank(value: str | None) -> str | None:
    """Option callback: a given text option must say something (and be one line)."""
    import typer

    if value is not None and (not value.strip() or any(c in value for c in "\r\n\x00")):
        raise typer.BadParameter("must be one line of text, not empty")
    return value


def http_url(value: str | None) -> str | None:
    """Option callback: an http:// or https:// URL with a host."""
    from urllib.parse import urlsplit

    import typer

    if value is None:
        return None
    try:
        parts = urlsplit(value.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # e.g. a port that is not a number
        valid = False
    if not valid:
        raise typer.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.strip()


def http_urls(values: list[str] | None) -> list[str] | None:
    """Option callback: each of a repeatable, comma-separated option is an http(s) URL."""
    if values is None:
        return None
    if any(not value.strip() for value in values):
        return [http_url("") or ""]  # refused: an empty value is no URL
    return [http_url(u.strip()) or "" for v in values for u in v.split(",") if u.strip()]


def redact_url(url: str) -> str:
    """A database URL fit for printing: the password is masked."""
    from sqlalchemy import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is printed without its userinfo
        return url.split("@")[-1]


def describe_db_error(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's boilerplate links."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
    return first


def migrated_context(settings: Settings) -> AppDeps:
    """The shared services, once the database is reachable and at the latest schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.deps import build_context
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
        raise CommandError(messages.NO_CONNECTIONS)
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
