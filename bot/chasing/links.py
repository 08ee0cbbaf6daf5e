"""Xero's online invoice links for reminder emails: fetched once per invoice, then kept.

`GET /Invoices/{InvoiceID}/OnlineInvoice` (Accounting API) answers with the customer-facing
URL. It costs one call per invoice against Xero's 60 calls a minute, so a run spends at most
`max_calls` on links; an email without a link simply leaves the "view and pay online" line out
(Xero's own go.xero.com deep links need a login to the organisation: no use to a customer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.chasing.connection_guard import ConnectionGuard
from bot.chasing.ports import Notifier, XeroApi, XeroGateway
from bot.errors import UserFacingError
from bot.xero.errors import XeroValidationError
from storage import reminders as ledger
from storage.db import session_scope

log = logging.getLogger(__name__)

# Links fetched per run at most: about two minutes of an organisation's Xero minute limit.
DEFAULT_LINK_CALLS = 100


class XeroOnlineLinks:
    """An OnlineInvoiceLinks port over the local cache and Xero; close() ends its clients."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        xero: XeroGateway,
        clock: Callable[[], datetime],
        notifier: Notifier,
        max_calls: int = DEFAULT_LINK_CALLS,
    ) -> None:
        self._sessions = session_factory
        self._xero = xero
        self._clock = clock
        self._notifier = notifier
        self._calls_left = max_calls
        self._clients: dict[int, XeroApi] = {}
        self._open = ExitStack()  # the clients stay open for the run, closed by close()
        self.fetched = 0

    def url(self, connection_id: int, invoice_id: int, xero_invoice_id: str) -> str | None:
        """The stored link, else one fetched from Xero while the run's budget lasts."""
        with session_scope(self._sessions) as session:
            stored = ledger.online_links(session, [invoice_id])
        if invoice_id in stored:
            return stored[invoice_id]
        if self._calls_left <= 0:
            return None
        self._calls_left -= 1
        guard = ConnectionGuard(connection_id, session_factory=self._sessions,
                                clock=self._clock, notifier=self._notifier)
        try:
            with guard:
                client = self._clients.get(connection_id)
                if client is None:
                    client = self._open.enter_context(self._xero.connection(connection_id))
                    self._clients[connection_id] = client
                try:
                    url = client.online_invoice_url(xero_invoice_id)
                except XeroValidationError:
                    url = None  # Xero has no online copy of this invoice: remember that too
        except UserFacingError as exc:
            log.info("No online invoice link for %s this run: %s", xero_invoice_id, exc)
            return None
        with session_scope(self._sessions) as session:
            ledger.save_online_link(session, invoice_id, url, now=self._clock())
        self.fetched += 1
        return url

    def close(self) -> None:
        """Close every client this run opened."""
        self._clients.clear()
        self._open.close()

    def __enter__(self) -> XeroOnlineLinks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
