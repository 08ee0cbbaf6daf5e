"""Messages render each surface's own command; the error hierarchy carries them to every funnel."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import messages
from bot.cli.support import CommandError
from bot.config import ConfigError
from bot.errors import (
    ConfigurationError,
    ConnectionNotUsable,
    Disconnected,
    NeedsReconnect,
    RetryLater,
    UserFacingError,
)
from bot.messages import SLACK, TERMINAL, plain, say
from bot.secrets import SecretError

BOT = Path(__file__).resolve().parents[1] / "bot"


def test_a_command_is_written_the_way_each_surface_types_it():
    message = messages.needs_reconnect("Acme Ltd", "revoked")

    assert message.render(SLACK).endswith("an admin runs `/chaser connect` again.")
    assert message.render(TERMINAL).endswith("an admin runs `chaser connect` again.")
    assert "Acme Ltd needs reconnecting (revoked)" in message.render(TERMINAL)


def test_values_are_never_read_as_templates():
    # An organisation may well be called "{cmd[connect]}"; it must come out as typed.
    message = messages.disconnected("{cmd[connect]} & {name}")

    assert message.render(SLACK).startswith("{cmd[connect]} & {name} is disconnected")
    assert plain("{odd} text").render(SLACK) == "{odd} text"


def test_sentences_join_and_render_for_one_surface_on_one_line():
    joined = plain("Line one\nand more.") + say("Run {cmd[sync]}.")

    assert joined.render(SLACK) == "Line one and more. Run `/chaser sync`."
    assert joined.render(TERMINAL) == "Line one and more. Run `chaser sync`."


def test_every_kind_is_a_user_facing_error_with_a_short_code():
    kinds = [ConfigurationError("x"), RetryLater("x"), NeedsReconnect("x"), Disconnected("x"),
             ConnectionNotUsable("x"), CommandError("x"), ConfigError("x"), SecretError("x")]

    assert all(isinstance(kind, UserFacingError) for kind in kinds)
    assert [kind.code for kind in kinds[:5]] == [
        "configuration", "retry_later", "needs_reconnect", "disconnected", "not_connected"]
    assert RetryLater("x").retry_later and not NeedsReconnect("x").retry_later


def test_the_detail_is_for_logs_and_the_message_for_people():
    error = NeedsReconnect(messages.needs_reconnect("Acme", None), detail="HTTP 403 body")

    assert str(error) == "HTTP 403 body"
    assert "HTTP 403" not in error.text(SLACK)
    assert error.text(SLACK).startswith("Acme needs reconnecting:")


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
    }
    # Log lines are the operator's, not a person's on a surface.
    logged = {
        id(arg) for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"debug", "info", "warning", "error", "exception", "critical"}
        for arg in ast.walk(node)
    }
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings | logged]


@pytest.mark.parametrize("folder", ["chasing", "xero", "handlers", "."])
def test_no_slash_command_is_spelled_outside_messages(folder):
    """A sentence naming `/chaser …` must come from bot/messages.py, rendered per surface."""
    found = []
    for path in sorted((BOT / folder).glob("*.py")):
        if path.name == "messages.py":
            continue
        found += [f"{path.name}:{line}" for line, text in _string_constants(path)
                  if "/chaser " in text]
    assert found == []


def test_a_sync_result_counts_in_words_a_person_would_use():
    assert messages.sync_done("Kiwi", 1, 1, 0.04) == (
        "Kiwi: synced 1 contact and 1 invoice in 0.0 s.")
    assert messages.sync_done("Kiwi", 0, 12345, 2.26) == (
        "Kiwi: synced 0 contacts and 12,345 invoices in 2.3 s.")
