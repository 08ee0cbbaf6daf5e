"""The `chaser` command line: one module per command, wired by `bot.cli.app`."""

from bot.cli.app import main

__all__ = ["main"]
