"""`/_sandbox/` control endpoints: faults on demand, ledger changes, token tricks and stats."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from bot.sandbox.identity import IdentityStore
from bot.sandbox.limits import SandboxStats
from bot.sandbox.records import to_amount

PREFIX = "/_sandbox"
RAW_SEND = "sandbox.raw_send"  # scope key: the server's own send, kept for dropping sockets
_encoder = msgspec.json.Encoder(decimal_format="number")


class ConnectionDropped(Exception):
    """Raised to abort a response when no real socket is at hand (e.g. an in-process client)."""


@dataclass
class Fault:
    """One queued misbehaviour; `remaining` calls will suffer it."""

    kind: str  # status | drop | delay | html | text | empty | truncated
    remaining: int = 1
    status: int = 500
    delay_ms: int = 0
    target: str = "accounting"  # accounting | token
    tenant_id: str | None = None
    path: str | None = None  # only calls whose path contains this, e.g. "/Invoices"


class FaultPlan:
    """Faults waiting for the next matching calls, consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, target: str, tenant_id: str | None = None,
             path: str = "") -> Fault | None:
        """Consume one unit of the first fault matching this call, if any."""
        with self._lock:
            for fault in self._faults:
                if (fault.target == target and fault.tenant_id in (None, tenant_id)
                        and (fault.path is None or fault.path in path)):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


