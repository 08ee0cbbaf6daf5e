"""Xero's identity HTTP endpoints: token, revocation, connections and OpenID discovery."""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.identity import AccessGrant, GrantError, IdentityStore, TokenRejected
from bot.sandbox.identity_scopes import KNOWN_SCOPES
from bot.sandbox.limits import SandboxStats

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def issuer_of(request: Request, public_url: str | None = None) -> str:
    """The sandbox base URL as clients see it: the `iss` of every token we sign."""
    return (public_url or str(request.base_url)).rstrip("/")


def xero_problem(status: int, detail: str) -> JSONResponse:
    """Xero's API error body: {"Type":null,"Title":…,"Status":…,"Detail":…,"Instance":…}."""
    title = {401: "Unauthorized", 403: "Forbidden"}.get(status, "Error")
    return JSONResponse({"Type": None, "Title": title, "Status": status, "Detail": detail,
                         "Instance": str(uuid.uuid4()), "Extensions": {}}, status_code=status)


def bearer_grant(request: Request, store: IdentityStore) -> AccessGrant:
    """The access grant of the request's `Authorization: Bearer` token, or TokenRejected."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("AuthenticationUnsuccessful")
    return store.authenticate(token.strip())


def _oauth_error(error: GrantError) -> JSONResponse:
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    headers = dict(_NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
    return JSONResponse(body, status_code=error.status, headers=headers)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """client_secret_basic as Xero documents it, or client_secret_post as a courtesy."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise GrantError("invalid_client", status=401) from None
        # RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
        return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
    return form.get("client_id", ""), form.get("client_secret", "")


def identity_routes(store: IdentityStore, stats: SandboxStats,
                    public_url: str | None = None) -> list[BaseRoute]:
    """Routes for /connect/token, /connect/revocation, /connections and /.well-known."""
    client = store.client

    def authenticate_client(request: Request, form: dict[str, str]) -> None:
        client_id, secret = _client_credentials(request, form)
        ok_id = secrets.compare_digest(client_id.encode(), client.client_id.encode())
        ok_secret = secrets.compare_digest(secret.encode(), client.client_secret.encode())
        if not (ok_id and ok_secret):
            raise GrantError("invalid_client", status=401)

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            authenticate_client(request, form)
            grant_type = form.get("grant_type")
            issuer = issuer_of(request, public_url)
            if grant_type == "authorization_code":
                if not form.get("code"):
                    raise GrantError("invalid_request", "code is required")
                body = store.exchange_code(code=form["code"], redirect_uri=form.get("redirect_uri"),
                                           code_verifier=form.get("code_verifier"), issuer=issuer)
                stats.bump("token_exchanges")
            elif grant_type == "refresh_token":
                if not form.get("refresh_token"):
                    raise GrantError("invalid_request", "refresh_token is required")
                try:
                    body = store.refresh(refresh_token=form["refresh_token"], issuer=issuer)
                except GrantError:
                    stats.bump("refresh_failures")
                    raise
                stats.bump("refreshes")
            elif not grant_type:
                raise GrantError("invalid_request", "grant_type is required")
            else:
                raise GrantError("unsupported_grant_type")
        except GrantError as error:
            return _oauth_error(error)
        return JSONResponse(body, headers=_NO_STORE)

    async def revocation(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            authenticate_client(request, form)
            if not form.get("token"):
                raise GrantError("invalid_request", "token is required")
        except GrantError as error:
            return _oauth_error(error)
        store.revoke(form["token"])
        return Response(status_code=200)

    async def list_connections(request: Request) -> Response:
        try:
            grant = bearer_grant(request, store)
        except TokenRejected as rejected:
            return xero_problem(401, rejected.detail)
        event = request.query_params.get("authEventId")
        return JSONResponse([c.to_json() for c in store.connections(grant)
                             if event is None or c.auth_event_id == event])

    async def delete_connection(request: Request) -> Response:
        try:
            grant = bearer_grant(request, store)
        except TokenRejected as rejected:
            return xero_problem(401, rejected.detail)
        if store.disconnect(request.path_params["id"], grant) is None:
            return Response(status_code=404)
        return Response(status_code=204)

    async def discovery(request: Request) -> Response:
        base = issuer_of(request, public_url)
        return JSONResponse({
            "issuer": base,
            "authorization_endpoint": f"{base}/identity/connect/authorize",
            "token_endpoint": f"{base}/connect/token",
            "revocation_endpoint": f"{base}/connect/revocation",
            "jwks_uri": f"{base}/.well-known/openid-configuration/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted(KNOWN_SCOPES),
            "claims_supported": ["sub", "xero_userid", "email", "given_name", "family_name",
                                 "preferred_username", "global_session_id"],
        })

    async def jwks(request: Request) -> Response:
        return JSONResponse(store.signer.jwks())

    return [
        Route("/connect/token", token, methods=["POST"]),
        Route("/connect/revocation", revocation, methods=["POST"]),
        # xero-identity.yaml spells it /Connections; Xero's docs and SDKs use /connections.
        Route("/connections", list_connections, methods=["GET"]),
        Route("/Connections", list_connections, methods=["GET"]),
        Route("/connections/{id}", delete_connection, methods=["DELETE"]),
        Route("/Connections/{id}", delete_connection, methods=["DELETE"]),
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/.well-known/openid-configuration/jwks", jwks, methods=["GET"]),
    ]

