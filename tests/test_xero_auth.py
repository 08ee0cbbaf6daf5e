"""XeroOAuth and TokenManager: PKCE code flow, rotation, revocation, id_token checks, the store."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bot.xero.auth import TokenManager, TokenSet, XeroEndpoints, XeroOAuth, new_code_verifier
from bot.xero.client import XeroClient
from bot.xero.errors import XeroAuthError, XeroNotFound
from tests.fixtures.sandbox import DEFAULT_SCOPES, FINANCE, REDIRECT_URI


def oauth_for(sandbox, **kwargs) -> XeroOAuth:
    return XeroOAuth(
        sandbox.config.client_id,
        sandbox.config.client_secret,
        REDIRECT_URI,
        DEFAULT_SCOPES,
        XeroEndpoints.single(sandbox.url),
        **kwargs,
    )


def connect(oauth: XeroOAuth, user: str = FINANCE) -> TokenSet:
    """The whole consent dance against the sandbox: authorize → 302 with code → exchange."""
    verifier = new_code_verifier()
    url = oauth.authorization_url("state-1", verifier, login_hint=user)
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["state-1"]
    return oauth.exchange_code(query["code"][0], verifier)


class MemoryTokenStore:
    """The TokenStore contract in memory: a lock, re-read under it, save before returning."""

    def __init__(self, tokens: TokenSet, clock: Callable[[], datetime]) -> None:
        self.saved = tokens
        self.refresh_calls = 0
        self._clock = clock
        self._lock = threading.Lock()

    def load(self) -> TokenSet:
        return self.saved

    def refresh_locked(
        self, refresh: Callable[[TokenSet], TokenSet], rejected: str | None = None
    ) -> TokenSet:
        with self._lock:
            current = self.saved
            if not current.expires_soon(self._clock()) and current.access_token != rejected:
                return current
            self.refresh_calls += 1
            self.saved = refresh(current)
            return self.saved


def expired(tokens: TokenSet) -> TokenSet:
    return TokenSet(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        id_token=tokens.id_token,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
        scope=tokens.scope,
    )


def unsigned_jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


# Units -------------------------------------------------------------------------------------


def test_endpoints_derive_every_xero_url_from_the_three_hosts() -> None:
    real = XeroEndpoints()
    assert real.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert real.token_url == "https://identity.xero.com/connect/token"
    assert real.revocation_url == "https://identity.xero.com/connect/revocation"
    assert real.connections_url == "https://api.xero.com/connections"
    assert real.accounting_url == "https://api.xero.com/api.xro/2.0"
    local = XeroEndpoints.single("http://127.0.0.1:5050/")
    assert local.token_url == "http://127.0.0.1:5050/connect/token"


def test_authorization_url_carries_an_s256_challenge_scope_state_and_login_hint() -> None:
    oauth = XeroOAuth("cid", "secret", "https://bot.example/xero/callback", ["openid", "email"])
    verifier = new_code_verifier()
    url = oauth.authorization_url("st-1", verifier, login_hint="ana@example.com")
    assert url.startswith("https://login.xero.com/identity/connect/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "https://bot.example/xero/callback",
        "scope": "openid email",
        "state": "st-1",
        "login_hint": "ana@example.com",
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }


def test_code_verifiers_are_long_random_and_url_safe() -> None:
    first, second = new_code_verifier(), new_code_verifier()
    assert first != second and 43 <= len(first) <= 128 and first.isalnum()


def test_token_exchange_authenticates_with_http_basic_and_sends_the_verifier() -> None:
    seen: list[httpx.Request] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"access_token": "a", "refresh_token": "r", "expires_in": 1800, "scope": "x y"}
        return httpx.Response(200, json=body)

    http = httpx.Client(transport=httpx.MockTransport(token_endpoint))
    oauth = XeroOAuth("cid", "s3cret", "https://bot.example/cb", "x y", http=http)
    tokens = oauth.exchange_code("the-code", "the-verifier")
    request = seen[0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:s3cret").decode()
    form = parse_qs(request.content.decode())
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "code_verifier": ["the-verifier"],
        "redirect_uri": ["https://bot.example/cb"],
    }
    assert tokens.scope == ("x", "y") and tokens.refresh_token == "r"


def test_token_set_repr_never_shows_secrets() -> None:
    tokens = TokenSet("access-SECRET", "refresh-SECRET", datetime.now(UTC), "id-SECRET")
    assert "SECRET" not in repr(tokens) and "SECRET" not in str(tokens)


def test_token_set_round_trips_through_json_with_an_aware_expiry() -> None:
    tokens = TokenSet("a", "r", datetime(2026, 7, 14, 1, 2, 3, tzinfo=UTC), "i", ("openid",))
    again = TokenSet.from_json(tokens.to_json())
    assert again == tokens and again.expires_at.tzinfo is not None


def test_token_set_expires_soon_inside_the_five_minute_margin() -> None:
    now = datetime(2026, 7, 14, tzinfo=UTC)
    tokens = TokenSet("a", "r", now + timedelta(minutes=6))
    assert not tokens.expires_soon(now)
    assert tokens.expires_soon(now + timedelta(minutes=1, seconds=1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": 1_000}, "expired"),
    ],
)
def test_id_token_claims_are_checked_even_without_keys(change: dict, message: str) -> None:
    oauth = XeroOAuth("cid", "s", "https://bot.example/cb", "openid")
    claims = {"aud": "cid", "iss": "https://identity.xero.com", "exp": 4_000_000_000}
    assert oauth.id_token_claims(unsigned_jwt(claims))["aud"] == "cid"
    with pytest.raises(XeroAuthError, match=message):
        oauth.id_token_claims(unsigned_jwt(claims | change))


def test_token_manager_returns_the_cached_token_while_it_is_fresh() -> None:
    tokens = TokenSet("a", "r", datetime.now(UTC) + timedelta(minutes=30))
    store = MemoryTokenStore(tokens, lambda: datetime.now(UTC))
    oauth = XeroOAuth("cid", "s", "https://bot.example/cb", "openid")
    manager = TokenManager(oauth, store)
    assert manager.access_token() == "a" and manager.access_token() == "a"
    assert store.refresh_calls == 0


def test_token_manager_uses_another_processs_refresh_instead_of_refreshing_again() -> None:
    now = datetime.now(UTC)
    stale = TokenSet("old", "r-old", now + timedelta(minutes=2))
    fresh = TokenSet("new", "r-new", now + timedelta(minutes=30))
    store = MemoryTokenStore(fresh, lambda: now)  # another process already rotated...
    store.load = lambda: stale  # type: ignore[method-assign]  # ...after we read our copy
    manager = TokenManager(XeroOAuth("cid", "s", "https://x.example/cb", "openid"), store)
    assert manager.access_token() == "new"
    assert manager.refreshes == 0 and store.refresh_calls == 0


# Against the sandbox -----------------------------------------------------------------------


def test_code_exchange_with_pkce_against_the_sandbox_yields_a_usable_token_set(sandbox) -> None:
    oauth = oauth_for(sandbox)
    tokens = connect(oauth)
    assert tokens.access_token and tokens.refresh_token and tokens.id_token
    assert "offline_access" in tokens.scope
    assert tokens.expires_at - datetime.now(UTC) > timedelta(minutes=25)
    connections = oauth.list_connections(tokens.access_token)
    assert {c.tenant_name for c in connections} >= {sandbox.ledger.organisations[0].name}


def test_a_wrong_code_verifier_is_refused_as_invalid_grant(sandbox) -> None:
    oauth = oauth_for(sandbox)
    url = oauth.authorization_url("s", new_code_verifier(), login_hint=FINANCE)
    location = httpx.get(url, follow_redirects=False).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    with pytest.raises(XeroAuthError) as caught:
        oauth.exchange_code(code, new_code_verifier())
    assert caught.value.reason == "invalid_grant"


def test_id_token_signature_verifies_against_the_published_jwks(sandbox) -> None:
    oauth = oauth_for(sandbox)
    tokens = connect(oauth)
    claims = oauth.id_token_claims(tokens.id_token or "", jwks=oauth.fetch_jwks())
    assert claims["email"] == FINANCE and claims["xero_userid"]
    forged = tokens.id_token.rsplit(".", 1)[0] + ".AAAA"  # type: ignore[union-attr]
    with pytest.raises(XeroAuthError, match="signature"):
        oauth.id_token_claims(forged, jwks=oauth.fetch_jwks())


def test_refresh_rotates_both_tokens_and_the_old_refresh_token_dies(make_sandbox) -> None:
    sandbox = make_sandbox(refresh_grace_seconds=0)
    oauth = oauth_for(sandbox)
    first = connect(oauth)
    second = oauth.refresh(first.refresh_token or "")
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    with pytest.raises(XeroAuthError) as caught:
        oauth.refresh(first.refresh_token or "")
    assert caught.value.reason == "invalid_grant"


def test_token_manager_refreshes_ahead_of_expiry_and_the_store_keeps_the_rotation(sandbox):
    oauth = oauth_for(sandbox)
    tokens = connect(oauth)
    store = MemoryTokenStore(expired(tokens), lambda: datetime.now(UTC))
    manager = TokenManager(oauth, store)
    access = manager.access_token()
    assert access != tokens.access_token and manager.refreshes == 1
    assert store.saved.refresh_token != tokens.refresh_token and store.saved.access_token == access
    tenant = oauth.list_connections(access)[0].tenant_id
    assert XeroClient(sandbox.url, manager.access_token, tenant).organisation().name


def test_token_manager_reports_a_rejected_refresh_and_leaves_the_decision_to_the_host(
    sandbox,
) -> None:
    oauth = oauth_for(sandbox)
    tokens = connect(oauth)
    oauth.revoke(tokens.refresh_token or "")
    store = MemoryTokenStore(expired(tokens), lambda: datetime.now(UTC))
    with pytest.raises(XeroAuthError) as caught:
        TokenManager(oauth, store).access_token()
    assert caught.value.reason == "invalid_grant"
    assert store.saved.refresh_token == tokens.refresh_token  # nothing stored changed


def test_revoking_removes_every_connection_of_the_user(sandbox) -> None:
    oauth = oauth_for(sandbox)
    tokens = connect(oauth)
    tenant = oauth.list_connections(tokens.access_token)[0].tenant_id
    oauth.revoke(tokens.refresh_token or "")
    assert oauth.list_connections(tokens.access_token) == []
    with pytest.raises(XeroAuthError) as caught:
        XeroClient(sandbox.url, lambda: tokens.access_token, tenant).organisation()
    assert caught.value.reason == "tenant_disconnected"


def test_deleting_one_connection_leaves_the_others(sandbox) -> None:
    oauth = oauth_for(sandbox)
    tokens = connect(oauth)
    first, *others = oauth.list_connections(tokens.access_token)
    oauth.delete_connection(tokens.access_token, first.id)
    remaining = oauth.list_connections(tokens.access_token)
    assert [c.id for c in remaining] == [c.id for c in others]
    with pytest.raises(XeroNotFound):
        oauth.delete_connection(tokens.access_token, first.id)
