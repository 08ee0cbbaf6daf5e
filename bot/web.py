"""HTTP routes: the Xero OAuth callback and a health check (Slack events join later)."""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.chasing.connections import ConnectResult, ConnectService
from bot.chasing.ports import UserFacingError

if TYPE_CHECKING:
    from bot.deps import AppDeps

log = logging.getLogger(__name__)

CALLBACK_PATH = "/xero/callback"

CANCELLED = ("You cancelled connecting Xero, so nothing was changed. "
             "Run /chaser connect whenever you are ready.")
INCOMPLETE = "This link is incomplete. Run /chaser connect again to get a fresh one."


@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback showed: a result, or the message of why there is none."""

    result: ConnectResult | None = None
    message: str | None = None
    cancelled: bool = False


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · chaser-bot</title>
<style>
 body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 4rem auto;
        padding: 0 1rem; color: #1d1c1d; }}
 h1 {{ font-size: 1.5rem; }} .ok {{ color: #007a5a; }} .no {{ color: #b3261e; }}
 li {{ margin: .4rem 0; }} .muted {{ color: #616061; font-size: .9rem; }}
</style></head>
<body><h1 class="{tone}">{title}</h1>{body}
<p class="muted">You can close this tab and go back to Slack.</p></body></html>
"""


def render_page(title: str, body: str, *, tone: str = "ok", status: int = 200) -> HTMLResponse:
    """A small, self-contained result page; `body` must already be escaped HTML."""
    page = _PAGE.format(title=html.escape(title), body=body, tone=tone)
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def result_page(result: ConnectResult) -> HTMLResponse:
    """Connected organisations, and the ones not kept with the reason and what to do."""
    parts = []
    if result.connected:
        items = "".join(
            f"<li><strong>{html.escape(org.tenant_name)}</strong>"
            + (" (reconnected)" if org.reconnected else "")
            + "".join(f" · {html.escape(v)}" for v in (org.country_code, org.base_currency) if v)
            + "</li>"
            for org in result.connected
        )
        parts.append(f"<p>chaser-bot can now chase unpaid invoices for:</p><ul>{items}</ul>")
    if result.refused:
        items = "".join(
            f"<li><strong>{html.escape(org.tenant_name)}</strong> was not connected. "
            f"{html.escape(org.reason)} {html.escape(org.what_to_do)}</li>"
            for org in result.refused
        )
        parts.append(f"<ul>{items}</ul>")
    if result.connected:
        return render_page("Xero connected", "".join(parts))
    return render_page("Xero not connected", "".join(parts), tone="no", status=403)


def message_page(title: str, message: str, *, status: int) -> HTMLResponse:
    return render_page(title, f"<p>{html.escape(message)}</p>", tone="no", status=status)


def create_web_app(
    ctx: AppDeps,
    *,
    callback_path: str = CALLBACK_PATH,
    on_callback: Callable[[CallbackOutcome], None] | None = None,
) -> Starlette:
    """The HTTP app; `on_callback` hears every callback outcome (the CLI waits on it)."""
    service = ConnectService(ctx)

    def report(outcome: CallbackOutcome) -> None:
        if on_callback is not None:
            on_callback(outcome)

    # A plain function: Starlette runs it in a worker thread, off the event loop, because
    # completing consent makes blocking calls to Xero and the database.
    def xero_callback(request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            service.abandon(params.get("state"))
            if params["error"] == "access_denied":
                report(CallbackOutcome(message=CANCELLED, cancelled=True))
                return message_page("Xero not connected", CANCELLED, status=200)
            said = params.get("error_description") or params["error"]
            message = f"Xero could not connect ({said}). Run /chaser connect again."
            report(CallbackOutcome(message=message))
            return message_page("Xero not connected", message, status=400)
        state, code = params.get("state"), params.get("code")
        if not state or not code:
            return message_page("Xero not connected", INCOMPLETE, status=400)
        try:
            result = service.complete(state, code)
        except UserFacingError as exc:
            report(CallbackOutcome(message=exc.user_message))
            return message_page("Xero not connected", exc.user_message, status=400)
        except Exception:
            # The browser never sees a traceback: a short reference ties it to the log.
            reference = secrets.token_hex(4)
            log.exception("Xero callback failed (ref %s)", reference)
            message = (f"Something went wrong while connecting Xero (reference {reference}). "
                       "Please run /chaser connect again; if it keeps happening, share the "
                       "reference with whoever runs chaser-bot.")
            report(CallbackOutcome(message=message))
            return message_page("Xero not connected", message, status=500)
        report(CallbackOutcome(result=result))
        return result_page(result)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route(callback_path, xero_callback, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])
