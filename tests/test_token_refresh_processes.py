"""Two OS processes refreshing the same connection at once: one refresh, no invalid_grant."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.server import SandboxServer
from storage.models import ConnectionStatus
from tests.connect_helpers import (
    age_tokens,
    connect,
    connections,
    guarded,
    make_context,
    sandbox_stats,
    stored_tokens,
)

WORKERS = 2


def refresh_in_child(sandbox_url: str, client_id: str, client_secret: str, database_url: str,
                     data_dir: str, connection_id: int, start: Any, answers: Any) -> None:
    """Child process: wait for the others, then make one API call that needs a refresh."""
    from bot.config import Settings
    from bot.deps import build_context

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=database_url, CHASER_DATA_DIR=Path(data_dir),
        CHASER_SECRET_KEY="test-secret-key-for-connect-tests-0123456789",
        XERO_CLIENT_ID=client_id, XERO_CLIENT_SECRET=client_secret, XERO_BASE_URL=sandbox_url,
    )
    ctx = build_context(settings)
    start.wait(timeout=30)
    try:
        answers.put(("ok", guarded(ctx, connection_id)))
    except Exception as exc:  # reported to the parent, which fails the test with it
        answers.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("same_connection", [True, False], ids=["same-org", "sibling-orgs"])
def test_concurrent_refreshes_from_two_processes_refresh_once_and_keep_the_connection(
    sandbox: SandboxServer, migrated_db: str, tmp_path: Path, same_connection: bool
) -> None:
    ctx = make_context(sandbox, migrated_db, tmp_path)
    connect(ctx)
    first, second = connections(ctx)
    targets = [first.id, first.id] if same_connection else [first.id, second.id]
    before = stored_tokens(ctx, first.id)
    age_tokens(ctx, datetime.now(UTC) + timedelta(seconds=30))  # due for refresh everywhere

    spawn = multiprocessing.get_context("spawn")
    start, answers = spawn.Barrier(WORKERS), spawn.Queue()
    workers = [
        spawn.Process(target=refresh_in_child, args=(
            sandbox.url, sandbox.config.client_id, sandbox.config.client_secret, migrated_db,
            str(tmp_path), connection_id, start, answers))
        for connection_id in targets
    ]
    for worker in workers:
        worker.start()
    results = [answers.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert all(status == "ok" for status, _ in results), results
    stats = sandbox_stats(sandbox)
    assert (stats["refreshes"], stats["refresh_failures"]) == (1, 0)
    rows = {row.id: row for row in connections(ctx)}
    assert rows[first.id].token_version == first.token_version + 1
    assert all(row.status == ConnectionStatus.CONNECTED for row in rows.values())
    assert stored_tokens(ctx, first.id).refresh_token != before.refresh_token
    # The connection survives: the next call in this process works without refreshing again.
    for connection_id in (first.id, second.id):
        name = guarded(ctx, connection_id)
        assert name == rows[connection_id].tenant_name
    assert sandbox_stats(sandbox)["refreshes"] == 1
