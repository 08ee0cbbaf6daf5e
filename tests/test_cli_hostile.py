"""Every command, given a hostile value for each setting and each option: one line, no traceback.

The exit codes are the README's: 0 done, 1 could not do it (one line says why), 2 a setting,
option or argument is wrong (one line names it), 3 not built yet, 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from bot.cli.app import app, run
from bot.sandbox import MAX_ORGS
from storage.db import upgrade

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 130}
ENV_PREFIXES = ("XERO_", "SLACK_", "CHASER_", "DATABASE_URL", "SMTP_", "PUBLIC_URL", "PORT",
                "LOG_LEVEL")

# Each command as typed with the least it needs (hostile values are added to these).
COMMANDS: dict[str, list[str]] = {
    "doctor": ["doctor"],
    "demo": ["demo"],
    "serve": ["serve"],
    "connect": ["connect"],
    "disconnect": ["disconnect"],
    "sync": ["sync"],
    "digest": ["digest"],
    "chase": ["chase", "--dry-run"],
    "status": ["status"],
    "sandbox": ["sandbox"],
    "db upgrade": ["db", "upgrade"],
    "schedule show": ["schedule", "show"],
    "schedule set": ["schedule", "set"],
    "schedule assign": ["schedule", "assign", "Acme"],
    "schedule sender": ["schedule", "sender"],
    "customer escalate": ["customer", "escalate", "Acme"],
}
# Commands that read no setting (the sandbox is a stand-alone local Xero).
READ_NO_SETTINGS = {"sandbox"}

HOSTILE_SETTINGS: list[tuple[str, str]] = [
    ("DATABASE_URL", "postgresql://chaser@localhost:abc/chaser"),
    ("DATABASE_URL", "sqlite://"),
    ("DATABASE_URL", "sqlite:///"),
    ("DATABASE_URL", "sqlite:///:memory:"),
    ("DATABASE_URL", "postgresql://chaser@localhost:5432"),
    ("DATABASE_URL", "postgresql://chaser@localhost:99999/chaser"),
    ("DATABASE_URL", "mysql://chaser@localhost/chaser"),
    ("DATABASE_URL", "postgresql://chaser@[::1/chaser"),
    ("CHASER_DATA_DIR", "{file}"),
    ("CHASER_DATA_DIR", "{file}/inside"),
    ("PORT", "abc"),
    ("PORT", "0"),
    ("PORT", "65536"),
    ("PORT", "inf"),
    ("LOG_LEVEL", "LOUD"),
    ("XERO_BASE_URL", "ftp://xero.example"),
    ("XERO_BASE_URL", "http://"),
    ("XERO_BASE_URL", "http://127.0.0.1:port"),
    ("XERO_REDIRECT_URI", "not a url"),
    ("XERO_SCOPE_STYLE", "narrow"),
    ("PUBLIC_URL", "javascript:alert(1)"),
    ("SLACK_API_URL", "slack.com/api"),
    ("SLACK_BOT_TOKEN", "xoxp-user-token"),
    ("SLACK_APP_TOKEN", "xoxb-not-an-app-token"),
    ("SMTP_URL", "http://mail.example"),
    ("SMTP_FROM", "not an address"),
]

INTS = ["abc", "-1", "0", "99999999999999999999999", "1.5", ""]
FLOATS = ["abc", "inf", "-inf", "nan", "1e309", "-1", "0", ""]
TEXTS = ["", " ", "\x1b[31mred\x1b[0m", "x" * 5000, "'; DROP TABLE invoices; --",
         "../../etc/passwd", "ünï©ødé 🙂", "line\nbreak"]
URLS = ["javascript:alert(1)", "http://", "http://host:abc/", "not a url", ""]
STEPS = ["abc", "-5", "99999999999", "5:bogus", "", "3:template=../../etc/passwd"]
REVISIONS = ["nope", "", "head+5", "base", "-1", "0001; DROP TABLE"]

# Every option and argument of every command, with the values to try (flags take none).
HOSTILE_OPTIONS: dict[str, dict[str, list[str]]] = {
    "doctor": {},
    "demo": {"--contacts": INTS, "--invoices": INTS},
    "serve": {},
    "connect": {"--login-hint": TEXTS, "--timeout": FLOATS},
    "disconnect": {"--org": TEXTS},
    "sync": {"--org": TEXTS},
    "digest": {"--org": TEXTS, "--page": INTS},
    "chase": {"--org": TEXTS, "--resolve": TEXTS},
    "status": {"--org": TEXTS},
    "sandbox": {
        "--port": [*INTS, "65536"], "--seed": ["abc", "-1", "99999999999999999999999"],
        "--orgs": [*INTS, str(MAX_ORGS + 1)], "--contacts": INTS, "--invoices": INTS,
        "--bills": ["abc", "-1", "99999999999999999999999"],
        "--limits-scale": FLOATS, "--client-id": ["", " ", "a\nb"],
        "--client-secret": ["", " "], "--redirect-uri": URLS, "--webhook-url": URLS,
        "--webhook-key": ["", " "], "--max-page-size": [*INTS, "1001"],
    },
    "db upgrade": {"revision": REVISIONS},
    "schedule show": {"--org": TEXTS},
    "schedule set": {
        "name": TEXTS, "--before": STEPS, "--overdue": STEPS, "--repeat-every": INTS,
        "--repeat-cap": INTS, "--org": TEXTS,
    },
    "schedule assign": {"customer": TEXTS, "schedule": TEXTS, "--org": TEXTS},
    "schedule sender": {"--name": TEXTS, "--email": TEXTS, "--org": TEXTS},
    "customer escalate": {"customer": TEXTS, "--email": TEXTS, "--org": TEXTS},
}


def command_paths() -> set[str]:
    """Every leaf command the CLI has, as typed after `chaser`."""
    found: set[str] = set()

    def walk(command: object, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*path, name))
        else:
            found.add(" ".join(path))

    walk(typer.main.get_command(app), ())
    return found


def options_of(path: str) -> set[str]:
    """The options (by long name) and arguments (by name) a command takes values for."""
    command = typer.main.get_command(app)
    for part in path.split():
        command = command.commands[part]  # type: ignore[attr-defined]
    names = set()
    for param in command.params:  # type: ignore[attr-defined]
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        names.add(next((o for o in param.opts if o.startswith("--")), param.name))
    return names


def test_every_command_and_every_option_is_covered_here():
    assert set(COMMANDS) == command_paths()
    for path in COMMANDS:
        assert set(HOSTILE_OPTIONS[path]) == options_of(path), path


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No setting from the machine or a .env leaks in; the CLI runs in an empty folder."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def invoke(capsys, args: list[str]) -> tuple[int, str, str]:
    code = run(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_no_traceback(code: int, out: str, err: str) -> None:
    assert code in DOCUMENTED_EXIT_CODES, (code, out, err)
    assert "Traceback" not in out + err
    if code not in (0, 3):
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err


@pytest.mark.parametrize(("variable", "value"), HOSTILE_SETTINGS,
                         ids=[f"{v}={x!r}"[:60] for v, x in HOSTILE_SETTINGS])
def test_a_hostile_setting_stops_every_command_with_one_line_naming_it(
    clean_env, tmp_path, capsys, variable, value
):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    clean_env.setenv(variable, value.format(file=a_file))

    for path, args in COMMANDS.items():
        if path in READ_NO_SETTINGS:
            continue
        code, out, err = invoke(capsys, args)
        assert code == 2, (path, out, err)
        assert_one_line_no_traceback(code, out, err)
        assert variable in err, (path, err)


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'chaser.sqlite3'}"
    upgrade(url)
    return url


@pytest.mark.parametrize("path", sorted(HOSTILE_OPTIONS))
def test_hostile_options_get_one_line_and_a_documented_exit_code(
    clean_env, tmp_path, capsys, empty_database, path
):
    # A migrated database with nothing connected, and no Xero app: a value the command would
    # accept fails fast with its own line instead of starting work.
    clean_env.setenv("DATABASE_URL", empty_database)
    clean_env.setenv("CHASER_DATA_DIR", str(tmp_path / "data"))
    for option, values in HOSTILE_OPTIONS[path].items():
        for value in values:
            code, out, err = invoke(capsys, with_value(path, option, value))
            assert_one_line_no_traceback(code, out, err)


def with_value(path: str, option: str, value: str) -> list[str]:
    """The command's args with `value` given to `option` (or as the named argument)."""
    if option.startswith("--"):
        return [*COMMANDS[path], f"{option}={value}"]
    # Arguments: the command's own words, the arguments before this one, then the value,
    # after `--` so that a value like "-1" is taken as the argument it is meant to be.
    words = path.split()
    before = {"schedule": ["Acme"]}.get(option, [])
    return [*words, *before, "--", value]


