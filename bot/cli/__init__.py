"""The `chaser` command line: one module per command, wired by `bot.cli.app`."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point for the `chaser` console script (bot.cli.app.run does the work)."""
    try:
        # Importing the app takes a moment (typer, rich, SQLAlchemy): Ctrl-C then is said the
        # same way as during a command, without a traceback.
        from bot.cli.app import run
    except KeyboardInterrupt:
        from bot.messages import INTERRUPTED, TERMINAL

        print(INTERRUPTED.render(TERMINAL), file=sys.stderr)
        sys.exit(130)
    sys.exit(run())


__all__ = ["main"]
