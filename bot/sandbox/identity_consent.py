"""login.xero.com's authorize endpoint: validation, the consent page, and the redirect back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.identity import IdentityStore
from bot.sandbox.identity_scopes import unknown_scopes

AUTHORIZE_PATH = "/identity/connect/authorize"
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")  # base64url(SHA-256) without padding
_PASSED_ON = ("response_type", "client_id", "redirect_uri", "scope", "state",
              "code_challenge", "code_challenge_method", "nonce")
_templates = Environment(loader=FileSystemLoader(Path(__file__).parent),
                         autoescape=select_autoescape(["html"]))


@dataclass
class AuthorizeRequest:
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    nonce: str | None
    login_hint: str | None
    hidden: list[tuple[str, str]]


class AuthorizeRefused(Exception):
    """A request Xero answers with an error page, never a redirect."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error, self.description = error, description


def parse_authorize(params: QueryParams | FormData, store: IdentityStore,
                    require_pkce: bool) -> AuthorizeRequest:
    """Validate an authorize request, raising AuthorizeRefused for anything Xero would refuse."""
    get = {name: str(params[name]) for name in (*_PASSED_ON, "login_hint") if params.get(name)}
    if get.get("client_id") != store.client.client_id:
        raise AuthorizeRefused("unauthorized_client", "Unknown client or client not enabled")
    redirect_uri = get.get("redirect_uri", "")
    if not store.client.allows_redirect(redirect_uri):
        # Never redirect to a URI we cannot vouch for (RFC 6749 §4.1.2.1).
        raise AuthorizeRefused("invalid_request", "Invalid redirect_uri")
    if get.get("response_type") != "code":
        raise AuthorizeRefused("unsupported_response_type", "response_type must be code")
    scopes = list(dict.fromkeys(get.get("scope", "").split()))
    if not scopes:
        raise AuthorizeRefused("invalid_scope", "scope is required")
    if unknown := unknown_scopes(scopes):
        raise AuthorizeRefused("invalid_scope", f"Invalid scope for client: {' '.join(unknown)}")
    challenge = get.get("code_challenge")
    if challenge is not None:
        # A missing method means `plain` (RFC 7636 §4.3); Xero's PKCE flow is S256 only.
        if get.get("code_challenge_method") != "S256":
            raise AuthorizeRefused("invalid_request", "code_challenge_method must be S256")
        if not _CHALLENGE.match(challenge):
            raise AuthorizeRefused("invalid_request", "code_challenge is malformed")
    elif require_pkce:
        raise AuthorizeRefused("invalid_request", "code_challenge is required")
    hidden = [(name, get[name]) for name in _PASSED_ON if name in get]
    return AuthorizeRequest(redirect_uri, scopes, get.get("state"), challenge, get.get("nonce"),
                            get.get("login_hint"), hidden)


def redirect_with(uri: str, **params: str | None) -> RedirectResponse:
    """302 to `uri` with params appended to any query it already has."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)


def consent_routes(store: IdentityStore, *, auto_approve: bool,
                   require_pkce: bool) -> list[BaseRoute]:
    """GET shows the consent page (or auto-approves); POST records Allow or Cancel."""

    def roles_of(email: str | None) -> dict[str, str]:
        user = store.user(email) if email else None
        return dict(user.roles) if user else {}

    def approve(request: AuthorizeRequest, email: str, tenant_ids: list[str]) -> Response:
        code = store.approve(redirect_uri=request.redirect_uri, scopes=request.scopes,
                             user_email=email, tenant_ids=tenant_ids,
                             code_challenge=request.code_challenge, nonce=request.nonce)
        return redirect_with(request.redirect_uri, code=code.code, scope=" ".join(code.scopes),
                             state=request.state, session_state=code.auth_event_id)

    def page(request: AuthorizeRequest, selected: str | None, notice: str = "") -> Response:
        users = list(store.ledger.users)
        emails = [u.email for u in users]
        selected = selected if selected in emails else (emails[0] if emails else "")
        roles = roles_of(selected)
        # Real Xero lists only organisations where the user is Standard or Adviser. The sandbox
        # lists every organisation where the user has any role, so the bot can meet a READONLY
        # or INVOICEONLY user and prove its own role check (via GET /Users) turns them away.
        organisations = [{"tenant_id": org.organisation_id, "name": org.name,
                          "role": roles[org.organisation_id]}
                         for org in store.ledger.organisations if org.organisation_id in roles]
        html = _templates.get_template("consent.html").render(
            error=None, client_id=store.client.client_id, action=AUTHORIZE_PATH,
            hidden=request.hidden, users=users, selected_user=selected,
            organisations=organisations, scopes=request.scopes, notice=notice)
        return HTMLResponse(html, status_code=400 if notice else 200)

    def refused(error: AuthorizeRefused) -> Response:
        html = _templates.get_template("consent.html").render(
            error=error.error, description=error.description, client_id=store.client.client_id)
        return HTMLResponse(html, status_code=400)

    async def authorize(request: Request) -> Response:
        params: QueryParams | FormData = (
            await request.form() if request.method == "POST" else request.query_params)
        try:
            parsed = parse_authorize(params, store, require_pkce)
        except AuthorizeRefused as error:
            return refused(error)
        if request.method == "GET":
            hint = parsed.login_hint
            if auto_approve and hint and roles_of(hint):
                return approve(parsed, hint, list(roles_of(hint)))
            return page(parsed, hint)
        if params.get("decision") != "allow":
            return redirect_with(parsed.redirect_uri, error="access_denied", state=parsed.state)
        email = str(params.get("user", ""))
        roles = roles_of(email)
        chosen = [str(t) for t in params.getlist("tenant")]
        if not roles:
            return page(parsed, email, "Pick a sandbox user with a role in an organisation.")
        if not chosen or any(t not in roles for t in chosen):
            return page(parsed, email, "Tick at least one of this user's organisations.")
        return approve(parsed, email, chosen)

    return [Route(AUTHORIZE_PATH, authorize, methods=["GET", "POST"])]
