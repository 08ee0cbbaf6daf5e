"""What a sync pass reports: the entity names, the per-organisation SyncReport and SyncProgress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bot.errors import UserFacingError
    from bot.messages import Surface

CONTACTS = "contacts"
INVOICES = "invoices"
ENTITIES = (CONTACTS, INVOICES)

Outcome = Literal["ok", "skipped", "failed"]


@dataclass
class SyncReport:
    """What one organisation's sync did; `reason` says why it was skipped or failed (as a
    stored fact); `error` is the UserFacingError each surface renders with `text(surface)`."""

    connection_id: int
    tenant_name: str | None = None
    outcome: Outcome = "ok"
    reason: str | None = None
    code: str | None = None  # the error's short code: retry_later, needs_reconnect…
    retry_later: bool = False
    full: bool = False
    contacts: int = 0
    invoices: int = 0
    api_calls: int = 0
    throttled: int = 0
    seconds: float = 0.0
    error: UserFacingError | None = field(default=None, repr=False, compare=False)

    def text(self, surface: Surface) -> str | None:
        """Why it was skipped or failed, for a person on `surface`."""
        return self.error.text(surface) if self.error is not None else self.reason

    def figures(self) -> dict[str, int | float]:
        """The five headline figures, as `chaser sync --json` prints them."""
        return {
            "contacts": self.contacts,
            "invoices": self.invoices,
            "api_calls": self.api_calls,
            "throttled": self.throttled,
            "seconds": round(self.seconds, 3),
        }

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON (the error object itself is left out)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "error"}
        return {**values, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class SyncProgress:
    """One page stored: enough for a progress bar per entity."""

    connection_id: int
    tenant_name: str | None
    entity: str
    done: int  # rows stored so far in this pass
    total: int | None  # Xero's itemCount when it sends one
    page: int
    page_count: int | None


ProgressCallback = Callable[[SyncProgress], None]
