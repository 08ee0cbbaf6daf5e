"""Identity state as Xero keeps it: consent codes, token grants, rotation and connections."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from bot.sandbox.identity_jwt import InvalidJWT, JWTSigner, at_hash

CODE_TTL = 5 * 60  # "expires 5 minutes after issuance" (Xero auth-flow doc)
ACCESS_TTL = 30 * 60  # expires_in: 1800 (https://developer.xero.com/faq/oauth2)
ID_TOKEN_TTL = 5 * 60
REFRESH_TTL = 60 * 86_400  # "Unused refresh tokens expire after 60 days" (FAQ oauth2)
# Xero FAQ oauth2: "If … you don't receive the response you can retry refreshing your existing
# refresh token for a grace period of 30 minutes." Our reading, since what Xero returns is
# unconfirmed: a retry with the *immediately previous* token, within 30 minutes of its rotation
# and while its successor is still unused, returns a fresh pair and kills the successor (the lost
# answer), keeping one live token set per user as Xero staff advise. Anything older, or any
# retry once the successor has been used, is invalid_grant. Set the grace to 0 for strict rotation.
REFRESH_GRACE = 30 * 60

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class GrantError(Exception):
    """An OAuth error for the token endpoint (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status


class TokenRejected(Exception):
    """A bearer token the API refuses; `detail` is Xero's Detail (TokenExpired, …)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def xero_timestamp(epoch: float) -> str:
    """Identity-service style UTC time without offset: 2019-12-07T18:46:19.5165400."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


@dataclass(frozen=True)
class ClientRegistration:
    """The one app the sandbox knows: its credentials and allowed redirect URIs."""

    client_id: str = SANDBOX_CLIENT_ID
    client_secret: str = SANDBOX_CLIENT_SECRET
    redirect_uris: tuple[str, ...] = ()

    def allows_redirect(self, uri: str) -> bool:
        """Exact match against the list; with no list, any http(s) localhost/127.0.0.1 URI."""
        if self.redirect_uris:
            return uri in self.redirect_uris
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            return False
        return (parts.scheme in ("http", "https") and parts.hostname in ("localhost", "127.0.0.1")
                and not parts.fragment)


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user_email: str
    scopes: tuple[str, ...]
    auth_event_id: str
    code_challenge: str | None
    nonce: str | None
    issued_at: float
    used: bool = False
    family_id: str | None = None


@dataclass
class RefreshGrant:
    token: str
    family_id: str
    client_id: str
    user_email: str
    scopes: tuple[str, ...]
    auth_event_id: str
    session_id: str
    expires_at: float
    status: str = "live"  # live | rotated | revoked
    successor: str | None = None
    rotated_at: float | None = None


@dataclass
class AccessGrant:
    """What a valid access token stands for; API handlers read it from request state."""

    jti: str
    family_id: str
    client_id: str
    user_email: str
    xero_userid: str
    scopes: tuple[str, ...]
    auth_event_id: str
    expires_at: float


@dataclass
class Connection:
    id: str
    client_id: str
    user_email: str
    tenant_id: str
    tenant_name: str
    auth_event_id: str
    created_at: float
    updated_at: float
    active: bool = True

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "authEventId": self.auth_event_id, "tenantId": self.tenant_id,
                "tenantType": "ORGANISATION", "tenantName": self.tenant_name,
                "createdDateUtc": xero_timestamp(self.created_at),
                "updatedDateUtc": xero_timestamp(self.updated_at)}


