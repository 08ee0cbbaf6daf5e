"""Pull contacts and ACCREC invoices from Xero into the local store, incrementally and safely."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import insert, select, update

from bot.chasing.mapping import RECEIVABLE_TYPE, contact_emails, contact_row, invoice_row
from bot.chasing.ports import UserFacingError
from bot.chasing.tokens import mark_needs_reconnect, open_client, unavailable_message
from bot.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroRateLimited,
    XeroServerError,
    XeroTransportError,
)
from storage import repositories
from storage.db import session_scope
from storage.models import (
    ConnectionStatus,
    ContactEmail,
    EmailRole,
    ExpectedDateSource,
    Invoice,
    XeroConnection,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.context import AppContext
    from bot.xero.client import XeroClient

log = logging.getLogger(__name__)

CONTACTS = "contacts"
INVOICES = "invoices"
ENTITIES = (CONTACTS, INVOICES)
# Xero does not stamp every change (due-date edits on part-paid invoices keep their
# UpdatedDateUTC), so an incremental-only sync drifts; a full pass this often catches it.
RECONCILE_EVERY = timedelta(days=7)
RETRYABLE = (XeroRateLimited, XeroServerError, XeroTransportError)
# A second this far behind the start of the pass that saw it can gain no new stamps.
SETTLED_AFTER = timedelta(minutes=5)

Outcome = Literal["ok", "skipped", "failed"]


@dataclass
class SyncReport:
    """What one organisation's sync did; `reason` says why it was skipped or failed."""

    connection_id: int
    tenant_name: str | None = None
    outcome: Outcome = "ok"
    reason: str | None = None
    retry_later: bool = False
    full: bool = False
    contacts: int = 0
    invoices: int = 0
    api_calls: int = 0
    throttled: int = 0
    seconds: float = 0.0

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
        return {**asdict(self), "seconds": round(self.seconds, 3)}


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
ClientFactory = Callable[["AppContext", int], "XeroClient"]


class SyncFailed(XeroError):
    """Internal: carries the entity a Xero error interrupted."""


