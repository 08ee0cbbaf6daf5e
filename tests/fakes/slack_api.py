"""A fake Slack: a real local HTTP (and WebSocket) server speaking Slack's Web API and Socket Mode.

Point a WebClient at `fake.api_url` (SLACK_API_URL). Every call is recorded (`fake.calls`);
what real Slack rejects is rejected the same way: bad or missing tokens, missing arguments,
unknown channels and users, more than 50 blocks or texts past their limits (slack_limits.py),
used trigger ids, and `ratelimited` with Retry-After when a test asks (`fake.rate_limit`).
It also serves response_url hooks (`fake.response_url()`), OAuth v2 code exchange
(`fake.install_code(...)`) and Socket Mode: `apps.connections.open` hands out a local ws:// URL,
the socket says hello, and `fake.send_envelope(...)` delivers payloads and waits for the ack.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes import slack_limits as limits
from tests.fakes.servers import BackgroundServer

APP_ID = "A0CHASER01"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret"
SIGNING_SECRET = "fake-signing-secret-0123456789ab"
DEFAULT_TEAM = "T0CHASER01"
BOT_TOKEN = "xoxb-fake-T0CHASER01-bot"
APP_TOKEN = "xapp-1-A0CHASER01-fake"

# Arguments each method requires (docs.slack.dev/reference/methods/<method>).
REQUIRED = {
    "chat.postMessage": ("channel",),
    "chat.update": ("channel", "ts"),
    "chat.postEphemeral": ("channel", "user"),
    "chat.delete": ("channel", "ts"),
    "chat.getPermalink": ("channel", "message_ts"),
    "views.open": ("trigger_id", "view"),
    "views.push": ("trigger_id", "view"),
    "views.update": ("view",),
    "views.publish": ("user_id", "view"),
    "conversations.open": (),
    "conversations.info": ("channel",),
    "users.info": ("user",),
    "users.list": (),
    "auth.test": (),
    "apps.connections.open": (),
    "oauth.v2.access": (),
}


@dataclass(frozen=True)
class Call:
    """One Web API call as the fake received it, and what it answered."""

    method: str
    args: dict[str, Any]
    token: str | None
    team_id: str | None
    ok: bool
    error: str | None
    at: float


@dataclass
class Workspace:
    team_id: str
    name: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Socket:
    websocket: WebSocket
    loop: asyncio.AbstractEventLoop
    number: int
    retiring: bool = False


class SlackApiError(Exception):
    def __init__(self, error: str, *, status: int = 200, headers: dict[str, str] | None = None,
                 messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error, self.status, self.messages = error, status, messages
        self.headers = headers or {}


class FakeSlack:
    """The fake Slack; start it with `with FakeSlack() as fake:` or `.start()`/`.stop()`."""

    def __init__(self, *, trigger_ttl: float = 30.0) -> None:
        # Real trigger ids expire after 3 s; the fake allows more so a loaded CI machine does
        # not fail tests by accident. Reuse is refused at once, as Slack does.
        self.trigger_ttl = trigger_ttl
        self._lock = threading.Condition()
        self._counter = itertools.count(1)
        self.calls: list[Call] = []
        self.workspaces: dict[str, Workspace] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.home_views: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.hook_posts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._triggers: dict[str, float] = {}
        self._trigger_views: dict[str, str] = {}  # trigger id -> the view it was issued in
        self._view_stacks: dict[str, list[str]] = {}  # view id -> its stack (shared list)
        self._used_triggers: set[str] = set()
        self._faults: dict[str, deque[SlackApiError]] = defaultdict(deque)
        self._install_codes: dict[str, dict[str, Any]] = {}
        self.app_tokens = {APP_TOKEN}
        self._sockets: list[_Socket] = []
        self.sockets_opened = 0
        self.acks: dict[str, dict[str, Any]] = {}
        # users.list may return fewer members than `limit` asks for (its docs say so): a small
        # page here makes a handful of users take several pages.
        self.users_page_size: int | None = None
        self.add_workspace(DEFAULT_TEAM, name="Chaser Test Co", bot_token=BOT_TOKEN)
        self._server = BackgroundServer(self._asgi(), name="fake-slack", graceful_seconds=1)
        self.url = self._server.url
        self.api_url = f"{self.url}/api/"

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._server.start()
        return self

    def stop(self) -> None:
        for sock in list(self._sockets):
            self._run_on(sock, sock.websocket.close())
        self._server.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Setting the scene -------------------------------------------------------------------

    def add_workspace(self, team_id: str, *, name: str | None = None,
                      bot_token: str | None = None) -> Workspace:
        """A workspace with its own bot token, bot user and a #general channel."""
        n = len(self.workspaces) + 1
        workspace = Workspace(
            team_id=team_id, name=name or f"Workspace {team_id}",
            bot_token=bot_token or f"xoxb-fake-{team_id}-bot",
            bot_user_id=f"U0BOT{n:04d}", bot_id=f"B0BOT{n:04d}",
        )
        workspace.channels[f"C0GENERAL{n}"] = {"id": f"C0GENERAL{n}", "name": "general"}
        with self._lock:
            self.workspaces[team_id] = workspace
        return workspace

    def workspace(self, team_id: str = DEFAULT_TEAM) -> Workspace:
        return self.workspaces[team_id]

    def add_user(self, user_id: str, *, team_id: str = DEFAULT_TEAM, name: str | None = None,
                 email: str | None = None, is_admin: bool = False, is_owner: bool = False,
                 is_primary_owner: bool = False, is_bot: bool = False, deleted: bool = False,
                 tz: str = "Pacific/Auckland") -> dict[str, Any]:
        """A user object shaped like users.info's (docs.slack.dev/reference/objects/user-object)."""
        name = name or user_id.lower()
        user = {
            "id": user_id, "team_id": team_id, "name": name, "real_name": name.title(),
            "deleted": deleted, "is_admin": is_admin, "is_owner": is_owner or is_primary_owner,
            "is_primary_owner": is_primary_owner, "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot, "is_app_user": False, "tz": tz,
            "profile": {"display_name": name, "real_name": name.title(),
                        **({"email": email} if email else {})},
        }
        with self._lock:
            self.workspaces[team_id].users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str, *, team_id: str = DEFAULT_TEAM) -> None:
        with self._lock:
            self.workspaces[team_id].channels[channel_id] = {"id": channel_id, "name": name}

    def new_trigger_id(self, view_id: str | None = None) -> str:
        """A trigger id as Slack puts in an interaction payload: usable once, shortly.
        `view_id`: the interaction came from that modal (views.push needs one)."""
        trigger = f"{next(self._counter)}.{int(time.time())}.{uuid.uuid4().hex}"
        with self._lock:
            self._triggers[trigger] = time.monotonic()
            if view_id:
                self._trigger_views[trigger] = view_id
        return trigger

    def response_url(self) -> str:
        """A response_url for one payload; what the app posts there is in `hook_posts`."""
        return f"{self.url}/hooks/{uuid.uuid4().hex}"

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls to `method` with HTTP 429 and Retry-After."""
        with self._lock:
            for _ in range(times):
                self._faults[method].append(SlackApiError(
                    "ratelimited", status=429, headers={"Retry-After": str(retry_after)}))

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next `times` calls to `method` with {"ok": false, "error": error}."""
        with self._lock:
            for _ in range(times):
                self._faults[method].append(SlackApiError(error))

    def install_code(self, team_id: str, *, installer: str = "U0INSTALLER",
                     name: str | None = None) -> str:
        """An OAuth code as Slack's consent page would hand back for installing in `team_id`."""
        code = f"code-{uuid.uuid4().hex}"
        if team_id not in self.workspaces:
            self.add_workspace(team_id, name=name)
        with self._lock:
            self._install_codes[code] = {"team_id": team_id, "installer": installer}
        return code

    # Reading what happened ---------------------------------------------------------------

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def wait_for(self, predicate: Callable[[FakeSlack], Any], *, timeout: float = 10.0) -> Any:
        """Wait until `predicate(fake)` is truthy (the app works after its ack) and return it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the fake Slack did not see what the test waited for")
                self._lock.wait(remaining)

    def wait_for_calls(self, method: str, count: int = 1, *, timeout: float = 10.0,
                       ok: bool | None = True) -> list[Call]:
        return self.wait_for(
            lambda fake: (calls := fake.calls_to(method, ok=ok)) and len(calls) >= count and calls,
            timeout=timeout)

    def wait_for_hook(self, url: str, count: int = 1, *, timeout: float = 10.0
                      ) -> list[dict[str, Any]]:
        """What the app posted to a response_url, once there are `count` posts."""
        hook = url.rsplit("/", 1)[-1]
        return self.wait_for(
            lambda fake: len(fake.hook_posts[hook]) >= count and list(fake.hook_posts[hook]),
            timeout=timeout)

    def hook(self, url: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.hook_posts[url.rsplit("/", 1)[-1]])

    # Socket Mode -------------------------------------------------------------------------

    @property
    def open_sockets(self) -> int:
        with self._lock:
            return sum(1 for s in self._sockets if not s.retiring)

    def wait_for_sockets(self, opened: int, *, timeout: float = 10.0) -> None:
        """Wait until `opened` sockets have said hello in total and one is live."""
        self.wait_for(lambda fake: fake.sockets_opened >= opened and fake.open_sockets >= 1,
                      timeout=timeout)

    def send_envelope(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0,
                      retry_reason: str = "", envelope_id: str | None = None) -> str:
        """Deliver one envelope to the newest live connection; returns its envelope_id."""
        envelope_id = envelope_id or uuid.uuid4().hex
        envelope = {
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind in ("slash_commands", "interactive"),
            "retry_attempt": retry_attempt, "retry_reason": retry_reason,
        }
        with self._lock:
            live = [s for s in self._sockets if not s.retiring]
        if not live:
            raise RuntimeError("no Socket Mode connection is open")
        self._run_on(live[-1], live[-1].websocket.send_text(json.dumps(envelope)))
        return envelope_id

    def wait_for_ack(self, envelope_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """The app's acknowledgement of an envelope (with its `payload`, if it sent one)."""
        return self.wait_for(lambda fake: fake.acks.get(envelope_id), timeout=timeout)

    def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Tell every connection to go away, as Slack does every few hours; the app must
        reconnect with a fresh apps.connections.open. Old sockets close once it has."""
        with self._lock:
            targets = [s for s in self._sockets if not s.retiring]
            for sock in targets:
                sock.retiring = True
        message = json.dumps({"type": "disconnect", "reason": reason,
                              "debug_info": {"host": "fake-slack"}})
        for sock in targets:
            self._run_on(sock, sock.websocket.send_text(message))

    def _run_on(self, sock: _Socket, coroutine: Any) -> None:
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, sock.loop)
        except RuntimeError:  # the server's loop is gone already
            coroutine.close()
            return
        with contextlib.suppress(Exception):  # the socket may be closed: that was the point
            future.result(timeout=5)

    # The server --------------------------------------------------------------------------

    def _asgi(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/{method}", self._api, methods=["GET", "POST"]),
            Route("/hooks/{hook}", self._hook, methods=["POST"]),
            WebSocketRoute("/socket", self._socket),
        ])

    async def _hook(self, request: Request) -> Response:
        hook = request.path_params["hook"]
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return Response("invalid_payload", status_code=400)
        problems = limits.block_problems(body["blocks"], limits.MESSAGE_BLOCKS) \
            if "blocks" in body else []
        if problems:
            return Response("invalid_blocks", status_code=400)
        with self._lock:
            self.hook_posts[hook].append(body)
            self._lock.notify_all()
        return Response("ok")

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args: dict[str, Any] = {}
        token = team_id = None
        try:
            args = await _arguments(request)
            token = _token(request, args)
            team_id = self._team_for(token)
            fault = self._next_fault(method)
            if fault is not None:
                raise fault
            result = self._dispatch(method, args, token, team_id)
        except SlackApiError as exc:
            self._record(method, args, token, team_id, ok=False, error=exc.error)
            body: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.messages:
                body["response_metadata"] = {"messages": exc.messages}
            return JSONResponse(body, status_code=exc.status, headers=exc.headers)
        self._record(method, args, token, team_id, ok=True, error=None)
        return JSONResponse({"ok": True, **result})

    def _next_fault(self, method: str) -> SlackApiError | None:
        with self._lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def _record(self, method: str, args: dict[str, Any], token: str | None,
                team_id: str | None, *, ok: bool, error: str | None) -> None:
        with self._lock:
            self.calls.append(Call(method, args, token, team_id, ok, error, time.time()))
            self._lock.notify_all()

    def _team_for(self, token: str | None) -> str | None:
        with self._lock:
            for workspace in self.workspaces.values():
                if workspace.bot_token == token:
                    return workspace.team_id
        return None

    def _dispatch(self, method: str, args: dict[str, Any], token: str | None,
                  team_id: str | None) -> dict[str, Any]:
        if method not in REQUIRED:
            raise SlackApiError("unknown_method")
        if method == "oauth.v2.access":
            return self._oauth_access(args)
        if not token:
            raise SlackApiError("not_authed")
        if method == "apps.connections.open":
            if token.startswith("xoxb-"):
                raise SlackApiError("not_allowed_token_type")
            if token not in self.app_tokens:
                raise SlackApiError("invalid_auth")
            return {"url": f"ws://127.0.0.1:{self._server.port}/socket?ticket={uuid.uuid4()}"}
        if team_id is None:
            raise SlackApiError("invalid_auth")
        missing = [name for name in REQUIRED[method] if args.get(name) in (None, "")]
        if missing:
            raise SlackApiError("invalid_arguments",
                                messages=[f"[ERROR] missing required field: {missing[0]}"])
        workspace = self.workspaces[team_id]
        handler = getattr(self, "_" + method.replace(".", "_"))
        with self._lock:
            return handler(workspace, args)

    # Methods (called under the lock) ------------------------------------------------------

    def _auth_test(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"https://{ws.team_id.lower()}.slack.com/", "team": ws.name,
                "user": "chaser", "team_id": ws.team_id, "user_id": ws.bot_user_id,
                "bot_id": ws.bot_id, "app_id": APP_ID, "is_enterprise_install": False}

    def _channel(self, ws: Workspace, channel: str) -> str:
        if channel in ws.channels:
            return channel
        if channel.startswith(("U", "W")) and channel in ws.users:
            return "D" + channel[1:]  # posting to a user id opens their DM with the app
        if channel.startswith("D") and any(user[1:] == channel[1:] for user in ws.users):
            return channel  # a DM channel id (as chat.postMessage to a user id answered)
        raise SlackApiError("channel_not_found")

    def _message_checks(self, args: dict[str, Any], *, require_content: bool = True) -> None:
        text, blocks = args.get("text"), args.get("blocks")
        if require_content and not text and not blocks and not args.get("attachments"):
            raise SlackApiError("no_text")
        if text is not None and len(str(text)) > limits.MESSAGE_TEXT:
            raise SlackApiError("msg_too_long")
        if blocks is not None:
            problems = limits.block_problems(blocks, limits.MESSAGE_BLOCKS)
            if problems:
                raise SlackApiError("invalid_blocks",
                                    messages=[f"[ERROR] {p}" for p in problems])

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._counter):06d}"

    def _chat_postMessage(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(ws, args["channel"])
        self._message_checks(args)
        ts = self._ts()
        message = {"type": "message", "user": ws.bot_user_id, "bot_id": ws.bot_id, "ts": ts,
                   "text": args.get("text", ""), "blocks": args.get("blocks") or [],
                   "thread_ts": args.get("thread_ts")}
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _chat_update(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(ws, args["channel"])
        message = self.messages.get((channel, args["ts"]))
        if message is None:
            raise SlackApiError("message_not_found")
        if message["user"] != ws.bot_user_id:
            raise SlackApiError("cant_update_message")
        self._message_checks(args, require_content=False)
        for key in ("text", "blocks"):
            if key in args:
                message[key] = args[key]
        return {"channel": channel, "ts": args["ts"], "text": message["text"]}

    def _chat_delete(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(ws, args["channel"])
        if self.messages.pop((channel, args["ts"]), None) is None:
            raise SlackApiError("message_not_found")
        return {"channel": channel, "ts": args["ts"]}

    def _chat_getPermalink(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(ws, args["channel"])
        ts = str(args["message_ts"])
        return {"channel": channel,
                "permalink": f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _chat_postEphemeral(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(ws, args["channel"])
        if args["user"] not in ws.users:
            raise SlackApiError("user_not_found")
        self._message_checks(args)
        self.ephemeral.append({"channel": channel, **args})
        return {"message_ts": self._ts()}

    def _use_trigger(self, trigger: str) -> None:
        issued = self._triggers.get(trigger)
        if issued is None:
            raise SlackApiError("invalid_trigger_id")
        if trigger in self._used_triggers or time.monotonic() - issued > self.trigger_ttl:
            raise SlackApiError("expired_trigger_id")
        self._used_triggers.add(trigger)

    def _check_view(self, view: Any) -> dict[str, Any]:
        problems = limits.view_problems(view)
        if problems:
            raise SlackApiError("invalid_arguments", messages=[f"[ERROR] {p}" for p in problems])
        return view

    def _store_view(self, ws: Workspace, view: dict[str, Any], view_id: str | None = None
                    ) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._counter):08d}"
        stored = {**view, "id": view_id, "team_id": ws.team_id, "hash": uuid.uuid4().hex[:12],
                  "state": {"values": {}}}
        self.views[view_id] = stored
        return stored

    def _views_open(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(args["view"])
        self._use_trigger(args["trigger_id"])
        stored = self._store_view(ws, view)
        self._view_stacks[stored["id"]] = [stored["id"]]
        return {"view": stored}

    def _views_push(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        # docs.slack.dev/reference/methods/views.push: "Push a view onto the stack of a root
        # view" from an interaction in a modal, "up to 3 views" (push_limit_reached). A
        # trigger from outside a modal has no stack to push onto: refused as an invalid
        # trigger (our reading; Slack does not name that error).
        view = self._check_view(args["view"])
        stack = self._view_stacks.get(self._trigger_views.get(args["trigger_id"], ""))
        if stack is None:
            self._use_trigger(args["trigger_id"])
            raise SlackApiError("invalid_trigger_id")
        if len(stack) >= 3:
            raise SlackApiError("push_limit_reached")
        self._use_trigger(args["trigger_id"])
        stored = self._store_view(ws, view)
        stack.append(stored["id"])
        self._view_stacks[stored["id"]] = stack
        return {"view": stored}

    def view_stack(self, view_id: str) -> list[str]:
        """The ids of the modals stacked with `view_id`, root first."""
        with self._lock:
            return list(self._view_stacks.get(view_id, [view_id]))

    def _views_update(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(args["view"])
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next((v["id"] for v in self.views.values()
                            if v.get("external_id") == args["external_id"]), None)
        current = self.views.get(view_id or "")
        if current is None:
            raise SlackApiError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackApiError("hash_conflict")
        return {"view": self._store_view(ws, view, view_id)}

    def _views_publish(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(args["view"])
        if view.get("type") != "home":
            raise SlackApiError("invalid_arguments")
        if args["user_id"] not in ws.users:
            raise SlackApiError("user_not_found")
        stored = self._store_view(ws, view)
        self.home_views[args["user_id"]] = stored
        return {"view": stored}

    def _conversations_open(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users and not args.get("channel"):
            raise SlackApiError("users_list_not_supplied")
        for user in users:
            if user not in ws.users:
                raise SlackApiError("user_not_found")
        channel = "D" + users[0][1:] if len(users) == 1 else f"G{next(self._counter):08d}"
        return {"channel": {"id": channel}}

    def _conversations_info(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        channel = ws.channels.get(args["channel"])
        if channel is None:
            raise SlackApiError("channel_not_found")
        return {"channel": {**channel, "is_channel": True, "is_member": False}}

    def _users_info(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        user = ws.users.get(args["user"])
        if user is None:
            raise SlackApiError("user_not_found")
        return {"user": user}

    def _users_list(self, ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
        """Every member, the app's bot user and deleted users included, a page at a time: `limit`
        (none: all), `cursor` from the last page's response_metadata.next_cursor, "" at the end
        (docs.slack.dev/reference/methods/users.list, docs.slack.dev/apis/web-api/pagination)."""
        bot = {"id": ws.bot_user_id, "team_id": ws.team_id, "name": "chaser", "deleted": False,
               "is_admin": False, "is_owner": False, "is_primary_owner": False,
               "is_bot": True, "is_app_user": False, "profile": {"display_name": "chaser"}}
        members = sorted([bot, *ws.users.values()], key=lambda user: user["id"])
        start = 0
        if args.get("cursor"):
            try:
                after = base64.b64decode(str(args["cursor"]), validate=True).decode()
                start = [user["id"] for user in members].index(after.removeprefix("user:"))
            except (ValueError, UnicodeDecodeError):
                raise SlackApiError("invalid_cursor") from None
        limit = int(args.get("limit") or 0) or len(members)
        if self.users_page_size is not None:
            limit = min(limit, self.users_page_size)
        page = members[start:start + limit]
        rest = members[start + limit:]
        cursor = base64.b64encode(f"user:{rest[0]['id']}".encode()).decode() if rest else ""
        return {"members": page, "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": cursor}}

    def _oauth_access(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("client_id") != CLIENT_ID or args.get("client_secret") != CLIENT_SECRET:
            raise SlackApiError("invalid_client_id")
        with self._lock:
            grant = self._install_codes.pop(str(args.get("code")), None)
        if grant is None:
            raise SlackApiError("invalid_code")
        ws = self.workspaces[grant["team_id"]]
        return {
            "access_token": ws.bot_token, "token_type": "bot", "scope": args.get("scope", ""),
            "bot_user_id": ws.bot_user_id, "app_id": APP_ID,
            "team": {"id": ws.team_id, "name": ws.name}, "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": grant["installer"]},
        }

    async def _socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        sock = _Socket(websocket, asyncio.get_running_loop(), 0)
        with self._lock:
            self.sockets_opened += 1
            sock.number = self.sockets_opened
            retiring = [s for s in self._sockets if s.retiring]
            self._sockets.append(sock)
        await websocket.send_text(json.dumps({
            "type": "hello", "num_connections": len(self._sockets),
            "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
            "connection_info": {"app_id": APP_ID},
        }))
        with self._lock:
            self._lock.notify_all()
        for old in retiring:  # the app has reconnected: the old links can go now
            with contextlib.suppress(Exception):  # already closed by the client
                await old.websocket.close()
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                if "envelope_id" in message:
                    with self._lock:
                        self.acks[message["envelope_id"]] = message
                        self._lock.notify_all()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            with self._lock:
                if sock in self._sockets:
                    self._sockets.remove(sock)
                self._lock.notify_all()


async def _arguments(request: Request) -> dict[str, Any]:
    """Arguments from the query string and a form or JSON body, as Slack accepts them."""
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if raw and "application/json" in content_type:
        args.update(json.loads(raw))
    elif raw:
        args.update(parse_qsl(raw.decode(), keep_blank_values=True))
    for name in ("blocks", "view", "attachments"):  # JSON-encoded strings in form posts
        if isinstance(args.get(name), str):
            try:
                args[name] = json.loads(args[name])
            except ValueError as exc:
                raise SlackApiError("invalid_arguments") from exc
    if "authorization" in request.headers and request.headers["authorization"].startswith("Basic"):
        import base64

        user, _, password = base64.b64decode(
            request.headers["authorization"][6:]).decode().partition(":")
        args.setdefault("client_id", user)
        args.setdefault("client_secret", password)
    return args


def _token(request: Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    token = args.pop("token", None)
    return str(token) if token else None
