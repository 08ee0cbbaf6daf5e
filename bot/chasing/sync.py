"""Pull contacts and ACCREC invoices from Xero into the local store, incrementally and safely."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot import messages
from bot.chasing.connection_guard import ConnectionGuard, unavailable
from bot.chasing.mapping import (
    contact_email_key,
    contact_emails,
    contact_row,
    invoice_row,
    overtaken_local_dates,
)
from bot.chasing.ports import Clock, Notifier, XeroApi, XeroGateway
from bot.chasing.receivables import RECEIVABLE_TYPE
from bot.chasing.sync_report import (  # noqa: F401  (Outcome re-exported)
    CONTACTS,
    ENTITIES,
    INVOICES,
    Outcome,
    ProgressCallback,
    SyncProgress,
    SyncReport,
)
from bot.chasing.timezones import org_zone
from bot.errors import UserFacingError
from bot.messages import TERMINAL
from storage import repositories
from storage.db import session_scope
from storage.models import ConnectionStatus, EmailRole, XeroConnection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# Xero does not stamp every change (due-date edits on part-paid invoices keep their
# UpdatedDateUTC), so an incremental-only sync drifts; a full pass this often catches it.
RECONCILE_EVERY = timedelta(days=7)
# A second this far behind the start of the pass that saw it can gain no new stamps.
SETTLED_AFTER = timedelta(minutes=5)
# Pages fetched before they are stored in one transaction: a commit per page cost more CPU
# (SQLite rewrites the same hot index pages on every commit) than holding a few in memory.
# The write happens between two requests, so no lock is ever held across a call to Xero.
PAGES_PER_COMMIT = 5
ORGANISATION = "organisation"


class SyncService:
    """Syncs one organisation at a time; the only code that reads from Xero."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        xero: XeroGateway,
        *,
        clock: Clock,
        notifier: Notifier,
        reconcile_every: timedelta = RECONCILE_EVERY,
        page_size: int = 1000,
        pages_per_commit: int = PAGES_PER_COMMIT,
    ) -> None:
        self._factory = session_factory
        self._xero = xero
        self._clock = clock
        self._notifier = notifier
        self._reconcile_every = reconcile_every
        self._page_size = page_size  # Xero's maximum; smaller only to exercise paging
        self._pages_per_commit = max(1, pages_per_commit)

    # The orchestration ------------------------------------------------------------------

    def sync(
        self, connection_id: int, *, full: bool = False, progress: ProgressCallback | None = None
    ) -> SyncReport:
        """Sync contacts then invoices; full=True (or a due reconcile) re-reads everything.

        Each entity's high-water mark (the largest UpdatedDateUTC stored) only moves after
        a complete pass, so an interrupted run resumes from the old mark and misses nothing;
        pages stored before the interruption are simply upserted again. Every failure ends as
        one UserFacingError, decided by the connection's guard, recorded against the entity
        it interrupted.
        """
        started = time.perf_counter()
        report = SyncReport(connection_id=connection_id)
        with session_scope(self._factory) as session:
            connection = repositories.get_connection(session, connection_id)
            report.tenant_name = connection.tenant_name if connection else None
            if connection is None or connection.status != ConnectionStatus.CONNECTED:
                return self._skipped(report, unavailable(connection), started)
            needs_organisation = not connection.timezone
            marks = {
                entity: self._plan(session, connection_id, entity, full) for entity in ENTITIES
            }
        report.full = any(entity_full for entity_full, _ in marks.values())

        guard = ConnectionGuard(connection_id, session_factory=self._factory,
                                clock=self._clock, notifier=self._notifier)
        entity = ORGANISATION
        try:
            with guard, self._xero.connection(connection_id) as client:
                try:
                    if needs_organisation or report.full:
                        self._sync_organisation(client, report)
                    for entity in ENTITIES:
                        entity_full, since = marks[entity]
                        self._pass(client, report, entity, entity_full, since, progress)
                finally:
                    report.api_calls = int(client.api_calls)
                    report.throttled = int(client.throttled)
        except UserFacingError as exc:
            self._fail(report, entity, exc)
        finally:
            report.seconds = time.perf_counter() - started
        return report

    def sync_all(
        self,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        connection_ids: Iterable[int] | None = None,
    ) -> list[SyncReport]:
        """Sync every connected organisation (or the given ones); one failing never stops the
        rest. Organisations disconnected on purpose are left out unless asked for by id."""
        with session_scope(self._factory) as session:
            if connection_ids is None:
                targets = [
                    c.id
                    for c in repositories.list_connections(
                        session, statuses=[ConnectionStatus.CONNECTED]
                    )
                ]
            else:
                targets = list(connection_ids)
        reports = []
        for connection_id in targets:
            try:
                reports.append(self.sync(connection_id, full=full, progress=progress))
            except Exception as exc:  # one organisation's bug must not stop the others
                reference = f"{connection_id}-{int(time.time())}"
                log.exception("sync of connection %s crashed (ref %s)", connection_id, reference)
                report = SyncReport(connection_id=connection_id)
                error = UserFacingError(messages.unexpected_error(reference), detail=repr(exc))
                try:
                    with session_scope(self._factory) as session:
                        connection = repositories.get_connection(session, connection_id)
                        report.tenant_name = connection.tenant_name if connection else None
                    self._fail(report, ORGANISATION, error)
                except Exception:
                    log.exception("could not record the failure of connection %s", connection_id)
                    report.outcome, report.reason, report.error = "failed", error.record, error
                reports.append(report)
        return reports

    def _plan(
        self, session: Session, connection_id: int, entity: str, full: bool
    ) -> tuple[bool, datetime | None]:
        """(full pass?, If-Modified-Since) for one entity."""
        state = repositories.get_sync_state(session, connection_id, entity)
        if state is None or state.high_water_mark is None:
            return True, None
        last_full = state.last_full_sync_at
        due = last_full is None or self._clock() - last_full >= self._reconcile_every
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

    def _skipped(self, report: SyncReport, error: UserFacingError,
                 started: float) -> SyncReport:
        report.outcome, report.reason, report.code = "skipped", error.record, error.code
        report.error = error
        report.seconds = time.perf_counter() - started
        return report

    def _fail(self, report: SyncReport, entity: str, error: UserFacingError) -> None:
        """Record the failure against the entity it interrupted; no pass stays in progress."""
        report.outcome, report.reason, report.code = "failed", error.record, error.code
        report.retry_later, report.error = error.retry_later, error
        # One line for the log: the operator's words and the detail (never a response body).
        log.warning("sync of %s failed at %s: %s%s", report.tenant_name or report.connection_id,
                    entity, error.text(TERMINAL),
                    f" [{error.detail}]" if error.detail else "")
        with session_scope(self._factory) as session:
            # The organisation step precedes both passes: its failure stops both.
            for state_entity in ENTITIES if entity == ORGANISATION else (entity,):
                repositories.save_sync_state(
                    session, report.connection_id, state_entity,
                    last_error=error.record, in_progress_since=None,
                )

    # Organisation -----------------------------------------------------------------------

    def _sync_organisation(self, client: XeroApi, report: SyncReport) -> None:
        """Timezone, currency, short code and lock dates: read on full passes only."""
        organisation = client.organisation()
        org_zone(organisation.timezone)  # an unknown Timezone is logged once, by value
        with session_scope(self._factory) as session:
            connection = session.get(XeroConnection, report.connection_id)
            if connection is None:
                return
            connection.tenant_name = organisation.name or connection.tenant_name
            report.tenant_name = connection.tenant_name
            connection.timezone = organisation.timezone
            connection.base_currency = organisation.base_currency
            connection.short_code = organisation.short_code
            connection.country_code = organisation.country_code
            connection.period_lock_date = organisation.period_lock_date
            connection.end_of_year_lock_date = organisation.end_of_year_lock_date
            connection.updated_at = self._clock()

    # One entity -------------------------------------------------------------------------

    def _pages(self, client: XeroApi, entity: str, since: datetime | None) -> Iterator[Any]:
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
        client: XeroApi,
        report: SyncReport,
        entity: str,
        full: bool,
        since: datetime | None,
        progress: ProgressCallback | None,
    ) -> None:
        connection_id = report.connection_id
        started_at = self._clock()
        with session_scope(self._factory) as session:
            previous = repositories.get_sync_state(session, connection_id, entity)
            request_since = self._request_since(
                since, previous.last_sync_at if previous is not None else None
            )
            repositories.save_sync_state(
                session, connection_id, entity, in_progress_since=started_at
            )
            held = (
                repositories.locally_held_expected_dates(session, connection_id)
                if entity == INVOICES
                else {}
            )

        newest = since
        done = 0
        buffered: list[tuple[int, Any]] = []  # (page number, page) fetched, not yet stored
        for number, page in enumerate(
            self._pages(client, entity, None if full else request_since), 1
        ):
            for item in _items(entity, page):
                stamp = item.updated_date_utc
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            buffered.append((number, page))
            # Stored between two requests, never during one. Pages still buffered when a
            # request fails are dropped: the mark has not moved, so the next sync rereads them.
            if len(buffered) >= self._pages_per_commit:
                done = self._store_pages(report, entity, buffered, held, done, progress)
        if buffered:
            done = self._store_pages(report, entity, buffered, held, done, progress)
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
        with session_scope(self._factory) as session:
            repositories.save_sync_state(session, connection_id, entity, **fields)

    def _store_pages(
        self,
        report: SyncReport,
        entity: str,
        buffered: list[tuple[int, Any]],
        held: dict[str, datetime | None],
        done: int,
        progress: ProgressCallback | None,
    ) -> int:
        """Store buffered pages in one transaction, then report each; returns rows done."""
        items = [item for _, page in buffered for item in _items(entity, page)]
        with session_scope(self._factory) as session:
            if entity == CONTACTS:
                self._store_contacts(session, report.connection_id, items)
            else:
                self._store_invoices(session, report.connection_id, items, held)
        for number, page in buffered:
            done += _stored_count(entity, page)
            pagination = page.pagination
            if progress is not None:
                progress(
                    SyncProgress(
                        connection_id=report.connection_id,
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
        buffered.clear()
        return done

    def store_records(
        self, connection_id: int, *, contacts: list[Any], invoices: list[Any]
    ) -> None:
        """Store contacts and invoices fetched outside a pass (a webhook's targeted fetch).

        The same upserts as a pass, in one transaction; the high-water marks do not move, so
        the next incremental sync still reads everything changed since its own last pass.
        """
        with session_scope(self._factory) as session:
            held = (
                repositories.locally_held_expected_dates(session, connection_id)
                if invoices
                else {}
            )
            self._store_contacts(session, connection_id, contacts)
            self._store_invoices(session, connection_id, invoices, held)

    def _store_contacts(self, session: Session, connection_id: int, contacts: list[Any]) -> None:
        if not contacts:
            return
        # A contact changed while Xero was paging can come back on a later page of the same
        # batch: keep only its latest copy, so its new addresses are inserted once.
        contacts = list({contact.contact_id: contact for contact in contacts}.values())
        now = self._clock()
        repositories.upsert_contacts(
            session, connection_id, [contact_row(c) for c in contacts], now=now
        )
        ids = repositories.contact_ids_by_xero_id(
            session, connection_id, (c.contact_id for c in contacts)
        )
        existing = repositories.contact_email_keys(session, ids.values())
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
            elif had != {contact_email_key(e) for e in wanted}:
                repositories.replace_contact_emails(session, contact_id, wanted)
        repositories.add_contact_emails(session, fresh)

    def _store_invoices(
        self,
        session: Session,
        connection_id: int,
        invoices: list[Any],
        held: dict[str, datetime | None],
    ) -> None:
        rows = [invoice_row(i) for i in invoices if i.type == RECEIVABLE_TYPE]
        if not rows:
            return
        if held:
            released = overtaken_local_dates(rows, held)
            if released:
                repositories.release_local_expected_dates(session, connection_id, released)
        # Rows of one invoice seen twice (changed while Xero was paging) are written in
        # page order, so its latest copy wins.
        repositories.upsert_invoices(session, connection_id, rows, now=self._clock())


def _items(entity: str, page: Any) -> list[Any]:
    return page.contacts if entity == CONTACTS else page.invoices


def _stored_count(entity: str, page: Any) -> int:
    if entity == CONTACTS:
        return len(page.contacts)
    return sum(1 for invoice in page.invoices if invoice.type == RECEIVABLE_TYPE)
