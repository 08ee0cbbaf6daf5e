"""Global middleware: each Slack request runs once across retries and instances; workspace lookup.

Slack retries events (X-Slack-Retry-Num) and Socket Mode redelivers envelopes to any open
connection, possibly another instance's (slack-platform.md §5, §10). A row in once_keys keyed
by the payload's own id (trigger_id for commands and interactions, event_id for events) decides
which delivery runs; every other one is acknowledged and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltResponse
from sqlalchemy.exc import IntegrityError

from storage import repositories
from storage.db import session_scope
from storage.once import claim_once

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.deps import AppDeps

log = logging.getLogger(__name__)

REQUEST_SCOPE = "slack_request"


def request_key(body: dict[str, Any]) -> str | None:
    """The id Slack gives this delivery's payload, the same on every retry; None if it has none."""
    if body.get("type") == "event_callback":
        return f"event:{body['event_id']}" if body.get("event_id") else None
    trigger = body.get("trigger_id")
    if trigger:
        return f"trigger:{trigger}"
    return None


class WorkspaceIds:
    """Slack team id → our workspace row id, created on first sight and then cached (ids never
    change, so the cache needs no expiry)."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, team_id: str) -> int:
        found = self._ids.get(team_id)
        if found is not None:
            return found
        for _attempt in range(2):  # another instance may create the same row at once
            try:
                with session_scope(self._deps.session_factory) as session:
                    workspace = repositories.get_or_create_workspace(
                        session, team_id, now=self._deps.clock())
                    found = workspace.id
                break
            except IntegrityError:
                continue
        if found is None:
            raise RuntimeError(f"could not create the workspace row for team {team_id}")
        with self._lock:
            self._ids[team_id] = found
        return found


def team_of(body: dict[str, Any], context: Any) -> str | None:
    """The workspace a request comes from (enterprise-wide installs fall back to the org id)."""
    team = context.get("team_id") or body.get("team_id")
    if not team and isinstance(body.get("team"), dict):
        team = body["team"].get("id")
    if not team and isinstance(body.get("user"), dict):
        team = body["user"].get("team_id")
    return team or context.get("enterprise_id")


def register(app: App, deps: AppDeps) -> None:
    """Install the global middleware, in order: run-once, then the workspace id."""
    workspace_ids = WorkspaceIds(deps)

    # SQLite lets one writer in at a time and makes the others sleep and retry (its busy
    # handler backs off in steps of up to 100 ms); queueing this process's claims on a lock
    # instead keeps a burst of commands from paying those sleeps. PostgreSQL needs no lock.
    sqlite = deps.session_factory.kw["bind"].dialect.name == "sqlite"
    claim_lock = threading.Lock() if sqlite else contextlib.nullcontext()

    def run_once(body: dict[str, Any], next: Callable[[], Any]) -> Any:
        key = request_key(body)
        if key is not None:
            with claim_lock, session_scope(deps.session_factory) as session:
                first = claim_once(session, REQUEST_SCOPE, key, now=deps.clock())
            if not first:
                log.info("Slack delivered %s again; it already ran, so this one is dropped", key)
                return BoltResponse(status=200, body="")
        return next()

    def workspace(body: dict[str, Any], context: Any, next: Callable[[], Any]) -> Any:
        team = team_of(body, context)
        if team:
            context["workspace_id"] = workspace_ids(team)
        return next()

    app.use(run_once)
    app.use(workspace)