@dataclass
class IdentityStore:
    """Every code, token and connection the sandbox has issued, behind one lock."""

    ledger: Any
    client: ClientRegistration
    clock: Callable[[], float]
    signer: JWTSigner = field(default_factory=JWTSigner)
    refresh_grace_seconds: float = REFRESH_GRACE
    _codes: dict[str, AuthCode] = field(default_factory=dict)
    _refresh: dict[str, RefreshGrant] = field(default_factory=dict)
    _access: dict[str, AccessGrant] = field(default_factory=dict)
    _connections: dict[tuple[str, str, str], Connection] = field(default_factory=dict)
    _granted: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # Consent ---------------------------------------------------------------------------------

    def user(self, email: str) -> Any | None:
        try:
            return self.ledger.user_by_email(email)
        except (KeyError, LookupError):
            return None

    def approve(self, *, redirect_uri: str, scopes: list[str], user_email: str,
                tenant_ids: list[str], code_challenge: str | None, nonce: str | None) -> AuthCode:
        """Record a user's consent: connect the tenants and mint a single-use code."""
        with self._lock:
            now, event_id = self.clock(), str(uuid.uuid4())
            for tenant_id in tenant_ids:
                key = (self.client.client_id, user_email, tenant_id)
                name = self.ledger.organisation(tenant_id).name
                existing = self._connections.get(key)
                if existing:
                    # Re-consent keeps the id and created date; updatedDateUtc tells the story.
                    existing.active, existing.updated_at = True, now
                    existing.auth_event_id, existing.tenant_name = event_id, name
                else:
                    self._connections[key] = Connection(str(uuid.uuid4()), self.client.client_id,
                                                        user_email, tenant_id, name, event_id,
                                                        now, now)
            # Xero scopes are additive across re-consents until the token is revoked.
            granted = self._granted.setdefault((self.client.client_id, user_email), set())
            granted.update(scopes)
            ordered = tuple(dict.fromkeys([*scopes, *sorted(granted - set(scopes))]))
            code = AuthCode(secrets.token_urlsafe(32), self.client.client_id, redirect_uri,
                            user_email, ordered, event_id, code_challenge, nonce, now)
            self._codes[code.code] = code
            return code

    # Token endpoint --------------------------------------------------------------------------

    def exchange_code(self, *, code: str, redirect_uri: str | None, code_verifier: str | None,
                      issuer: str) -> dict[str, object]:
        """authorization_code grant: single use, 5 minutes, redirect URI and PKCE verified."""
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                raise GrantError("invalid_grant")
            if grant.used:
                # RFC 6749 §4.1.2: a replayed code SHOULD revoke what it already issued.
                if grant.family_id:
                    self._revoke_family(grant.family_id)
                raise GrantError("invalid_grant")
            grant.used = True
            if self.clock() >= grant.issued_at + CODE_TTL:
                raise GrantError("invalid_grant")
            if redirect_uri != grant.redirect_uri:
                raise GrantError("invalid_grant")
            if grant.code_challenge is not None:
                if code_verifier is None or not _VERIFIER.match(code_verifier):
                    raise GrantError("invalid_grant")
                digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.code_challenge:
                    raise GrantError("invalid_grant")
            grant.family_id = str(uuid.uuid4())
            return self._issue(grant.family_id, grant.user_email, grant.scopes,
                               grant.auth_event_id, str(uuid.uuid4()), issuer, grant.nonce)

    def refresh(self, *, refresh_token: str, issuer: str) -> dict[str, object]:
        """refresh_token grant: rotates on every use, with Xero's 30-minute grace (see top)."""
        with self._lock:
            now = self.clock()
            grant = self._refresh.get(refresh_token)
            if grant is None or grant.status == "revoked" or now >= grant.expires_at:
                raise GrantError("invalid_grant")
            if grant.status == "rotated":
                successor = self._refresh.get(grant.successor or "")
                in_grace = (grant.rotated_at is not None
                            and now - grant.rotated_at < self.refresh_grace_seconds)
                if not (in_grace and successor and successor.status == "live"):
                    raise GrantError("invalid_grant")
                successor.status = "revoked"  # the branch whose answer was lost
            else:
                grant.status, grant.rotated_at = "rotated", now
            issued = self._issue(grant.family_id, grant.user_email, grant.scopes,
                                 grant.auth_event_id, grant.session_id, issuer, None)
            grant.successor = str(issued.get("refresh_token"))
            return issued

    def revoke(self, token: str) -> None:
        """Revoke a refresh token and remove all the user's connections to the app."""
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None:
                return  # RFC 7009 §2.2: an unknown token is not an error
            self._revoke_user(grant.user_email)

    def _issue(self, family_id: str, user_email: str, scopes: tuple[str, ...],
               auth_event_id: str, session_id: str, issuer: str,
               nonce: str | None) -> dict[str, object]:
        user = self.user(user_email)
        if user is None:
            raise GrantError("invalid_grant")
        now, jti = self.clock(), uuid.uuid4().hex
        xero_userid = str(user.global_user_id)
        sub = hashlib.sha256(f"sub:{xero_userid}".encode()).hexdigest()[:32]
        access_claims = {
            "nbf": int(now), "exp": int(now + ACCESS_TTL), "iss": issuer,
            "aud": f"{issuer}/resources", "client_id": self.client.client_id, "sub": sub,
            "auth_time": int(now), "xero_userid": xero_userid, "global_session_id": session_id,
            "sid": session_id, "jti": jti, "authentication_event_id": auth_event_id,
            "scope": list(scopes), "amr": ["pwd"],
        }
        access_token = self.signer.encode(access_claims)
        self._access[jti] = AccessGrant(jti, family_id, self.client.client_id, user_email,
                                        xero_userid, scopes, auth_event_id, now + ACCESS_TTL)
        response: dict[str, object] = {"access_token": access_token}
        if "openid" in scopes:
            # The id_token carries who the user is (email is not in the access token).
            id_claims = {
                "nbf": int(now), "exp": int(now + ID_TOKEN_TTL), "iss": issuer,
                "aud": self.client.client_id, "iat": int(now), "at_hash": at_hash(access_token),
                "sid": session_id, "sub": sub, "auth_time": int(now), "idp": "sandbox",
                "xero_userid": xero_userid, "global_session_id": session_id,
                "preferred_username": user.email, "email": user.email,
                "given_name": user.first_name, "family_name": user.last_name, "amr": ["pwd"],
            }
            if nonce:
                id_claims["nonce"] = nonce
            response["id_token"] = self.signer.encode(id_claims)
        response |= {"expires_in": ACCESS_TTL, "token_type": "Bearer"}
        if "offline_access" in scopes:
            refresh = RefreshGrant(secrets.token_hex(32), family_id, self.client.client_id,
                                   user_email, scopes, auth_event_id, session_id,
                                   now + REFRESH_TTL)
            self._refresh[refresh.token] = refresh
            response["refresh_token"] = refresh.token
        response["scope"] = " ".join(scopes)
        return response

    def _revoke_family(self, family_id: str) -> None:
        for grant in self._refresh.values():
            if grant.family_id == family_id:
                grant.status = "revoked"
        for jti in [j for j, a in self._access.items() if a.family_id == family_id]:
            del self._access[jti]

    def _revoke_user(self, user_email: str) -> None:
        for grant in self._refresh.values():
            if grant.user_email == user_email:
                grant.status = "revoked"
        for connection in self._connections.values():
            if connection.user_email == user_email:
                connection.active = False
        self._granted.pop((self.client.client_id, user_email), None)

    # Bearer API ------------------------------------------------------------------------------

    def authenticate(self, access_token: str) -> AccessGrant:
        """The grant behind a bearer token, or TokenRejected with Xero's Detail."""
        try:
            claims = self.signer.decode(access_token)
        except InvalidJWT:
            raise TokenRejected("AuthenticationUnsuccessful") from None
        with self._lock:
            grant = self._access.get(str(claims.get("jti")))
            if grant is None:
                raise TokenRejected("AuthenticationUnsuccessful")
            if self.clock() >= grant.expires_at:
                raise TokenRejected("TokenExpired")
            return grant

    def connections(self, grant: AccessGrant | None = None) -> list[Connection]:
        """Active connections, all of them or the token user's."""
        with self._lock:
            return [c for c in self._connections.values() if c.active
                    and (grant is None or c.user_email == grant.user_email)]

    def is_connected(self, grant: AccessGrant, tenant_id: str) -> bool:
        with self._lock:
            connection = self._connections.get((grant.client_id, grant.user_email, tenant_id))
            return bool(connection and connection.active)

    def disconnect(self, connection_id: str, grant: AccessGrant | None = None) -> Connection | None:
        """Deactivate one connection (the token user's when a grant is given); None if unknown."""
        with self._lock:
            for connection in self.connections(grant):
                if connection.id == connection_id:
                    connection.active = False
                    return connection
            return None

    # Control ---------------------------------------------------------------------------------

    def disconnect_tenant(self, tenant_id: str) -> list[Connection]:
        with self._lock:
            removed = [c for c in self.connections() if c.tenant_id == tenant_id]
            for connection in removed:
                connection.active = False
            return removed

    def revoke_user_tokens(self, user_email: str) -> None:
        with self._lock:
            for grant in self._refresh.values():
                if grant.user_email == user_email:
                    grant.status = "revoked"

    def expire_tokens(self, kind: str, token: str | None = None) -> int:
        """Make access and/or refresh tokens (one, or all) expired now; returns how many."""
        with self._lock:
            now, count = self.clock(), 0
            if kind in ("access", "all"):
                jti = None
                if token:
                    try:
                        jti = str(self.signer.decode(token).get("jti"))
                    except InvalidJWT:
                        jti = ""
                for grant in self._access.values():
                    if (jti is None or grant.jti == jti) and grant.expires_at > now:
                        grant.expires_at, count = now, count + 1
            if kind in ("refresh", "all"):
                for grant in self._refresh.values():
                    live = grant.status != "revoked" and grant.expires_at > now
                    if live and (token is None or grant.token == token):
                        grant.expires_at, count = now, count + 1
            return count
