"""`chaser sandbox`: the local Xero's command (with `demo`, the only product code that uses it)."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import CommandError, finite, http_url, http_urls, not_blank
from bot.sandbox import (
    MAX_CONTACTS,
    MAX_CONTACTS_IN_ALL,
    MAX_INVOICES,
    MAX_INVOICES_IN_ALL,
    MAX_ORGS,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
)


def sandbox_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 5050,
    seed: Annotated[
        int, typer.Option(min=0, max=2**63 - 1, help="Seed for the generated books.")
    ] = 1,
    orgs: Annotated[int, typer.Option(min=1, max=MAX_ORGS, help="Organisations.")] = 2,
    contacts: Annotated[
        int, typer.Option(min=1, max=MAX_CONTACTS, help="Contacts per organisation.")
    ] = 50,
    invoices: Annotated[
        int, typer.Option(min=1, max=MAX_INVOICES, help="Sales invoices per organisation.")
    ] = 500,
    bills: Annotated[
        int | None,
        typer.Option(min=0, max=MAX_INVOICES,
                     help="Bills per organisation. Default: 15% of --invoices."),
    ] = None,
    auto_approve: Annotated[
        bool, typer.Option(help="Approve consent at once for a login_hint user.")
    ] = False,
    limits: Annotated[bool, typer.Option(help="Enforce Xero's rate limits.")] = True,
    limits_scale: Annotated[
        float,
        typer.Option(min=0.001, max=1000, callback=finite,
                     help="Multiply the minute/day limits (2 relaxes, 0.1 tightens)."),
    ] = 1.0,
    client_id: Annotated[
        str, typer.Option(callback=not_blank, help="OAuth client id to accept.")
    ] = SANDBOX_CLIENT_ID,
    client_secret: Annotated[
        str, typer.Option(callback=not_blank, help="OAuth client secret to accept.")
    ] = SANDBOX_CLIENT_SECRET,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            callback=http_urls,
            help="Allowed redirect URI; repeat or comma-separate. Default: any localhost URI.",
        ),
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(callback=http_url, help="Deliver webhooks here.")
    ] = None,
    webhook_key: Annotated[
        str | None, typer.Option(callback=not_blank, help="Webhook signing key.")
    ] = None,
    max_page_size: Annotated[
        int,
        typer.Option(min=1, max=1000,
                     help="Serve at most this many rows a page, whatever pageSize asks "
                          "(100 behaves like Xero's default page)."),
    ] = 1000,
) -> None:
    """Run a local Xero (OAuth, Accounting API, limits, faults) for trials and tests."""
    from bot.sandbox.cli import run_sandbox

    if orgs * contacts > MAX_CONTACTS_IN_ALL:
        raise typer.BadParameter(
            f"{orgs} organisations × {contacts} contacts is more than one machine holds "
            f"({MAX_CONTACTS_IN_ALL:,} in all): lower --contacts or --orgs",
            param_hint="'--contacts'",
        )
    rows = invoices + (bills if bills is not None else invoices * 15 // 100)
    if orgs * rows > MAX_INVOICES_IN_ALL:
        raise typer.BadParameter(
            f"{orgs} organisations × {rows} invoices and bills is more than one machine holds "
            f"({MAX_INVOICES_IN_ALL:,} in all): lower --invoices, --bills or --orgs",
            param_hint="'--invoices'",
        )
    from bot.sandbox.server import PortUnavailable

    uris = [u.strip() for value in redirect_uri or [] for u in value.split(",") if u.strip()]
    try:
        run_sandbox(port=port, seed=seed, orgs=orgs, contacts=contacts, invoices=invoices,
                    bills=bills, auto_approve=auto_approve, limits=limits,
                    limits_scale=limits_scale, client_id=client_id,
                    client_secret=client_secret, redirect_uris=uris, webhook_url=webhook_url,
                    webhook_key=webhook_key, max_page_size=max_page_size)
    except PortUnavailable as exc:
        problem = "is in use" if exc.in_use else "cannot be opened"
        raise CommandError(
            f"Port {port} {problem}: {exc.strerror}; choose another with --port"
        ) from None
