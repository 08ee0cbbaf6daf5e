"""A targeted fetch: just the contacts and invoices Xero said changed, stored like a sync."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.chasing.connection_guard import ConnectionGuard
from bot.chasing.ports import Clock, Notifier, XeroApi, XeroGateway
from bot.chasing.receivables import RECEIVABLE_TYPE
from bot.chasing.sync import SyncService
from bot.chasing.sync_report import Outcome
from bot.errors import ConnectionNotUsable, UserFacingError
from bot.messages import TERMINAL

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.xero.models import Contact as XeroContact
    from bot.xero.models import Invoice as XeroInvoice

log = logging.getLogger(__name__)

# IDs per request: 50 GUIDs keep the query string near 1,900 characters, well inside what
# proxies accept; a webhook batch rarely names more.
IDS_PER_CALL = 50


@dataclass
class FetchedRecords:
    """What one connection's targeted fetch stored; `invoices` are Xero's own (with Payments)."""

    connection_id: int
    invoices: list[XeroInvoice] = field(default_factory=list)
    contacts: list[XeroContact] = field(default_factory=list)
    outcome: Outcome = "ok"
    reason: str | None = None
    retry_later: bool = False
    api_calls: int = 0


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[n : n + IDS_PER_CALL] for n in range(0, len(unique), IDS_PER_CALL)]


class RecordFetcher:
    """Fetches named records of one organisation with Xero's `IDs` filter and stores them."""

    def __init__(self, session_factory: sessionmaker[Session], xero: XeroGateway, *,
                 clock: Clock, notifier: Notifier) -> None:
        self._factory = session_factory
        self._xero = xero
        self._clock = clock
        self._notifier = notifier
        self._sync = SyncService(session_factory, xero, clock=clock, notifier=notifier)

    def fetch(
        self,
        connection_id: int,
        *,
        invoice_ids: Sequence[str] = (),
        contact_ids: Sequence[str] = (),
    ) -> FetchedRecords:
        """Fetch and store these records; failures are reported, never raised.

        Contacts first, like a sync, so a new customer's invoice finds its contact. An id Xero
        does not return (deleted, or not this organisation's) is simply absent. What a failure
        means for the connection, its guard decides (as for a sync).
        """
        result = FetchedRecords(connection_id=connection_id)
        if not invoice_ids and not contact_ids:
            return result
        guard = ConnectionGuard(connection_id, session_factory=self._factory,
                                clock=self._clock, notifier=self._notifier)
        try:
            with guard, self._xero.connection(connection_id) as client:
                try:
                    self._fetch(client, result, invoice_ids, contact_ids)
                finally:
                    result.api_calls = int(client.api_calls)
        except ConnectionNotUsable as exc:
            if result.api_calls:  # lost while fetching
                self._fail(result, exc)
            else:  # not usable to begin with: nothing was tried
                result.outcome, result.reason = "skipped", exc.record
        except UserFacingError as exc:
            self._fail(result, exc)
        return result

    def _fetch(self, client: XeroApi, result: FetchedRecords, invoice_ids: Sequence[str],
               contact_ids: Sequence[str]) -> None:
        for chunk in _chunks(contact_ids):
            for page in client.iter_contact_pages(ids=chunk, include_archived=True):
                result.contacts.extend(page.contacts)
        for chunk in _chunks(invoice_ids):
            for page in client.iter_invoice_pages(ids=chunk, where=None, order=None):
                result.invoices.extend(i for i in page.invoices if i.type == RECEIVABLE_TYPE)
        self._sync.store_records(
            result.connection_id, contacts=result.contacts, invoices=result.invoices
        )

    @staticmethod
    def _fail(result: FetchedRecords, error: UserFacingError) -> None:
        result.outcome, result.reason = "failed", error.record
        result.retry_later = error.retry_later
        result.invoices, result.contacts = [], []
        log.warning("targeted fetch for connection %s failed: %s%s", result.connection_id,
                    error.text(TERMINAL), f" [{error.detail}]" if error.detail else "")
