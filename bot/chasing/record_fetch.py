"""A targeted fetch: just the contacts and invoices Xero said changed, stored like a sync."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.chasing.receivables import RECEIVABLE_TYPE
from bot.chasing.sync import RETRYABLE, ClientFactory, SyncService
from bot.chasing.sync_report import Outcome
from bot.chasing.tokens import mark_needs_reconnect, open_client
from bot.errors import UserFacingError
from bot.messages import TERMINAL
from bot.xero.errors import XeroAuthError, XeroError

if TYPE_CHECKING:
    from bot.deps import AppDeps
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

    def __init__(self, ctx: AppDeps, *, client_factory: ClientFactory = open_client) -> None:
        self.ctx = ctx
        self._client_factory = client_factory
        self._sync = SyncService(ctx, client_factory=client_factory)

    def fetch(
        self,
        connection_id: int,
        *,
        invoice_ids: Sequence[str] = (),
        contact_ids: Sequence[str] = (),
    ) -> FetchedRecords:
        """Fetch and store these records; failures are reported, never raised.

        Contacts first, like a sync, so a new customer's invoice finds its contact. An id Xero
        does not return (deleted, or not this organisation's) is simply absent.
        """
        result = FetchedRecords(connection_id=connection_id)
        if not invoice_ids and not contact_ids:
            return result
        try:
            client = self._client_factory(self.ctx, connection_id)
        except UserFacingError as exc:
            result.outcome, result.reason = "skipped", exc.text(TERMINAL)
            return result
        try:
            for chunk in _chunks(contact_ids):
                for page in client.iter_contact_pages(ids=chunk, include_archived=True):
                    result.contacts.extend(page.contacts)
            for chunk in _chunks(invoice_ids):
                for page in client.iter_invoice_pages(ids=chunk, where=None, order=None):
                    result.invoices.extend(
                        i for i in page.invoices if i.type == RECEIVABLE_TYPE
                    )
            self._sync.store_records(
                connection_id, contacts=result.contacts, invoices=result.invoices
            )
        except UserFacingError as exc:  # the token store found the connection unusable
            self._fail(result, exc.text(TERMINAL), retry=False)
        except XeroAuthError as exc:
            mark_needs_reconnect(self.ctx.session_factory, connection_id, exc.reason,
                                 clock=self.ctx.clock, notifier=self.ctx.notifier)
            self._fail(result, f"Xero refused the connection ({exc.reason}).", retry=False)
        except RETRYABLE as exc:
            self._fail(result, f"retry later: {exc}", retry=True)
        except XeroError as exc:
            self._fail(result, f"Xero error: {exc}", retry=False)
        finally:
            result.api_calls = int(getattr(client, "api_calls", 0))
            close = getattr(client, "close", None)
            if callable(close):
                close()
        return result

    @staticmethod
    def _fail(result: FetchedRecords, reason: str, *, retry: bool) -> None:
        result.outcome, result.reason, result.retry_later = "failed", reason, retry
        result.invoices, result.contacts = [], []
        log.warning("targeted fetch for connection %s failed: %s", result.connection_id, reason)
