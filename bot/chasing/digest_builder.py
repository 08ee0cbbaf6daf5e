"""Builds one organisation's digest from the local store (never from Xero), rows streamed.

The figures come from digest.tally in one pass over the open invoices' facts, streamed in
columns; only the shown page's invoices are then read in full. An organisation with 100,000
open invoices never becomes 100,000 ORM objects (benchmarks/digest_build.py).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bot.chasing.digest import (
    PAGE_SIZE,
    ZERO,
    Digest,
    DigestLine,
    SkipReason,
    tally,
)
from bot.chasing.policy import SkipReasonCache, pause_active
from bot.chasing.receivables import OPEN_RECEIVABLE_STATUSES, RECEIVABLE_TYPE, org_today
from storage import digests, repositories
from storage.db import session_scope
from storage.models import ConnectionStatus, ExpectedDateSource
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from decimal import Decimal

    from sqlalchemy.orm import Session, sessionmaker


class DigestBuilder:
    """Builds an organisation's digest from the local store (never from Xero)."""

    def __init__(
        self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock

    def build(
        self, connection_id: int, *, page: int = 0, page_size: int = PAGE_SIZE,
        today: date | None = None,
    ) -> Digest | None:
        """The digest as of `today` (the organisation's date; now by default), or None."""
        with session_scope(self._session_factory) as session:
            connection = repositories.get_connection(session, connection_id)
            if connection is None:
                return None
            settings = organisation_settings(session, connection_id)
            today = today or org_today(self._clock(), connection.timezone)
            page = max(0, page)
            with gc_paused():
                figures = tally(
                    digests.receivable_fact_columns(
                        session, connection_id,
                        invoice_type=RECEIVABLE_TYPE, statuses=OPEN_RECEIVABLE_STATUSES,
                    ),
                    today,
                    base_currency=connection.base_currency,
                    reasons=SkipReasonCache(
                        today,
                        connected=connection.status == ConnectionStatus.CONNECTED,
                        account_paused=settings.chasing_paused,
                        account_paused_until=settings.chasing_paused_until,
                        minimum_amount=settings.minimum_chase_amount or ZERO,
                        wait_for_expected_date=settings.wait_for_expected_date,
                    ),
                    contacts=digests.contact_facts(session, connection_id),
                    keep=(page + 1) * page_size,
                    amount_of=digests.amount_from_units,
                )
            ranked = sorted(figures.top, key=lambda entry: entry[:3], reverse=True)
            pages = max(1, -(-figures.overdue.count // page_size))
            page = min(page, pages - 1)
            chosen = ranked[page * page_size : (page + 1) * page_size]
            details = digests.invoice_details(session, [entry[3][0] for entry in chosen])
            return Digest(
                connection_id=connection_id,
                organisation=connection.tenant_name or connection.tenant_id,
                short_code=connection.short_code,
                base_currency=connection.base_currency,
                today=today,
                status=str(connection.status),
                account_paused=settings.chasing_paused,
                account_paused_until=settings.chasing_paused_until,
                last_sync_at=digests.last_sync_at(session, connection_id),
                open=figures.open,
                overdue=figures.overdue,
                buckets=figures.buckets,
                not_chased=dict(figures.reasons),
                lines=tuple(
                    _line(entry, details[entry[3][0]], connection.base_currency, today)
                    for entry in chosen
                ),
                page=page,
                page_size=page_size,
            )


# The tally allocates a few hundred thousand small tuples and lists, which set off several of
# Python's full collections (each walks every live object: a tenth of the build's CPU); none
# of them form cycles. Collections wait until the pass is over; concurrent builds share one
# pause, and only the last one out switches the collector back on.
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; the collector's state is restored."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _line(
    entry: tuple[Decimal, int, int, tuple[Any, ...], Decimal | None, SkipReason | None],
    detail: digests.DetailRow,
    base_currency: str | None,
    today: date,
) -> DigestLine:
    _, days, _, raw, base, reason = entry
    row = digests.FactRow._make(raw)
    return DigestLine(
        invoice_id=row.invoice_id,
        xero_invoice_id=detail.xero_invoice_id,
        invoice_number=detail.invoice_number,
        customer=detail.customer,
        xero_contact_id=detail.xero_contact_id,
        amount_due=row.amount_due,
        currency=row.currency_code or base_currency or "",
        base_amount=base,
        days_overdue=days,
        due_date=row.due_date,
        expected_payment_date=row.expected_payment_date,
        expected_date_local=detail.expected_date_source == ExpectedDateSource.LOCAL,
        paused=pause_active(row.invoice_paused, row.invoice_paused_until, today),
        disputed=row.disputed,
        disputed_reason=detail.disputed_reason,
        skip_reason=reason,
    )