# Ctrl-C -------------------------------------------------------------------------------------

INTERRUPTED = "interrupted; nothing lost — run it again to resume"


def interrupt(
    args: list[str], env: dict[str, str], ready, cwd: Path
) -> subprocess.CompletedProcess:
    """Run `chaser ARGS`, wait until `ready()` says it is mid-work, press Ctrl-C, collect it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args], env={**clean, **env}, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for _ in range(600):  # at most a minute, in steps of 0.1 s
            if ready() or process.poll() is not None:
                break
            time.sleep(0.1)
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"finished ({process.returncode}) before it could be interrupted: {err}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def assert_interrupted(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 130, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert [line for line in done.stderr.splitlines() if line.strip()] == [INTERRUPTED]


def test_ctrl_c_during_the_demo_stops_it_and_its_embedded_server_in_one_line(tmp_path):
    data = tmp_path / "data"
    wal = data / "demo.sqlite3-wal"

    def syncing() -> bool:  # the sandbox is up and pages are being written
        return wal.exists() and wal.stat().st_size > 200_000

    done = interrupt(["demo", "--invoices", "30000"], {"CHASER_DATA_DIR": str(data)}, syncing,
                     tmp_path)

    assert_interrupted(done)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ctrl_c_while_connect_waits_for_the_browser_is_one_line(tmp_path, sandbox):
    url = f"sqlite:///{tmp_path / 'chaser.sqlite3'}"
    upgrade(url)
    port = _free_port()
    env = {
        "DATABASE_URL": url, "CHASER_DATA_DIR": str(tmp_path / "data"),
        "XERO_BASE_URL": sandbox.url, "XERO_CLIENT_ID": "chaser-sandbox",
        "XERO_CLIENT_SECRET": "chaser-sandbox-secret",
        "XERO_REDIRECT_URI": f"http://127.0.0.1:{port}/xero/callback",
    }

    def waiting() -> bool:  # the callback server is listening for Xero's redirect
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    done = interrupt(["connect"], env, waiting, tmp_path)

    assert_interrupted(done)


def test_ctrl_c_during_a_sync_loses_nothing_and_the_next_sync_finishes(
    make_world, migrated_db, tmp_path
):
    world = make_world(orgs=1, contacts=5, invoices=30)
    # Every answer takes a second: the sync is surely mid-request when Ctrl-C comes.
    world.control("POST", "/faults", kind="delay", delay_ms=1000, count=1000)
    env = {
        "DATABASE_URL": migrated_db, "CHASER_DATA_DIR": str(tmp_path),  # the world's key
        "XERO_BASE_URL": world.server.url, "XERO_CLIENT_ID": "chaser-sandbox",
        "XERO_CLIENT_SECRET": "chaser-sandbox-secret",
    }
    before = world.calls()

    done = interrupt(["sync"], env, lambda: world.calls() > before, tmp_path)

    assert_interrupted(done)
    world.control("DELETE", "/faults")
    again = subprocess.run([sys.executable, "-m", "bot", "sync", "--json"], cwd=tmp_path,
                           env={**{k: v for k, v in os.environ.items()
                                   if not k.startswith(ENV_PREFIXES)}, **env},
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert '"invoices": 30' in again.stdout


def test_output_piped_into_a_reader_that_went_away_ends_quietly(tmp_path):
    # `chaser db upgrade | head -0`, `chaser sandbox --help | head -5`: the reader closes the
    # pipe before the command has written; the command stops as Unix tools do, with no
    # traceback about how it stopped.
    url = f"sqlite:///{tmp_path / 'chaser.sqlite3'}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)},
           "DATABASE_URL": url}
    for args in (["db", "upgrade"], ["sandbox", "--help"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run([sys.executable, "-m", "bot", *args], stdout=write_end,
                                  stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                                  timeout=60)
        finally:
            os.close(write_end)
        assert done.returncode in DOCUMENTED_EXIT_CODES, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)


WRONG_ARGUMENTS = [
    ["chase", "--resolve", "<a@b.example>"],
    ["customer", "escalate", "Acme", "--email", "a@b.example", "--clear"],
    ["schedule", "sender"],
    ["schedule", "sender", "--email", "@"],
]


@pytest.mark.parametrize("args", WRONG_ARGUMENTS, ids=" ".join)
def test_an_argument_checked_by_the_command_itself_exits_2_like_a_wrong_option(
    clean_env, tmp_path, capsys, empty_database, args
):
    # The README's exit codes: 2 when an option or argument is wrong, whichever part of
    # chaser-bot notices it (typer's own checks or the command's).
    clean_env.setenv("DATABASE_URL", empty_database)
    clean_env.setenv("CHASER_DATA_DIR", str(tmp_path / "data"))
    code, out, err = invoke(capsys, args)
    assert code == 2, (out, err)
    assert_one_line_no_traceback(code, out, err)