async def drop_connection(scope: Scope) -> None:
    """Close the client's socket without a response, as a dying load balancer would."""
    # uvicorn hands the app a bound method of its request cycle, which owns the transport.
    cycle = getattr(scope.get(RAW_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionDropped("sandbox fault: connection dropped")
    transport.abort()
    for _ in range(3):  # let uvicorn see the disconnect so it does not try to send a 500
        await asyncio.sleep(0)


def fault_body(status: int) -> bytes:
    """What a Xero edge failure looks like: a short plain body, not Accounting JSON."""
    return {503: b"Service Unavailable", 502: b"Bad Gateway"}.get(status, b"Internal Server Error")


# Answers from Xero's front end instead of the API: HTML, plain text or nothing at all.
BODY_FAULTS = ("html", "text", "empty")


def fault_page(kind: str, status: int) -> tuple[bytes, str | None]:
    """(body, content type) of an edge answer: an HTML error page, a plain line, or empty."""
    if kind == "html":
        title = f"{status} {fault_body(status).decode()}"
        page = (f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
                f"<h1>{title}</h1><p>The server encountered a temporary error.</p>"
                "<script>/* edge page */</script></body></html>")
        return page.encode(), "text/html; charset=utf-8"
    if kind == "text":
        return fault_body(status), "text/plain; charset=utf-8"
    return b"", None


def truncate(body: bytes) -> bytes:
    """JSON cut short mid-way, as a dropped proxy buffer leaves it (never valid JSON)."""
    return body[: max(1, len(body) * 2 // 3)]


def json_response(body: object, status: int = 200) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = msgspec.json.decode(raw)
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _money(body: dict[str, Any], name: str) -> Decimal:
    """A positive, finite amount: NaN, Infinity, zero and negatives are a 400, not a 500."""
    if name not in body:
        raise ValueError(f"{name} is required")
    return to_amount(body[name], name)


def _date(body: dict[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(str(body[name]))
    except (KeyError, ValueError):
        raise ValueError(f"{name} must be a date like 2026-07-31") from None


def _parse_fault(body: dict[str, Any]) -> Fault:
    kind = str(body.get("kind", ""))
    status = int(body.get("status", 500))
    if kind.isdigit():  # {"kind": "503"} is shorthand for a status fault
        kind, status = "status", int(kind)
    if kind not in ("status", "drop", "delay", "truncated", *BODY_FAULTS):
        raise ValueError("kind must be 500, 503, status, drop, delay, html, text, empty or "
                         "truncated")
    target = str(body.get("target", "accounting"))
    if target not in ("accounting", "token"):
        raise ValueError("target must be accounting or token")
    count = int(body.get("count", 1))
    if kind == "truncated":
        status = 200  # a success whose JSON is cut short
    if count < 1 or not 100 <= status <= 599:
        raise ValueError("count must be positive and status an HTTP status")
    path = body.get("path")
    if path is not None and not isinstance(path, str):
        raise ValueError("path must be text, e.g. /Invoices")
    return Fault(kind, count, status, int(body.get("delay_ms", body.get("ms", 0))), target,
                 body.get("tenant_id"), path)


def control_routes(*, store: IdentityStore, ledger: Any, stats: SandboxStats, faults: FaultPlan,
                   on_handshake: Callable[[], None] | None = None) -> list[BaseRoute]:
    """Every `/_sandbox/` route; handlers answer JSON, 400 for bad input, 404 for unknown ids."""

    def handler(action: Callable[[Request, dict[str, Any]], object]):
        async def endpoint(request: Request) -> Response:
            try:
                body = await _json(request)
                return json_response(action(request, body))
            except (KeyError, LookupError) as exc:
                return json_response({"error": "not_found", "detail": str(exc)}, 404)
            except (ValueError, TypeError, ArithmeticError, msgspec.DecodeError) as exc:
                return json_response({"error": "bad_request", "detail": str(exc)}, 400)
        return endpoint

    def tenant(request: Request) -> str:
        tenant_id = request.path_params["tenant_id"]
        if tenant_id not in {o.organisation_id for o in ledger.organisations}:
            raise KeyError(f"unknown tenant {tenant_id}")
        return tenant_id

    def summary(request: Request, body: dict[str, Any]) -> object:
        return {"organisations": [{"tenant_id": o.organisation_id, "name": o.name,
                                   "short_code": o.short_code} for o in ledger.organisations],
                "users": [{"email": u.email, "roles": dict(u.roles)} for u in ledger.users]}

    def revoke_connection(request: Request, body: dict[str, Any]) -> object:
        removed = store.disconnect(request.path_params["id"])
        if removed is None:
            raise KeyError("unknown connection")
        if body.get("revoke_tokens"):
            store.revoke_user_tokens(removed.user_email)
        return {"revoked": [removed.to_json()]}

    def revoke_tenant(request: Request, body: dict[str, Any]) -> object:
        removed = store.disconnect_tenant(tenant(request))
        if body.get("revoke_tokens"):
            for connection in removed:
                store.revoke_user_tokens(connection.user_email)
        return {"revoked": [c.to_json() for c in removed]}

    def expire_tokens(request: Request, body: dict[str, Any]) -> object:
        kind = str(body.get("kind", "all"))
        if kind not in ("access", "refresh", "all"):
            raise ValueError("kind must be access, refresh or all")
        return {"expired": store.expire_tokens(kind, body.get("token"))}

    def add_fault(request: Request, body: dict[str, Any]) -> object:
        fault = _parse_fault(body)
        faults.add(fault)
        return {"pending": faults.pending()}

    def clear_faults(request: Request, body: dict[str, Any]) -> object:
        faults.clear()
        return {"pending": []}

    def reset_stats(request: Request, body: dict[str, Any]) -> object:
        stats.reset()
        return stats.snapshot()

    def handshake(request: Request, body: dict[str, Any]) -> object:
        if on_handshake is None:
            raise ValueError("no webhook is configured")
        on_handshake()
        return {"webhook": stats.snapshot()["webhook"]}

    def invoice_change(change: Callable[..., object], **reader: Callable[[dict], object]):
        def action(request: Request, body: dict[str, Any]) -> object:
            args = {name: read(body) for name, read in reader.items()}
            return change(tenant(request), request.path_params["invoice_id"], **args)
        return action

    def add_invoice(request: Request, body: dict[str, Any]) -> object:
        allowed = {"contact_id", "total", "due_in_days", "currency", "status"}
        if unknown := set(body) - allowed:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        if body.get("total") is not None:
            body["total"] = _money(body, "total")
        return ledger.add_invoice(tenant(request), **body)

    def edit_contact(request: Request, body: dict[str, Any]) -> object:
        return ledger.edit_contact(tenant(request), request.path_params["contact_id"], **body)

    def archive_contact(request: Request, body: dict[str, Any]) -> object:
        return ledger.archive_contact(tenant(request), request.path_params["contact_id"])

    invoice = PREFIX + "/ledger/{tenant_id}/invoices/{invoice_id}"
    contact = PREFIX + "/ledger/{tenant_id}/contacts/{contact_id}"
    return [
        Route(PREFIX + "/stats", handler(lambda r, b: stats.snapshot()), methods=["GET"]),
        Route(PREFIX + "/reset-stats", handler(reset_stats), methods=["POST"]),
        Route(PREFIX + "/faults", handler(lambda r, b: {"pending": faults.pending()}),
              methods=["GET"]),
        Route(PREFIX + "/faults", handler(add_fault), methods=["POST"]),
        Route(PREFIX + "/faults", handler(clear_faults), methods=["DELETE"]),
        Route(PREFIX + "/connections",
              handler(lambda r, b: [c.to_json() | {"user": c.user_email}
                                    for c in store.connections()]), methods=["GET"]),
        Route(PREFIX + "/connections/{id}/revoke", handler(revoke_connection), methods=["POST"]),
        Route(PREFIX + "/tenants/{tenant_id}/revoke", handler(revoke_tenant), methods=["POST"]),
        Route(PREFIX + "/tokens/expire", handler(expire_tokens), methods=["POST"]),
        Route(PREFIX + "/webhooks/handshake", handler(handshake), methods=["POST"]),
        Route(PREFIX + "/ledger", handler(summary), methods=["GET"]),
        Route(PREFIX + "/ledger/{tenant_id}/invoices", handler(add_invoice), methods=["POST"]),
        Route(invoice + "/payments", handler(invoice_change(
            ledger.add_payment, amount=lambda b: _money(b, "amount"))), methods=["POST"]),
        Route(invoice + "/credit-notes", handler(invoice_change(
            ledger.add_credit_note, amount=lambda b: _money(b, "amount"))), methods=["POST"]),
        Route(invoice + "/prepayments", handler(invoice_change(
            ledger.add_prepayment, amount=lambda b: _money(b, "amount"))), methods=["POST"]),
        Route(invoice + "/overpayments", handler(invoice_change(
            ledger.add_overpayment, amount=lambda b: _money(b, "amount"))), methods=["POST"]),
        Route(invoice + "/due-date", handler(invoice_change(
            ledger.set_due_date, due=lambda b: _date(b, "due"))),
              methods=["POST"]),
        Route(invoice + "/void", handler(invoice_change(ledger.void_invoice)), methods=["POST"]),
        Route(contact, handler(edit_contact), methods=["POST"]),
        Route(contact + "/archive", handler(archive_contact), methods=["POST"]),
    ]
