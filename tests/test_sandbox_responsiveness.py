"""A slow scan of a big book runs off the event loop: other sandbox calls answer meanwhile."""

from __future__ import annotations

import threading
import time
from datetime import date

from bot.sandbox.ledger import build_ledger
from tests.fixtures.sandbox import api, obtain_tokens, tenant_ids, web


def test_stats_answer_promptly_while_a_sorted_scan_of_a_hundred_thousand_invoices_runs(
    make_sandbox,
):
    sandbox = make_sandbox(ledger=build_ledger(seed=3, orgs=1, invoices=100_000,
                                               today=date(2026, 7, 20)))
    tokens, tenant = obtain_tokens(sandbox), tenant_ids(sandbox)[0]
    finished: dict[str, float] = {}

    def scan() -> None:
        response = api(sandbox, tokens, "Invoices", tenant_id=tenant,
                       params={"order": "Total DESC", "where": "AmountDue >= 0", "page": 1})
        assert response.status_code == 200
        finished["scan"] = time.perf_counter()

    worker = threading.Thread(target=scan)
    worker.start()
    # Wait until the scan is inside the handler (the gateway counts it before running it).
    deadline = time.monotonic() + 10
    while web.get(f"{sandbox.url}/_sandbox/stats").json()["calls_total"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    asked = time.perf_counter()
    assert web.get(f"{sandbox.url}/_sandbox/stats").status_code == 200
    answered = time.perf_counter()
    worker.join(timeout=120)
    assert "scan" in finished, "the scan never finished"
    # The stats call finished before the multi-second scan did, and quickly.
    assert answered < finished["scan"]
    assert answered - asked < 0.5, answered - asked
