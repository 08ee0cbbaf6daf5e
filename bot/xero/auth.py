"""Xero OAuth 2.0 client: code + PKCE, refresh, revoke, connections and id_token checks."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from authlib.common.security import generate_token
from authlib.oauth2.client import OAuth2Client as _AuthlibClient
from authlib.oauth2.rfc6749 import OAuth2Error

from bot.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroServerError,
    XeroTransportError,
    XeroUnreadableAnswer,
    describe_answer,
    error_from_response,
)
from bot.xero.http import new_client
from bot.xero.models import XeroTenantConnection, decode_connections
from bot.xero.tokens import (  # noqa: F401  (TokenManager, TokenStore, REFRESH_MARGIN re-exported)
    REFRESH_MARGIN,
    Clock,
    TokenManager,
    TokenSet,
    TokenStore,
    utc_now,
)

with warnings.catch_warnings():
    # authlib 1.9 nudges towards the httpx2 fork; this project deliberately runs on httpx.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Auth, OAuth2ClientAuth


@dataclass(frozen=True)
class XeroEndpoints:
    """Xero's three hosts; every URL the library calls is derived from them."""

    login_url: str = "https://login.xero.com"
    identity_url: str = "https://identity.xero.com"
    api_url: str = "https://api.xero.com"

    @classmethod
    def single(cls, base_url: str) -> XeroEndpoints:
        """All three hosts on one base URL, as the local sandbox serves them."""
        base = base_url.rstrip("/")
        return cls(base, base, base)

    @property
    def authorize_url(self) -> str:
        return f"{self.login_url.rstrip('/')}/identity/connect/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.identity_url.rstrip('/')}/connect/token"

    @property
    def revocation_url(self) -> str:
        return f"{self.identity_url.rstrip('/')}/connect/revocation"

    @property
    def jwks_url(self) -> str:
        return f"{self.identity_url.rstrip('/')}/.well-known/openid-configuration/jwks"

    @property
    def issuer(self) -> str:
        return self.identity_url.rstrip("/")

    @property
    def connections_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/connections"

    @property
    def accounting_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/api.xro/2.0"


class _SessionClient(_AuthlibClient):
    """authlib's protocol client driving a caller-owned httpx.Client as its session."""

    client_auth_class = OAuth2ClientAuth
    token_auth_class = OAuth2Auth
    SESSION_REQUEST_PARAMS = ("timeout",)


def new_code_verifier() -> str:
    """A fresh PKCE code_verifier: 64 chars from [A-Za-z0-9] (RFC 7636 allows 43–128)."""
    return generate_token(64)


