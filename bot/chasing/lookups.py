"""Look-ups for /chaser overdue, invoice and customer: read the local store, never Xero.

Each answer is plain data (bot/chasing/lookup_views.py) for bot/blocks/lookups.py to show;
every query is scoped to the asking workspace's organisations.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import messages
from bot.chasing.audit_trail import render_trail, trail_lines
from bot.chasing.lookup_views import (
    CustomerChoice,
    CustomerDetail,
    InvoiceDetail,
    InvoiceLine,
    OverdueList,
    customer_label,
)
from bot.chasing.organisations import workspace_organisations
from bot.chasing.policy import pause_active
from bot.chasing.receivables import days_overdue, is_open_receivable, org_today
from bot.chasing.receivables_service import open_receivables, overdue_receivables
from bot.chasing.timezones import org_zone
from bot.errors import NotFound
from bot.messages import SLACK
from bot.xero_links import contact_link, invoice_link
from storage.audit import latest_audit
from storage.models import (
    Contact,
    ContactEmail,
    EmailRole,
    ExpectedDateSource,
    Invoice,
    XeroConnection,
)
from storage.queries import invoice_by_number

OVERDUE_SHOWN = 20
MATCHES_SHOWN = 5
TRAIL_SHOWN = 5


def _line(invoice: Invoice, organisation: str, today: date) -> InvoiceLine:
    return InvoiceLine(
        organisation=organisation, number=invoice.invoice_number or "(no number)",
        customer=(invoice.contact.name if invoice.contact else None) or "",
        currency=invoice.currency_code or "", amount_due=invoice.amount_due or Decimal(0),
        due_date=invoice.due_date, days_overdue=days_overdue(invoice.due_date, today))


def _add(totals: dict[str, Decimal], invoice: Invoice) -> None:
    totals[invoice.currency_code or ""] += invoice.amount_due or Decimal(0)


def overdue(session: Session, workspace_id: int, now: datetime,
            customer: str | None = None) -> OverdueList:
    """Overdue invoices of every organisation (or one customer's), most overdue first."""
    lines: list[InvoiceLine] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    chosen_name = None
    contact_ids: set[int] | None = None
    if not workspace_organisations(session, workspace_id):  # not "nothing is overdue"
        raise NotFound(messages.NO_CONNECTIONS)
    if customer is not None:
        found = find_customers(session, workspace_id, customer)
        if isinstance(found, CustomerChoice):
            return OverdueList([], 0, {}, customer)  # the handler offers the choice instead
        contact_ids, chosen_name = {found.id}, found.name
    for connection in workspace_organisations(session, workspace_id):
        today = org_today(now, connection.timezone)
        for invoice in overdue_receivables(session, connection.id, today):
            if contact_ids is not None and invoice.contact_id not in contact_ids:
                continue
            lines.append(_line(invoice, _name(connection), today))
            _add(totals, invoice)
    lines.sort(key=lambda line: (-line.days_overdue, line.number))
    return OverdueList(lines[:OVERDUE_SHOWN], len(lines), dict(totals), chosen_name)


def invoice(session: Session, workspace_id: int, number: str, now: datetime) -> InvoiceDetail:
    """One invoice by number, in whichever of the workspace's organisations has it."""
    organisations = workspace_organisations(session, workspace_id)
    if not organisations:
        raise NotFound(messages.NO_CONNECTIONS)
    for connection in organisations:
        found = invoice_by_number(session, connection.id, number)
        if found is not None:
            return _invoice_detail(session, connection, found, now)
    raise NotFound(messages.invoice_not_found(number))


def _invoice_detail(session: Session, connection: XeroConnection, row: Invoice,
                    now: datetime) -> InvoiceDetail:
    today = org_today(now, connection.timezone)
    kept = None
    if row.expected_payment_date is not None:
        kept = (messages.EXPECTED_KEPT_LOCALLY.format(reason=row.expected_payment_date_reason
                                                      or messages.EXPECTED_REFUSED)
                if row.expected_payment_date_source == ExpectedDateSource.LOCAL
                else messages.EXPECTED_KEPT_IN_XERO)
    entries = latest_audit(session, invoice_id=row.id, contact_id=row.contact_id,
                           limit=TRAIL_SHOWN)
    trail = render_trail(trail_lines(entries, org_zone(connection.timezone)), SLACK)
    return InvoiceDetail(
        organisation=_name(connection), number=row.invoice_number or "(no number)",
        customer=(row.contact.name if row.contact else None) or "", status=row.status,
        currency=row.currency_code or "", total=row.total or Decimal(0),
        amount_paid=row.amount_paid or Decimal(0),
        amount_credited=row.amount_credited or Decimal(0),
        amount_due=row.amount_due or Decimal(0), date=row.date, due_date=row.due_date,
        days_overdue=(
            days_overdue(row.due_date, today)
            if is_open_receivable(row.type, row.status, row.amount_due)
            else 0
        ),
        expected_date=row.expected_payment_date, expected_date_kept=kept,
        paused=pause_active(row.chasing_paused, row.chasing_paused_until, today),
        paused_until=row.chasing_paused_until, disputed=row.disputed,
        disputed_reason=row.disputed_reason, trail=trail,
        xero_url=invoice_link(connection.short_code, row.xero_invoice_id),
    )


def find_customers(session: Session, workspace_id: int, name: str) -> Contact | CustomerChoice:
    """The one customer `name` means: an exact name (any case), else the only one containing
    it; otherwise the close matches to choose from (NotFound when there are none)."""
    organisations = {c.id: c for c in workspace_organisations(session, workspace_id)}
    if not organisations:
        raise NotFound(messages.NO_CONNECTIONS)
    contacts = list(session.scalars(select(Contact).where(
        Contact.connection_id.in_(list(organisations)), Contact.name.is_not(None))
        .order_by(func.lower(Contact.name), Contact.id)))
    wanted = name.strip().casefold()
    exact = [c for c in contacts if (c.name or "").casefold() == wanted] or [
        c for c in contacts  # "Name (Organisation)": a choice's label, typed back
        if customer_label(c.name or "", _name(organisations[c.connection_id])).casefold()
        == wanted]
    within = exact or [c for c in contacts if wanted in (c.name or "").casefold()]
    if len(within) == 1:
        return within[0]
    if not within:
        # Keyed by name, every customer of that name: two organisations may both have one.
        named: dict[str, list[Contact]] = defaultdict(list)
        for contact in contacts:
            named[(contact.name or "").casefold()].append(contact)
        close = difflib.get_close_matches(wanted, list(named), n=MATCHES_SHOWN, cutoff=0.6)
        within = [contact for match in close for contact in named[match]]
    if not within:
        raise NotFound(messages.customer_not_found(name))
    return CustomerChoice(name, [(c.id, c.name or "", _name(organisations[c.connection_id]))
                                 for c in within[:MATCHES_SHOWN]])


def customer(session: Session, workspace_id: int, contact_id: int,
             now: datetime) -> CustomerDetail:
    """One customer of the workspace: emails, open invoices and totals."""
    contact = session.get(Contact, contact_id)
    connection = session.get(XeroConnection, contact.connection_id) if contact else None
    if contact is None or connection is None or connection.workspace_id != workspace_id:
        raise NotFound(messages.customer_not_found(str(contact_id)))
    today = org_today(now, connection.timezone)
    addresses = list(session.scalars(select(ContactEmail).where(
        ContactEmail.contact_id == contact.id).order_by(ContactEmail.id)))
    emails = [e.email for e in addresses if e.include_in_emails]
    escalated = [e.email for e in addresses if e.role == EmailRole.ESCALATED]
    rows = [i for i in open_receivables(session, connection.id) if i.contact_id == contact.id]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    overdue_totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        _add(totals, row)
        if days_overdue(row.due_date, today) > 0:
            _add(overdue_totals, row)
    lines = sorted((_line(i, _name(connection), today) for i in rows),
                   key=lambda line: (-line.days_overdue, line.number))
    return CustomerDetail(
        contact_id=contact.id, connection_id=connection.id, organisation=_name(connection),
        name=contact.name or "", emails=emails, escalated=escalated,
        open_invoices=lines[:OVERDUE_SHOWN],
        totals=dict(totals), overdue_totals=dict(overdue_totals),
        paused=pause_active(contact.chasing_paused, contact.chasing_paused_until, today),
        paused_until=contact.chasing_paused_until,
        xero_url=contact_link(connection.short_code, contact.xero_contact_id))


def _name(connection: XeroConnection) -> str:
    return connection.tenant_name or connection.tenant_id
