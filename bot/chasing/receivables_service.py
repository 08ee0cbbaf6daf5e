"""Receivables summaries per organisation, read from the local store (never from Xero)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.chasing.receivables import (
    OPEN_RECEIVABLE_STATUSES,
    RECEIVABLE_TYPE,
    OrgReceivables,
    Receivable,
    org_today,
    summarize,
)
from storage import repositories
from storage.db import session_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from storage.models import Invoice, XeroConnection


def open_receivables(session: Session, connection_id: int) -> list[Invoice]:
    """The open receivables of one connection as stored invoices (contacts loaded), by id."""
    return repositories.open_invoices(
        session,
        connection_id,
        invoice_type=RECEIVABLE_TYPE,
        statuses=OPEN_RECEIVABLE_STATUSES,
    )


def overdue_receivables(session: Session, connection_id: int, today: date) -> list[Invoice]:
    """Open receivables due before `today` (the organisation's date), oldest due first."""
    return repositories.overdue_invoices(
        session,
        connection_id,
        today,
        invoice_type=RECEIVABLE_TYPE,
        statuses=OPEN_RECEIVABLE_STATUSES,
    )


class ReceivablesService:
    """Receivables summaries per organisation, read from the local store (never from Xero)."""

    def __init__(
        self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock

    def for_workspace(self, workspace_id: int | None = None) -> list[OrgReceivables]:
        """Every connection's summary (of one workspace, or all), oldest connection first."""
        with session_scope(self._session_factory) as session:
            return [
                self._summarize(session, connection)
                for connection in repositories.list_connections(session, workspace_id)
            ]

    def for_connection(self, connection_id: int) -> OrgReceivables | None:
        """One connection's summary, or None when there is no such connection."""
        with session_scope(self._session_factory) as session:
            connection = repositories.get_connection(session, connection_id)
            return None if connection is None else self._summarize(session, connection)

    def _summarize(self, session: Session, connection: XeroConnection) -> OrgReceivables:
        today = org_today(self._clock(), connection.timezone)
        rows = repositories.owing_rows(
            session,
            connection.id,
            invoice_type=RECEIVABLE_TYPE,
            statuses=OPEN_RECEIVABLE_STATUSES,
        )
        receivables = (
            Receivable(
                invoice_number=row.invoice_number,
                customer=row.customer,
                due_date=row.due_date,
                amount_due=row.amount_due,
                currency=row.currency_code or connection.base_currency or "",
                currency_rate=row.currency_rate,
                expected_payment_date=row.expected_payment_date,
                invoice_id=row.invoice_id,
                contact_id=row.contact_id,
            )
            for row in rows
        )
        return OrgReceivables(
            connection_id=connection.id,
            name=connection.tenant_name or connection.tenant_id,
            timezone=connection.timezone,
            base_currency=connection.base_currency,
            status=str(connection.status),
            summary=summarize(receivables, today, base_currency=connection.base_currency),
        )
