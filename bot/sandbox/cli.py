"""`chaser sandbox`: build the books, print the bot's settings, serve until Ctrl-C."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from bot.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from bot.sandbox.ledger import build_ledger
from bot.sandbox.server import SandboxConfig, serve

DEFAULT_REDIRECT_PATH = "/xero/callback"


def settings_lines(url: str, config: SandboxConfig, redirect_uri: str) -> list[str]:
    """The `KEY=value` lines that point chaser-bot at this sandbox, ready for `export`."""
    return [f"XERO_BASE_URL={url}", f"XERO_CLIENT_ID={config.client_id}",
            f"XERO_CLIENT_SECRET={config.client_secret}", f"XERO_REDIRECT_URI={redirect_uri}"]


def run_sandbox(*, port: int = 5050, seed: int = 1, orgs: int = 2, contacts: int = 50,
                invoices: int = 500, bills: int | None = None, auto_approve: bool = False,
                limits: bool = True, limits_scale: float = 1.0, client_id: str = SANDBOX_CLIENT_ID,
                client_secret: str = SANDBOX_CLIENT_SECRET,
                redirect_uris: Sequence[str] = (), redirect_uri: str | None = None,
                webhook_url: str | None = None, webhook_key: str | None = None,
                max_page_size: int = 1000, host: str = "127.0.0.1",
                out: TextIO | None = None) -> None:
    """Serve a local Xero in the foreground and print how to point the bot at it.

    Raises server.PortUnavailable (before printing anything) when the port cannot be opened.
    """
    out = out or sys.stdout
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ledger = build_ledger(seed=seed, orgs=orgs, contacts=contacts, invoices=invoices,
                          bills=bills)
    config = SandboxConfig(client_id=client_id, client_secret=client_secret,
                           redirect_uris=tuple(redirect_uris), auto_approve=auto_approve,
                           limits=limits, limits_scale=limits_scale, webhook_url=webhook_url,
                           webhook_key=webhook_key, max_page_size=max_page_size)
    # The bot's own callback (PORT defaults to 3000); a restricted list names it first.
    callback = redirect_uri or (config.redirect_uris[0] if config.redirect_uris
                                else f"http://127.0.0.1:3000{DEFAULT_REDIRECT_PATH}")

    def ready(url: str) -> None:
        print(f"Xero sandbox listening on {url} (Ctrl-C to stop)", file=out)
        print("# Point chaser-bot at it:", file=out)
        for line in settings_lines(url, config, callback):
            print(line, file=out)
        if webhook_url:
            print(f"# Webhooks go to {webhook_url} once it passes intent-to-receive.", file=out)
        out.flush()

    serve(config, ledger, host=host, port=port, on_ready=ready)
    print("Sandbox stopped.", file=out)
