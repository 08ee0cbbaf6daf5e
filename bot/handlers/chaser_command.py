"""/chaser: split the text into a subcommand and its words, check them, route to the handler.

Each subcommand is a `Route`: `parse(words)` is pure and raises BadArguments (answered at once
with the usage line), `run(call, args, ack, respond, client)` must call `ack()` first and do
anything that may touch Xero after it. Subcommand modules expose `routes(deps) -> list[Route]`
and are listed in SUBCOMMAND_MODULES.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import messages
from bot.blocks.help import help_blocks
from bot.errors import UserFacingError
from bot.handlers import errors
from bot.handlers.middleware import DuplicateDelivery
from bot.ids import Command, Subcommand
from bot.messages import SLACK

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.deps import AppDeps


class BadArguments(UserFacingError):
    """The words after the subcommand do not fit it; the reply is its usage line, after the
    message when `shown` (a sentence for the person, not a note for the log)."""

    def __init__(self, message: str, *, shown: bool = False) -> None:
        super().__init__(message)
        self.shown = shown


@dataclass(frozen=True)
class Call:
    """One /chaser invocation: who typed it, where, and the words after the subcommand."""

    team_id: str
    workspace_id: int
    user_id: str
    channel_id: str | None
    words: tuple[str, ...]
    response_url: str | None
    trigger_id: str | None


Parse = Callable[[Sequence[str]], Any]
Run = Callable[..., None]  # run(call, args, ack, respond, client)


@dataclass(frozen=True)
class Route:
    name: Subcommand
    parse: Parse
    run: Run


USAGE = {usage.split(" ", 1)[0]: usage for usage, _ in messages.CHASER_COMMANDS}


def usage_line(name: str) -> str:
    """The one-line usage reply for a subcommand."""
    return messages.SLACK_USAGE.format(usage=USAGE.get(name, name))


def no_arguments(words: Sequence[str]) -> None:
    """A parser for subcommands that take nothing."""
    if words:
        raise BadArguments("takes no arguments")


# Phones and macOS type curly double quotes (“Full Name”): they group words as "..." does.
_DOUBLE_QUOTES = str.maketrans(dict.fromkeys("“”„«»", '"'))
# A "quoted" run; a 'quoted' run only when its quotes stand at word edges, so the apostrophes
# of O'Brien's Plumbing stay in the name; otherwise a run of non-spaces (stray quotes kept).
_WORD = re.compile(r'"([^"]*)"|(?<!\S)\'([^\']*)\'(?!\S)|(\S+)')


def split_words(text: str) -> list[str]:
    """Words as a person means them: "quoted names" stay whole; apostrophes and stray quotes
    are kept as typed."""
    return [next(group for group in match.groups() if group is not None)
            for match in _WORD.finditer(text.translate(_DOUBLE_QUOTES))]


def _help(_call: Call, _args: None, ack: Ack, _respond: Respond, _client: WebClient) -> None:
    ack(text=messages.SLACK_HELP_TITLE, blocks=help_blocks(messages.CHASER_COMMANDS),
        response_type="ephemeral")


# Modules with `routes(app, deps) -> list[Route]`, one line each (imported late: they import
# this module for Route and Call).
SUBCOMMAND_MODULES = (
    "bot.handlers.organisations",  # connect, disconnect, status, sync
    "bot.handlers.lookups",  # overdue, invoice, customer
    "bot.handlers.settings",  # settings (the modal)
    "bot.handlers.pausing",  # pause, resume
    "bot.handlers.recipients",  # escalate
    "bot.handlers.schedules",  # schedule (the list, the modal, customers' schedules)
)


def _routes(app: App, deps: AppDeps) -> list[Route]:
    import importlib

    routes = [Route(Subcommand.HELP, no_arguments, _help)]
    for name in SUBCOMMAND_MODULES:
        routes.extend(importlib.import_module(name).routes(app, deps))
    return routes


# How many subcommands may do their after-ack work at once. Acknowledging takes a moment of
# CPU; the work after it (reading the store, calling Xero, replying) can take much longer, and
# with every listener thread busy with it, new commands' acks would wait for the GIL.
WORK_SLOTS = 8


class WorkGate:
    """The listener's `ack`: acknowledges at once, then waits for a work slot before returning,
    so the work after an ack never crowds out the acks of the commands arriving meanwhile."""

    def __init__(self, ack: Ack, slots: threading.Semaphore) -> None:
        self._ack = ack
        self._slots = slots
        self._holding = False

    @property
    def response(self) -> Any:
        return self._ack.response

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._ack(*args, **kwargs)
        if not self._holding:
            self._slots.acquire()
            self._holding = True
        return answer

    def done(self) -> None:
        if self._holding:
            self._holding = False
            self._slots.release()


def register(app: App, deps: AppDeps) -> None:
    """Listen to /chaser and route each subcommand."""
    table = {route.name.value: route for route in _routes(app, deps)}
    work_slots = threading.Semaphore(WORK_SLOTS)

    def chaser(ack: Ack, body: dict[str, Any], context: Any, respond: Respond,
               client: WebClient) -> None:
        words = split_words(body.get("text") or "")
        name = words[0].lower() if words else Subcommand.HELP.value
        route = table.get(name)
        if route is None:
            ack(text=messages.SLACK_UNKNOWN_SUBCOMMAND.format(word=words[0]),
                response_type="ephemeral")
            return
        try:
            args = route.parse(words[1:])
        except BadArguments as problem:
            said = problem.text(SLACK) + " " if problem.shown else ""
            ack(text=said + usage_line(name), response_type="ephemeral")
            return
        call = Call(
            team_id=body.get("team_id") or "", workspace_id=context["workspace_id"],
            user_id=body.get("user_id") or "", channel_id=body.get("channel_id"),
            words=tuple(words[1:]), response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        gate = WorkGate(ack, work_slots)
        try:
            route.run(call, args, gate, respond, client)
        except DuplicateDelivery:
            return  # acknowledged; another delivery of the same command does the work
        except Exception as error:
            if ack.response is None:
                raise  # not acknowledged yet: the @app.error funnel answers in the ack
            errors.report(error, body, client)
        finally:
            gate.done()

    app.command(Command.CHASER)(chaser)