class XeroOAuth:
    """Xero's identity endpoints: authorize URL, code exchange, refresh, revoke, connections."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scopes: str | tuple[str, ...] | list[str],
        endpoints: XeroEndpoints | None = None,
        http: httpx.Client | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.endpoints = endpoints or XeroEndpoints()
        self.scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        self._clock = clock
        # A client we make is ours to close; one handed in belongs to the caller.
        self._owns_http = http is None
        self._http = http or new_client(httpx.Timeout(30.0, connect=10.0))
        # Xero documents HTTP Basic client auth for the token and revocation endpoints;
        # PKCE's verifier is added on top (a confidential client still sends its secret).
        self._client = _SessionClient(
            self._http,
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_basic",
            revocation_endpoint_auth_method="client_secret_basic",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        self.client_id = client_id

    def close(self) -> None:
        """Close the HTTP client if this XeroOAuth made it (it lives as long as the process)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> XeroOAuth:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def authorization_url(
        self, state: str, code_verifier: str, login_hint: str | None = None
    ) -> str:
        """The consent URL to send the user to (response_type=code, S256 challenge)."""
        extra = {"login_hint": login_hint} if login_hint else {}
        url, _ = self._client.create_authorization_url(
            self.endpoints.authorize_url,
            state=state,
            code_verifier=code_verifier,
            scope=self.scope,
            **extra,
        )
        return url

    def exchange_code(self, code: str, code_verifier: str) -> TokenSet:
        """Trade the callback's `code` (single use, 5-minute life) for a TokenSet."""
        return self._token_call(
            lambda: self._client.fetch_token(
                self.endpoints.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
            )
        )

    def refresh(self, refresh_token: str) -> TokenSet:
        """Rotate: returns new access AND refresh tokens; the old refresh token dies.

        Scope is deliberately not re-sent: a refresh keeps the granted scopes, and sending a
        different list is what breaks refreshes in pyxero #296.
        """
        return self._token_call(
            lambda: self._client.refresh_token(
                self.endpoints.token_url, refresh_token=refresh_token
            )
        )

    def verify_client(self) -> None:
        """Prove the client id and secret without a user: refresh a token that cannot exist.

        The token endpoint authenticates the client before it looks at the grant (RFC 6749
        §5.2), so a bad id or secret answers `invalid_client` while good ones reach the grant
        and answer `invalid_grant`. Raises XeroAuthError(reason="invalid_client") when refused.
        """
        try:
            self.refresh("chaser-doctor-probe")
        except XeroAuthError as exc:
            if exc.reason == "invalid_grant":
                return
            raise

    def revoke(self, refresh_token: str) -> None:
        """Revoke the refresh token, which also removes all of this user's connections."""
        try:
            response = self._client.revoke_token(self.endpoints.revocation_url, token=refresh_token)
        except httpx.TransportError as exc:
            raise XeroTransportError(str(exc)) from exc
        if response.status_code >= 400:
            raise _token_error(response)

    def list_connections(self, access_token: str) -> list[XeroTenantConnection]:
        """The tenants (organisations) this access token may call."""
        response = self._bearer("GET", self.endpoints.connections_url, access_token)
        try:
            return decode_connections(response.content)
        except msgspec.DecodeError:  # cut short, malformed or not JSON: like a 5xx
            raise XeroUnreadableAnswer(f"/connections: {describe_answer(response)}") from None

    def delete_connection(self, access_token: str, connection_id: str) -> None:
        """Disconnect one tenant (the connection `id`, not the tenantId)."""
        self._bearer("DELETE", f"{self.endpoints.connections_url}/{connection_id}", access_token)

    def fetch_jwks(self) -> dict[str, Any]:
        """Xero's public signing keys, for `id_token_claims(..., jwks=...)`."""
        response = self._bearer("GET", self.endpoints.jwks_url, None)
        return response.json()

    def id_token_claims(
        self, id_token: str, *, jwks: dict[str, Any] | None = None, leeway: int = 60
    ) -> dict[str, Any]:
        """Claims of an id_token after checking aud, iss and exp (and the RS256 signature
        when `jwks` is given). Who connected: `xero_userid`, `email`, `given_name`…"""
        if jwks is not None:
            claims = _verified_claims(id_token, jwks)
        else:
            # Without keys we still check the claims: the token came straight from Xero's
            # token endpoint over TLS, which OIDC Core §3.1.3.7 accepts in place of a signature.
            claims = jwt_claims_unverified(id_token)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise XeroAuthError("id_token audience mismatch", reason="invalid_id_token")
        if claims.get("iss", "").rstrip("/") != self.endpoints.issuer:
            raise XeroAuthError("id_token issuer mismatch", reason="invalid_id_token")
        now = self._clock().timestamp()
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] + leeway < now:
            raise XeroAuthError("id_token expired", reason="invalid_id_token")
        return claims

    def _token_call(self, call: Callable[[], dict[str, Any]]) -> TokenSet:
        try:
            data = call()
        except OAuth2Error as exc:
            raise XeroAuthError(exc.description or exc.error, reason=exc.error) from exc
        except httpx.HTTPStatusError as exc:
            raise _token_error(exc.response) from exc
        except httpx.TransportError as exc:
            raise XeroTransportError(str(exc)) from exc
        except ValueError:
            # Not JSON at all (an HTML or text page from the front end): a transient fault.
            raise XeroUnreadableAnswer("token endpoint: an answer that is not JSON") from None
        try:
            return TokenSet.from_response(dict(data), self._clock())
        except (KeyError, TypeError, ValueError):
            raise XeroUnreadableAnswer("token endpoint: JSON without an access token") from None

    def _bearer(self, method: str, url: str, access_token: str | None) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        try:
            response = self._http.request(method, url, headers=headers)
        except httpx.TransportError as exc:
            raise XeroTransportError(str(exc)) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def _token_error(response: httpx.Response) -> XeroError:
    """Only an OAuth error in JSON ({"error": "invalid_grant"}) is a refusal; a 5xx, an HTML
    page or an empty body is a transient fault that says nothing about our grant."""
    if response.status_code >= 500:
        return XeroServerError(describe_answer(response), status=response.status_code)
    try:
        reason = response.json().get("error")
    except (ValueError, AttributeError):
        reason = None
    if not isinstance(reason, str) or not reason:
        return XeroUnreadableAnswer(describe_answer(response), status=response.status_code)
    return XeroAuthError(reason, reason=reason, status=response.status_code)


def jwt_claims_unverified(token: str) -> dict[str, Any]:
    """A JWT's payload without checking its signature (XeroAuthError when it is not a JWT).

    Only for tokens that came straight from Xero over TLS, or for reading hints such as
    an access token's authentication_event_id.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise XeroAuthError("token is not a JWT", reason="invalid_id_token") from exc
    if not isinstance(claims, dict):
        raise XeroAuthError("token payload is not an object", reason="invalid_id_token")
    return claims


def _verified_claims(id_token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    # joserfc is authlib's own JOSE engine (authlib.jose is deprecated in its favour).
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise XeroAuthError(f"id_token signature: {exc}", reason="invalid_id_token") from exc
    return dict(token.claims)