class SyncService:
    """Syncs one organisation at a time; the only code that reads from Xero."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        client_factory: ClientFactory = open_client,
        reconcile_every: timedelta = RECONCILE_EVERY,
        page_size: int = 1000,
    ) -> None:
        self.ctx = ctx
        self._client_factory = client_factory
        self._reconcile_every = reconcile_every
        self._page_size = page_size  # Xero's maximum; smaller only to exercise paging

    # The orchestration ------------------------------------------------------------------

    def sync(
        self, connection_id: int, *, full: bool = False, progress: ProgressCallback | None = None
    ) -> SyncReport:
        """Sync contacts then invoices; full=True (or a due reconcile) re-reads everything.

        Each entity's high-water mark (the largest UpdatedDateUTC stored) only moves after
        a complete pass, so an interrupted run resumes from the old mark and misses nothing;
        pages stored before the interruption are simply upserted again.
        """
        started = time.perf_counter()
        report = SyncReport(connection_id=connection_id)
        with session_scope(self.ctx.session_factory) as session:
            connection = repositories.get_connection(session, connection_id)
            report.tenant_name = connection.tenant_name if connection else None
            if connection is None or connection.status != ConnectionStatus.CONNECTED:
                return self._skipped(report, unavailable_message(connection), started)
            needs_organisation = not connection.timezone
            marks = {
                entity: self._plan(session, connection_id, entity, full) for entity in ENTITIES
            }
        report.full = any(entity_full for entity_full, _ in marks.values())

        try:
            client = self._client_factory(self.ctx, connection_id)
        except UserFacingError as exc:
            return self._skipped(report, exc.user_message, started)

        entity = "organisation"
        try:
            if needs_organisation or report.full:
                self._sync_organisation(client, connection_id)
            for entity in ENTITIES:
                entity_full, since = marks[entity]
                self._pass(client, report, entity, entity_full, since, progress)
        except XeroAuthError as exc:
            mark_needs_reconnect(
                self.ctx.session_factory,
                connection_id,
                exc.reason,
                clock=self.ctx.clock,
                notifier=self.ctx.notifier,
            )
            self._fail(report, entity, f"Xero refused the connection ({exc.reason}).", False)
        except RETRYABLE as exc:
            self._fail(report, entity, f"retry later: {exc.user_message} ({exc})", True)
        except UserFacingError as exc:  # the token refresh found the connection unusable
            self._fail(report, entity, exc.user_message, False)
        except XeroError as exc:
            self._fail(report, entity, f"Xero error: {exc}", False)
        finally:
            report.api_calls = int(getattr(client, "api_calls", 0))
            report.throttled = int(getattr(client, "throttled", 0))
            close = getattr(client, "close", None)
            if callable(close):
                close()
            report.seconds = time.perf_counter() - started
        return report

    def _plan(
        self, session: Session, connection_id: int, entity: str, full: bool
    ) -> tuple[bool, datetime | None]:
        """(full pass?, If-Modified-Since) for one entity."""
        state = repositories.get_sync_state(session, connection_id, entity)
        if state is None or state.high_water_mark is None:
            return True, None
        last_full = state.last_full_sync_at
        due = last_full is None or self.ctx.clock() - last_full >= self._reconcile_every
        return (full or due), state.high_water_mark

    @staticmethod
    def _request_since(
        state_mark: datetime | None, last_sync_at: datetime | None
    ) -> datetime | None:
        """If-Modified-Since for a mark: its own second, or the next one once that is settled.

        Xero compares to the second, inclusive, so asking from the mark's second re-reads
        everything stamped in it (thousands of rows when a bulk import shares one second).
        Once the pass that recorded the mark started well after that second (more than any
        plausible clock skew), nothing new can still be stamped with it: skip it.
        """
        if state_mark is None or last_sync_at is None:
            return state_mark
        if last_sync_at - state_mark > SETTLED_AFTER:
            return state_mark.replace(microsecond=0) + timedelta(seconds=1)
        return state_mark

    def _skipped(self, report: SyncReport, reason: str, started: float) -> SyncReport:
        report.outcome, report.reason = "skipped", reason
        report.seconds = time.perf_counter() - started
        return report

    def _fail(self, report: SyncReport, entity: str, reason: str, retry_later: bool) -> None:
        report.outcome, report.reason, report.retry_later = "failed", reason, retry_later
        log.warning("sync of connection %s failed at %s: %s", report.connection_id, entity, reason)
        state_entity = entity if entity in ENTITIES else CONTACTS
        with session_scope(self.ctx.session_factory) as session:
            repositories.save_sync_state(
                session,
                report.connection_id,
                state_entity,
                last_error=reason,
                in_progress_since=None,
            )

    # Organisation -----------------------------------------------------------------------

    def _sync_organisation(self, client: XeroClient, connection_id: int) -> None:
        """Timezone, currency, short code and lock dates: read on full passes only."""
        organisation = client.organisation()
        with session_scope(self.ctx.session_factory) as session:
            connection = session.get(XeroConnection, connection_id)
            if connection is None:
                return
            connection.tenant_name = organisation.name or connection.tenant_name
            connection.timezone = organisation.timezone
            connection.base_currency = organisation.base_currency
            connection.short_code = organisation.short_code
            connection.country_code = organisation.country_code
            connection.period_lock_date = organisation.period_lock_date
            connection.end_of_year_lock_date = organisation.end_of_year_lock_date
            connection.updated_at = self.ctx.clock()

    # One entity -------------------------------------------------------------------------

    def _pages(self, client: XeroClient, entity: str, since: datetime | None) -> Iterator[Any]:
        if entity == CONTACTS:
            # Archived contacts are hidden unless asked for; we need them to stop chasing.
            return iter(
                client.iter_contact_pages(
                    modified_since=since, include_archived=True, page_size=self._page_size
                )
            )
        return iter(
            client.iter_invoice_pages(
                modified_since=since,
                where=f'Type=="{RECEIVABLE_TYPE}"',
                page_size=self._page_size,
            )
        )

    def _pass(
        self,
        client: XeroClient,
        report: SyncReport,
        entity: str,
        full: bool,
        since: datetime | None,
        progress: ProgressCallback | None,
    ) -> None:
        connection_id = report.connection_id
        started_at = self.ctx.clock()
        with session_scope(self.ctx.session_factory) as session:
            previous = repositories.get_sync_state(session, connection_id, entity)
            request_since = self._request_since(
                since, previous.last_sync_at if previous is not None else None
            )
            repositories.save_sync_state(
                session, connection_id, entity, in_progress_since=started_at
            )
            held = _locally_held_dates(session, connection_id) if entity == INVOICES else {}

        newest = since
        done = 0
        for number, page in enumerate(
            self._pages(client, entity, None if full else request_since), 1
        ):
            items = page.contacts if entity == CONTACTS else page.invoices
            with session_scope(self.ctx.session_factory) as session:
                if entity == CONTACTS:
                    stored = self._store_contacts(session, connection_id, items)
                else:
                    stored = self._store_invoices(session, connection_id, items, held)
            done += stored
            for item in items:
                stamp = item.updated_date_utc
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            if progress is not None:
                pagination = page.pagination
                progress(
                    SyncProgress(
                        connection_id=connection_id,
                        tenant_name=report.tenant_name,
                        entity=entity,
                        done=done,
                        total=pagination.item_count
                        if pagination and pagination.item_count
                        else None,
                        page=number,
                        page_count=pagination.page_count if pagination else None,
                    )
                )
        if entity == CONTACTS:
            report.contacts += done
        else:
            report.invoices += done

        # Only now, after the last page, is it safe to move the mark.
        fields: dict[str, Any] = {
            "high_water_mark": newest,
            "last_sync_at": started_at,
            "last_error": None,
            "in_progress_since": None,
        }
        if full:
            fields["last_full_sync_at"] = started_at
        with session_scope(self.ctx.session_factory) as session:
            repositories.save_sync_state(session, connection_id, entity, **fields)

    def _store_contacts(self, session: Session, connection_id: int, contacts: list[Any]) -> int:
        if not contacts:
            return 0
        now = self.ctx.clock()
        repositories.upsert_contacts(
            session, connection_id, [contact_row(c) for c in contacts], now=now
        )
        ids = repositories.contact_ids_by_xero_id(
            session, connection_id, (c.contact_id for c in contacts)
        )
        existing = _existing_emails(session, ids.values())
        fresh: list[dict[str, Any]] = []
        for contact in contacts:
            contact_id = ids.get(contact.contact_id)
            if contact_id is None:
                continue
            wanted = contact_emails(contact)
            had = existing.get(contact_id)
            if had is None:
                # No addresses yet (a first sync): one bulk insert instead of a diff each.
                fresh.extend(
                    {**e, "contact_id": contact_id, "role": EmailRole.NORMAL} for e in wanted
                )
            elif had != {_email_key(e) for e in wanted}:
                repositories.replace_contact_emails(session, contact_id, wanted)
        if fresh:
            session.execute(insert(ContactEmail), fresh)
        return len(contacts)

    def _store_invoices(
        self,
        session: Session,
        connection_id: int,
        invoices: list[Any],
        held: dict[str, datetime | None],
    ) -> int:
        rows = [invoice_row(i) for i in invoices if i.type == RECEIVABLE_TYPE]
        if not rows:
            return 0
        if held:
            _release_overtaken_local_dates(session, connection_id, rows, held)
        return repositories.upsert_invoices(session, connection_id, rows, now=self.ctx.clock())


# Small queries the sync needs (kept here: they exist only for the sync's bookkeeping) -----


def _email_key(email: dict[str, Any]) -> tuple[str, str | None, str, bool]:
    return (email["email"].lower(), email.get("name"), email["source"], email["include_in_emails"])


def _existing_emails(
    session: Session, contact_ids: Iterable[int]
) -> dict[int, set[tuple[str, str | None, str, bool]]]:
    found: dict[int, set[tuple[str, str | None, str, bool]]] = {}
    ids = list(contact_ids)
    for start in range(0, len(ids), 500):
        statement = select(
            ContactEmail.contact_id,
            ContactEmail.email,
            ContactEmail.name,
            ContactEmail.source,
            ContactEmail.include_in_emails,
        ).where(ContactEmail.contact_id.in_(ids[start : start + 500]))
        for contact_id, email, name, source, include in session.execute(statement):
            found.setdefault(contact_id, set()).add(
                (email.lower(), name, str(source), bool(include))
            )
    return found


def _locally_held_dates(session: Session, connection_id: int) -> dict[str, datetime | None]:
    """Invoices whose expected date Xero refused: xero id -> UpdatedDateUTC when we held it."""
    statement = select(Invoice.xero_invoice_id, Invoice.updated_date_utc).where(
        Invoice.connection_id == connection_id,
        Invoice.expected_payment_date_source == ExpectedDateSource.LOCAL,
    )
    return {xero_id: stamp for xero_id, stamp in session.execute(statement)}


def _release_overtaken_local_dates(
    session: Session,
    connection_id: int,
    rows: list[dict[str, Any]],
    held: dict[str, datetime | None],
) -> None:
    """A locally held date yields once Xero itself has an expected date on a changed invoice.

    "Changed" (a newer UpdatedDateUTC than when we last stored it) is what tells a date a
    person later set in Xero apart from the old date Xero refused to let us clear.
    """
    released = [
        row["xero_invoice_id"]
        for row in rows
        if row["expected_payment_date"] is not None
        and row["xero_invoice_id"] in held
        and row["updated_date_utc"] is not None
        and (
            held[row["xero_invoice_id"]] is None
            or row["updated_date_utc"] > held[row["xero_invoice_id"]]
        )
    ]
    if not released:
        return
    session.execute(
        update(Invoice)
        .where(Invoice.connection_id == connection_id, Invoice.xero_invoice_id.in_(released))
        .values(
            expected_payment_date_source=ExpectedDateSource.XERO, expected_payment_date_reason=None
        )
        .execution_options(synchronize_session=False)
    )
    for xero_id in released:
        held.pop(xero_id, None)


def sync_all(
    ctx: AppContext,
    *,
    full: bool = False,
    progress: ProgressCallback | None = None,
    connection_ids: Iterable[int] | None = None,
    client_factory: ClientFactory = open_client,
) -> list[SyncReport]:
    """Sync every connected organisation (or the given ones); one failing never stops the rest."""
    with session_scope(ctx.session_factory) as session:
        if connection_ids is None:
            targets = [
                c.id
                for c in repositories.list_connections(
                    session, statuses=[ConnectionStatus.CONNECTED]
                )
            ]
        else:
            targets = list(connection_ids)
    service = SyncService(ctx, client_factory=client_factory)
    reports = []
    for connection_id in targets:
        try:
            reports.append(service.sync(connection_id, full=full, progress=progress))
        except Exception as exc:  # one organisation's bug or outage must not stop the others
            log.exception("sync of connection %s crashed", connection_id)
            report = SyncReport(connection_id=connection_id, outcome="failed", reason=str(exc))
            try:
                service._fail(report, CONTACTS, f"unexpected error: {exc}", False)
            except Exception:
                log.exception("could not record the failure of connection %s", connection_id)
            reports.append(report)
    return reports
