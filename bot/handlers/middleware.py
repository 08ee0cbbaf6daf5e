"""Global middleware: each Slack request runs once across retries and instances; workspace lookup.

Slack retries events (X-Slack-Retry-Num) and Socket Mode redelivers envelopes to any open
connection, possibly another instance's (slack-platform.md §5, §10). A row in once_keys keyed
by the payload's own id (trigger_id for commands and interactions, event_id for events) decides
which delivery runs; every other one is acknowledged and dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltRequest, BoltResponse
from sqlalchemy.exc import IntegrityError

from bot import messages
from storage import repositories
from storage.db import session_scope
from storage.once import claim_many

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.deps import AppDeps

log = logging.getLogger(__name__)

REQUEST_SCOPE = "slack_request"
CLAIM_BATCH = 200  # keys per insert, well under SQLite's bound-parameter limit
# How long a key nobody waits on before an ack (a slash command's first delivery) waits for
# others to share its insert. A burst of commands arrives over tens of milliseconds: one
# transaction per key cost more CPU than the acks themselves and competed with them.
GATHER_SECONDS = 0.025


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


_STOP: Any = ("", None, True)


class DuplicateDelivery(Exception):
    """Raised by `ack()` in a listener whose request another delivery already ran."""


class OnceAck:
    """Bolt's Ack, which then waits for the run-once decision and stops a duplicate.

    Bolt polls `ack.response` for the HTTP answer, so that is passed through unchanged."""

    def __init__(self, ack: Ack, decided: Future[bool], key: str) -> None:
        self._ack = ack
        self._decided = decided
        self._key = key

    @property
    def response(self) -> BoltResponse | None:
        return self._ack.response

    def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        answer = self._ack(*args, **kwargs)
        if not self._decided.result():
            log.info("Slack delivered %s again; it already ran, so it stops here", self._key)
            raise DuplicateDelivery(self._key)
        return answer


class ClaimBatcher:
    """Claims request keys in batches: one writer thread inserts every key waiting, in one
    statement and one transaction, and tells each waiting request whether it won.

    A burst of 50 commands then costs a few transactions instead of 50 queued writes (SQLite
    lets one writer in at a time and makes the others sleep and retry), and the acknowledgement
    still waits for the database to decide, so a retry racing its original is never run. A key
    whose request waits for it before its ack (`urgent`) is written with whatever is queued at
    once; otherwise the writer gathers keys for up to GATHER_SECONDS first."""

    def __init__(self, deps: AppDeps) -> None:
        self._deps = deps
        self._queue: queue.SimpleQueue[tuple[str, Future[bool], bool]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="slack-claims", daemon=True)
        self._thread.start()

    def submit(self, key: str, *, urgent: bool = True) -> Future[bool]:
        """The decision to come: True when this delivery is the first with `key`. `urgent`:
        a request waits for it before its ack, so it is written without gathering."""
        decided: Future[bool] = Future()
        self._queue.put((key, decided, urgent))
        return decided

    def close(self) -> None:
        """Stop the writer thread once the keys already waiting are written."""
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _write(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = self._gather(first)
            try:
                with session_scope(self._deps.session_factory) as session:
                    won = claim_many(session, REQUEST_SCOPE, [key for key, _, _ in batch],
                                     now=self._deps.clock())
            except Exception as exc:  # each waiting request fails through the error funnel
                for _, decided, _ in batch:
                    decided.set_exception(exc)
                continue
            for key, decided, _ in batch:
                decided.set_result(key in won)
                won.discard(key)  # the same key twice in one batch: only the first wins


    def _gather(self, first: tuple[str, Future[bool], bool]) -> list[Any]:
        """`first` and the keys that join it: those queued, and while no key in the batch is
        urgent, those arriving within GATHER_SECONDS."""
        batch = [first]
        urgent = first[2]
        deadline = time.monotonic() + GATHER_SECONDS
        while len(batch) < CLAIM_BATCH:
            wait = 0.0 if urgent else deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # after this batch
                break
            batch.append(item)
            urgent = urgent or item[2]
        return batch


def team_of(body: dict[str, Any], context: Any) -> str | None:
    """The workspace a request comes from (org-wide installs, which have none, are refused
    before this is asked: refuse_org_wide)."""
    team = context.get("team_id") or body.get("team_id")
    if not team and isinstance(body.get("team"), dict):
        team = body["team"].get("id")
    if not team and isinstance(body.get("user"), dict):
        team = body["user"].get("team_id")
    return team


def refuse_org_wide(body: dict[str, Any], context: Any, next: Callable[[], Any]) -> Any:
    """Refuse a request from an org-wide (Enterprise Grid) install in one clear line.

    The manifest has `org_deploy_enabled: false` and installs are saved per workspace, so such
    a request (`team: null`, `is_enterprise_install: true`, docs.slack.dev/reference/
    interaction-payloads/block_actions-payload) has no workspace chaser-bot chases for."""
    if not context.get("is_enterprise_install"):
        return next()
    log.info("A request from an org-wide install of enterprise %s was refused: chaser-bot "
             "is installed per workspace", context.get("enterprise_id"))
    if body.get("command"):  # a slash command's body is shown to the person, ephemeral
        return BoltResponse(status=200, body={"response_type": "ephemeral",
                                              "text": messages.SLACK_ORG_WIDE_REFUSED})
    if body.get("response_url") and context.get("respond"):
        context.respond(text=messages.SLACK_ORG_WIDE_REFUSED, response_type="ephemeral",
                        replace_original=False)
    return BoltResponse(status=200, body="")  # ack: a non-2xx is retried or shown as failed


def register(app: App, deps: AppDeps) -> None:
    """Install the global middleware, in order: org-wide refusal, run-once, then the workspace
    id."""
    workspace_ids = WorkspaceIds(deps)

    claims = ClaimBatcher(deps)
    app.request_claims = claims  # type: ignore[attr-defined] # closed by ChaserApp.close

    def run_once(body: dict[str, Any], request: BoltRequest, context: Any,
                 next: Callable[[], Any]) -> Any:
        key = request_key(body)
        if key is None:
            return next()
        retry = (request.headers.get("x-slack-retry-num") or ["0"])[0]
        first_command = bool(body.get("command")) and retry in ("", "0")
        decided = claims.submit(key, urgent=not first_command)
        if not first_command:
            # Events, interactions and redeliveries decide before their listener runs (another
            # module's listener may call ack() while holding a database lock, so it must not
            # wait on the claim there).
            if not decided.result():
                log.info("Slack delivered %s again; it already ran, so it is dropped", key)
                return BoltResponse(status=200, body="")
            return next()
        # A slash command's first delivery is acknowledged at once; /chaser's listener waits
        # for the decision after the ack, before any work (the claim never slows the ack).
        context["ack"] = OnceAck(context.ack, decided, key)
        return next()

    def workspace(body: dict[str, Any], context: Any, next: Callable[[], Any]) -> Any:
        team = team_of(body, context)
        if team:
            context["workspace_id"] = workspace_ids(team)
        return next()

    app.use(refuse_org_wide)
    app.use(run_once)
    app.use(workspace)
