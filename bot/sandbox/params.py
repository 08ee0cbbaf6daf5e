"""Accounting query parameters (paging, flags, ID lists, statuses), parsed as strictly as Xero."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from .filters import QueryError, parse_csv

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
# Xero's Invoice.Status enum; ARCHIVED is what includeArchived adds.
INVOICE_STATUSES = frozenset(
    ("DRAFT", "SUBMITTED", "DELETED", "AUTHORISED", "PAID", "VOIDED", "ARCHIVED")
)


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean parameter: true/false in any case; absent or empty is false."""
    raw = query.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise QueryError(f"The {name} parameter must be true or false, not '{query[name]}'")
    return raw == "true"


def guid_list(query: Mapping[str, str], name: str) -> list[str]:
    """A comma list of Guids (IDs, ContactIDs), lower-cased; a malformed one is a QueryError."""
    out = []
    for text in parse_csv(query.get(name)):
        try:
            out.append(str(uuid.UUID(text)))
        except ValueError:
            raise QueryError(f"Unrecognized Guid format in {name}: '{text}'") from None
    return out


def statuses(query: Mapping[str, str]) -> set[str]:
    """The Statuses list, upper-cased; an unknown status is a QueryError."""
    found = {s.upper() for s in parse_csv(query.get("Statuses"))}
    if unknown := sorted(found - INVOICE_STATUSES):
        raise QueryError(
            f"Statuses contains unknown values: {', '.join(unknown)}; "
            f"use {', '.join(sorted(INVOICE_STATUSES))}"
        )
    return found


@dataclass(frozen=True, slots=True)
class Paging:
    page: int | None
    size: int

    @classmethod
    def of(cls, query: Mapping[str, str], max_size: int = MAX_PAGE_SIZE) -> Paging:
        raw_page, raw_size = query.get("page"), query.get("pageSize")
        try:
            page = None if raw_page in (None, "") else int(raw_page)
            size = DEFAULT_PAGE_SIZE if raw_size in (None, "") else int(raw_size)
        except ValueError:
            page = size = 0
        if (page is not None and page < 1) or size < 1:
            raise QueryError("The page and pageSize parameters must be whole numbers of 1 or more")
        # Xero caps pageSize at 1000 rather than refusing larger values; a sandbox started
        # with --max-page-size serves fewer still, and says so in the pagination block.
        return cls(page, min(size, max_size, MAX_PAGE_SIZE))

    def window(self, total: int) -> tuple[int, int]:
        start = ((self.page or 1) - 1) * self.size
        return start, min(start + self.size, total)

    def meta(self, total: int) -> dict:
        return {
            "page": self.page,
            "pageSize": self.size,
            "pageCount": (total + self.size - 1) // self.size,
            "itemCount": total,
        }
