"""Which invoices a GET /Invoices query selects, in order: a scan meant for a worker thread."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from .filters import compile_order, compile_where, invoice_schema, order_key, parse_csv
from .ledger import Ledger
from .params import flag, guid_list, statuses
from .records import Invoice

# Query parameters that select invoices; includeArchived last (alone it changes nothing here).
SELECTION_PARAMS = (
    "where",
    "order",
    "IDs",
    "InvoiceNumbers",
    "ContactIDs",
    "Statuses",
    "searchTerm",
    "createdByMyApp",
    "includeArchived",
)


class InvoiceSelector:
    """Selects invoice indices for a query; keeps a few recent selections so paging through 100k
    invoices costs one scan. Safe to call from several threads at once."""

    def __init__(self, ledger: Ledger, cached: int = 8) -> None:
        self.ledger, self._cached = ledger, cached
        self._selections: OrderedDict[tuple, Sequence[int]] = OrderedDict()
        self._lock = threading.Lock()

    def select(
        self, tenant: str, query: Mapping[str, str], since: datetime | None
    ) -> Sequence[int]:
        """Indices of matching invoices in response order; QueryError for a bad query."""
        filters = tuple(query.get(k, "") for k in SELECTION_PARAMS)
        if since is None and not any(filters[:-1]):
            flag(query, "includeArchived")  # still refuse a non-boolean
            # Unfiltered: every invoice in creation order (none is ARCHIVED), no scan needed.
            return range(self.ledger.invoice_count(tenant))
        # Read the version before scanning: a change during the scan makes this key stale.
        key = (tenant, self.ledger.version, since, *filters)
        with self._lock:
            if key in self._selections:
                self._selections.move_to_end(key)
                return self._selections[key]
        picked = self._scan(tenant, query, since)
        with self._lock:
            self._selections[key] = picked
            while len(self._selections) > self._cached:
                self._selections.popitem(last=False)
        return picked

    def _source(self, tenant: str, ids: list[str], since: datetime | None) -> Iterable[Invoice]:
        if not ids:
            return self.ledger.iter_invoices(tenant, since)
        # Explicit IDs need no scan.
        floor = since.replace(microsecond=0) if since else None
        found = (self.ledger.invoice(tenant, i) for i in ids)
        unique = {
            inv.index: inv
            for inv in found
            if inv is not None and (floor is None or inv.updated.replace(microsecond=0) >= floor)
        }
        return [unique[index] for index in sorted(unique)]

    def _scan(self, tenant: str, q: Mapping[str, str], since: datetime | None) -> list[int]:
        ledger = self.ledger
        schema = invoice_schema(ledger.contact_of)
        where, order = q.get("where"), q.get("order")
        pred = compile_where(where, schema) if where else None
        keys = compile_order(order, schema) if order else []
        ids = guid_list(q, "IDs")
        numbers = set(parse_csv(q.get("InvoiceNumbers")))
        contact_ids = set(guid_list(q, "ContactIDs"))
        wanted = statuses(q)
        archived = flag(q, "includeArchived")
        mine = flag(q, "createdByMyApp")  # nothing here was created through the API
        term = q.get("searchTerm", "").strip().lower()
        picked: list[int] = []
        # Sort keys are computed once per matching invoice and kept in columns, so the sort
        # orders plain indices and no Invoice is held beyond the scan.
        columns: list[list] = [[] for _ in keys]
        key_fns = [order_key(get) for get, _ in keys]
        for inv in self._source(tenant, ids, since):
            if (
                mine
                or (numbers and inv.number not in numbers)
                or (wanted and inv.status not in wanted)
                or (not archived and inv.status == "ARCHIVED")
                or (contact_ids and ledger.contact_of(inv).contact_id not in contact_ids)
                or (
                    term
                    and not any(
                        term in v.lower()
                        for v in (inv.number, inv.reference, ledger.contact_of(inv).name)
                    )
                )
                or (pred is not None and not pred(inv))
            ):
                continue
            picked.append(inv.index)
            for column, fn in zip(columns, key_fns, strict=True):
                column.append(fn(inv))
        if not keys:
            return picked
        positions = list(range(len(picked)))
        # Stable multi-key sort: least significant key first (reverse=True keeps ties stable).
        for column, (_, descending) in reversed(list(zip(columns, keys, strict=True))):
            positions.sort(key=column.__getitem__, reverse=descending)
        return [picked[n] for n in positions]
