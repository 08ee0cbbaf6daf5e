"""The sandbox's identity service behaves like Xero's: code + PKCE, rotation, scopes, consent."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import KeySet
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from tests.fixtures.sandbox import (
    FINANCE,
    REDIRECT_URI,
    FakeClock,
    api,
    authorize,
    authorize_params,
    basic_auth,
    exchange,
    obtain_tokens,
    pkce_pair,
    refresh,
    tenant_ids,
    web,
    xero_format_checker,
)
from tests.needs import XERO_OPENAPI_DIR, folder_file

AUTHORIZE = "/identity/connect/authorize"


def claims(sandbox, token: str) -> dict:
    """Verify a token against the sandbox's published JWKS, as an OIDC client would."""
    jwks = web.get(f"{sandbox.url}/.well-known/openid-configuration/jwks").json()
    keys = KeySet.import_key_set(jwks)
    return jwt.decode(token, keys).claims


def location_query(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)


def identity_spec() -> dict:
    return yaml.safe_load(folder_file(XERO_OPENAPI_DIR, "xero-identity.yaml").read_text())


# Code flow -------------------------------------------------------------------------------------

def test_code_flow_with_pkce_and_basic_auth_returns_xero_token_set(sandbox):
    tokens = obtain_tokens(sandbox)
    assert list(tokens) == ["access_token", "id_token", "expires_in", "token_type",
                            "refresh_token", "scope"]
    assert tokens["expires_in"] == 1800 and tokens["token_type"] == "Bearer"
    access = claims(sandbox, tokens["access_token"])
    assert access["client_id"] == "chaser-sandbox"
    assert access["exp"] - access["nbf"] == 1800
    assert "accounting.invoices" in access["scope"] and isinstance(access["scope"], list)
    assert access["authentication_event_id"] and access["sub"]
    user = sandbox.ledger.user_by_email(FINANCE)
    assert access["xero_userid"] == user.global_user_id
    identity = claims(sandbox, tokens["id_token"])
    assert identity["aud"] == "chaser-sandbox" and identity["iss"] == sandbox.url
    assert identity["email"] == identity["preferred_username"] == FINANCE
    assert (identity["given_name"], identity["family_name"]) == (user.first_name, user.last_name)
    assert identity["xero_userid"] == user.global_user_id and identity["iat"] and identity["sub"]


def test_openid_discovery_points_at_the_sandbox_paths(sandbox):
    config = web.get(f"{sandbox.url}/.well-known/openid-configuration").json()
    assert config["issuer"] == sandbox.url
    assert config["authorization_endpoint"] == f"{sandbox.url}{AUTHORIZE}"
    assert config["token_endpoint"] == f"{sandbox.url}/connect/token"
    assert config["jwks_uri"] == f"{sandbox.url}/.well-known/openid-configuration/jwks"


def test_client_secret_post_is_accepted_too(sandbox):
    code, verifier = authorize(sandbox)
    response = web.post(f"{sandbox.url}/connect/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier, "client_id": "chaser-sandbox",
        "client_secret": "chaser-sandbox-secret"})
    assert response.status_code == 200


def test_wrong_code_verifier_is_invalid_grant(sandbox):
    code, _ = authorize(sandbox)
    response = exchange(sandbox, code, pkce_pair()[0])
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})


def test_missing_code_verifier_is_invalid_grant_when_a_challenge_was_sent(sandbox):
    code, _ = authorize(sandbox)
    assert exchange(sandbox, code, None).json() == {"error": "invalid_grant"}


def test_code_is_single_use(sandbox):
    code, verifier = authorize(sandbox)
    assert exchange(sandbox, code, verifier).status_code == 200
    second = exchange(sandbox, code, verifier)
    assert (second.status_code, second.json()) == (400, {"error": "invalid_grant"})


def test_code_expires_five_minutes_after_issue(make_sandbox):
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    code, verifier = authorize(sandbox)
    clock.advance(301)
    assert exchange(sandbox, code, verifier).json() == {"error": "invalid_grant"}


def test_redirect_uri_must_match_the_one_authorized(sandbox):
    code, verifier = authorize(sandbox)
    response = exchange(sandbox, code, verifier, redirect_uri="http://localhost:9/other")
    assert response.json() == {"error": "invalid_grant"}


@pytest.mark.parametrize(("auth", "form", "status", "error"), [
    (("chaser-sandbox", "wrong"), {"grant_type": "refresh_token", "refresh_token": "x"},
     401, "invalid_client"),
    (None, {"grant_type": "refresh_token", "refresh_token": "x"}, 401, "invalid_client"),
    ("basic", {"grant_type": "password"}, 400, "unsupported_grant_type"),
    ("basic", {"grant_type": "authorization_code"}, 400, "invalid_request"),
    ("basic", {}, 400, "invalid_request"),
])
def test_token_endpoint_errors_follow_rfc_6749(sandbox, auth, form, status, error):
    auth = basic_auth(sandbox) if auth == "basic" else auth
    response = web.post(f"{sandbox.url}/connect/token", data=form, auth=auth)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_without_offline_access_there_is_no_refresh_token(sandbox):
    tokens = obtain_tokens(sandbox, scope="accounting.invoices.read")
    assert "refresh_token" not in tokens and "id_token" not in tokens
    assert tokens["scope"] == "accounting.invoices.read"


# Refresh ---------------------------------------------------------------------------------------

def test_refresh_rotates_the_refresh_token_and_the_new_one_works(sandbox):
    first = obtain_tokens(sandbox)
    second = refresh(sandbox, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"] and second["expires_in"] == 1800
    third = refresh(sandbox, second["refresh_token"])
    assert third.status_code == 200


def test_rotated_refresh_token_is_invalid_grant_once_its_successor_was_used(sandbox):
    first = obtain_tokens(sandbox)
    second = refresh(sandbox, first["refresh_token"]).json()
    assert refresh(sandbox, second["refresh_token"]).status_code == 200
    reused = refresh(sandbox, first["refresh_token"])
    assert (reused.status_code, reused.json()) == (400, {"error": "invalid_grant"})


def test_strict_rotation_refuses_any_reuse_when_the_grace_is_off(make_sandbox):
    sandbox = make_sandbox(refresh_grace_seconds=0)
    first = obtain_tokens(sandbox)
    assert refresh(sandbox, first["refresh_token"]).status_code == 200
    assert refresh(sandbox, first["refresh_token"]).json() == {"error": "invalid_grant"}


def test_lost_refresh_answer_can_be_retried_in_the_grace_and_kills_the_lost_branch(sandbox):
    first = obtain_tokens(sandbox)
    lost = refresh(sandbox, first["refresh_token"]).json()  # pretend this answer never arrived
    retried = refresh(sandbox, first["refresh_token"])
    assert retried.status_code == 200
    assert refresh(sandbox, lost["refresh_token"]).json() == {"error": "invalid_grant"}
    assert refresh(sandbox, retried.json()["refresh_token"]).status_code == 200


def test_refresh_grace_ends_after_thirty_minutes(make_sandbox):
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    first = obtain_tokens(sandbox)
    refresh(sandbox, first["refresh_token"])
    clock.advance(30 * 60 + 1)
    assert refresh(sandbox, first["refresh_token"]).json() == {"error": "invalid_grant"}


def test_unused_refresh_token_expires_after_sixty_days(make_sandbox):
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    tokens = obtain_tokens(sandbox)
    clock.advance(60 * 86_400)
    assert refresh(sandbox, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_unknown_refresh_token_is_invalid_grant(sandbox):
    response = refresh(sandbox, "not-a-token")
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})


# Bearer API ------------------------------------------------------------------------------------

def test_expired_access_token_gets_401_token_expired(make_sandbox):
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    tokens = obtain_tokens(sandbox)
    clock.advance(1801)
    response = api(sandbox, tokens, "Invoices", tenant_id=tenant_ids(sandbox)[0])
    assert response.status_code == 401
    assert response.json()["Detail"] == "TokenExpired"


@pytest.mark.parametrize("tenant", [None, "00000000-0000-0000-0000-000000000000"])
def test_missing_or_unconnected_tenant_gets_403_authentication_unsuccessful(sandbox, tenant):
    tokens = obtain_tokens(sandbox)
    body = api(sandbox, tokens, "Invoices", tenant_id=tenant).json()
    assert {k: body[k] for k in ("Type", "Title", "Status", "Detail", "Extensions")} == {
        "Type": None, "Title": "Forbidden", "Status": 403,
        "Detail": "AuthenticationUnsuccessful", "Extensions": {}}
    assert body["Instance"]


def test_garbage_bearer_token_gets_401(sandbox):
    response = api(sandbox, "not.a.jwt", "Invoices", tenant_id=tenant_ids(sandbox)[0])
    assert response.status_code == 401


@pytest.mark.parametrize(("scope", "method", "path", "allowed"), [
    ("accounting.invoices.read", "GET", "Invoices", True),
    ("accounting.invoices", "GET", "Invoices", True),
    ("accounting.transactions.read", "GET", "Invoices", True),
    ("accounting.transactions", "GET", "Invoices", True),
    ("accounting.contacts.read", "GET", "Invoices", False),
    ("accounting.invoices.read", "POST", "Invoices/{invoice}", False),
    ("accounting.transactions.read", "POST", "Invoices/{invoice}", False),
    ("accounting.invoices", "POST", "Invoices/{invoice}", True),
    ("accounting.transactions", "POST", "Invoices/{invoice}", True),
    ("accounting.contacts.read", "GET", "Contacts", True),
    ("accounting.contacts", "GET", "Contacts", True),
    ("accounting.transactions", "GET", "Contacts", False),
    ("accounting.settings.read", "GET", "Organisation", True),
    ("accounting.settings", "GET", "Users", True),
    ("accounting.invoices", "GET", "Users", False),
])
def test_each_endpoint_checks_granular_and_broad_scopes(sandbox, scope, method, path, allowed):
    tokens = obtain_tokens(sandbox, scope=scope)
    tenant = tenant_ids(sandbox)[0]
    invoice = sandbox.ledger.invoice_at(tenant, 0).invoice_id
    response = api(sandbox, tokens, path.format(invoice=invoice), tenant_id=tenant, method=method,
                   json={"Invoices": [{"ExpectedPaymentDate": "2030-01-01"}]})
    if allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 401
        assert response.json()["Detail"] == "AuthorizationUnsuccessful"


# Connections and revocation --------------------------------------------------------------------

def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_connections_lists_every_consented_tenant_in_xero_shape(sandbox):
    tokens = obtain_tokens(sandbox)
    connections = web.get(f"{sandbox.url}/connections", headers=bearer(tokens)).json()
    assert sorted(c["tenantId"] for c in connections) == sorted(tenant_ids(sandbox))
    event = claims(sandbox, tokens["access_token"])["authentication_event_id"]
    for connection in connections:
        assert connection["tenantType"] == "ORGANISATION" and connection["authEventId"] == event
        assert set(connection) == {"id", "authEventId", "tenantId", "tenantType", "tenantName",
                                   "createdDateUtc", "updatedDateUtc"}
    filtered = web.get(f"{sandbox.url}/connections", headers=bearer(tokens),
                         params={"authEventId": "00000000-0000-0000-0000-000000000000"})
    assert filtered.json() == []


def test_connections_responses_validate_against_xero_identity_spec(sandbox):
    spec = identity_spec()
    ok = spec["paths"]["/Connections"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["items"] == {"$ref": "#/components/schemas/Connection"}
    schema = {"type": "array", "items": spec["components"]["schemas"]["Connection"]}
    tokens = obtain_tokens(sandbox)
    answer = web.get(f"{sandbox.url}/connections", headers=bearer(tokens)).json()
    assert answer
    OAS30Validator(schema, format_checker=xero_format_checker(oas30_format_checker)).validate(
        answer)


def test_reconsent_keeps_the_connection_id_and_bumps_updated_date(make_sandbox):
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    before = web.get(f"{sandbox.url}/connections", headers=bearer(obtain_tokens(sandbox))).json()
    clock.advance(3600)
    after = web.get(f"{sandbox.url}/connections", headers=bearer(obtain_tokens(sandbox))).json()
    assert [c["id"] for c in before] == [c["id"] for c in after]
    assert all(a["updatedDateUtc"] > a["createdDateUtc"] == b["createdDateUtc"]
               for a, b in zip(after, before, strict=True))


def test_delete_connection_answers_204_then_404_and_the_tenant_is_forbidden(sandbox):
    tokens = obtain_tokens(sandbox)
    connection = web.get(f"{sandbox.url}/connections", headers=bearer(tokens)).json()[0]
    url = f"{sandbox.url}/connections/{connection['id']}"
    assert web.delete(url, headers=bearer(tokens)).status_code == 204
    assert web.delete(url, headers=bearer(tokens)).status_code == 404
    assert api(sandbox, tokens, "Invoices", tenant_id=connection["tenantId"]).status_code == 403
    remaining = web.get(f"{sandbox.url}/connections", headers=bearer(tokens)).json()
    assert connection["id"] not in [c["id"] for c in remaining]


def test_revocation_kills_the_refresh_token_and_removes_all_connections(sandbox):
    tokens = obtain_tokens(sandbox)
    response = web.post(f"{sandbox.url}/connect/revocation", auth=basic_auth(sandbox),
                          data={"token": tokens["refresh_token"]})
    assert response.status_code == 200
    assert refresh(sandbox, tokens["refresh_token"]).json() == {"error": "invalid_grant"}
    assert web.get(f"{sandbox.url}/connections", headers=bearer(tokens)).json() == []


def test_revocation_needs_the_client_secret(sandbox):
    tokens = obtain_tokens(sandbox)
    response = web.post(f"{sandbox.url}/connect/revocation", auth=("chaser-sandbox", "nope"),
                          data={"token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


# Consent page ----------------------------------------------------------------------------------

def consent_form(sandbox, user: str | None = None, **extra: str) -> dict[str, str]:
    params = authorize_params(sandbox, challenge=pkce_pair()[1], user=user)
    return {**{k: v for k, v in params.items() if k != "login_hint"}, **extra}


def test_consent_page_is_a_form_with_users_organisations_allow_and_cancel(sandbox):
    page = web.get(f"{sandbox.url}{AUTHORIZE}", params=consent_form(sandbox))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert f'<form method="post" action="{AUTHORIZE}"' in html
    assert '<select name="login_hint"' in html and FINANCE in html
    for org in sandbox.ledger.organisations:
        assert f'name="tenant" value="{org.organisation_id}"' in html
    assert 'value="allow"' in html and 'value="cancel"' in html


def test_consent_page_lists_only_the_organisations_where_the_user_has_a_role(make_sandbox):
    sandbox = make_sandbox(auto_approve=False)
    first, second = tenant_ids(sandbox)
    page = web.get(f"{sandbox.url}{AUTHORIZE}",
                     params=consent_form(sandbox, login_hint="solo@sandbox.example")).text
    assert f'value="{first}"' in page and f'value="{second}"' not in page


def test_cancel_redirects_with_access_denied_and_the_state(sandbox):
    form = consent_form(sandbox, user=FINANCE, decision="cancel")
    query = location_query(web.post(f"{sandbox.url}{AUTHORIZE}", data=form))
    assert query == {"error": ["access_denied"], "state": ["xyz"]}


def test_allow_for_a_readonly_user_connects_only_the_ticked_organisation(sandbox):
    first, _ = tenant_ids(sandbox)
    verifier, challenge = pkce_pair()
    form = {**authorize_params(sandbox, challenge=challenge, user=None),
            "user": "readonly@sandbox.example", "tenant": first, "decision": "allow"}
    query = location_query(web.post(f"{sandbox.url}{AUTHORIZE}", data=form))
    assert query["state"] == ["xyz"]
    tokens = exchange(sandbox, query["code"][0], verifier).json()
    connections = web.get(f"{sandbox.url}/connections", headers=bearer(tokens)).json()
    assert [c["tenantId"] for c in connections] == [first]


def test_allow_with_an_organisation_outside_the_users_roles_redisplays_the_page(sandbox):
    _, second = tenant_ids(sandbox)
    form = consent_form(sandbox, user="solo@sandbox.example", tenant=second, decision="allow")
    response = web.post(f"{sandbox.url}{AUTHORIZE}", data=form)
    assert response.status_code == 400 and 'id="notice"' in response.text


def test_without_auto_approve_a_login_hint_only_preselects_the_user(make_sandbox):
    sandbox = make_sandbox(auto_approve=False)
    params = authorize_params(sandbox, challenge=pkce_pair()[1], user="adviser@sandbox.example")
    page = web.get(f"{sandbox.url}{AUTHORIZE}", params=params)
    assert page.status_code == 200
    assert 'value="adviser@sandbox.example" selected' in page.text


@pytest.mark.parametrize(("change", "error"), [
    ({"client_id": "someone-else"}, "unauthorized_client"),
    ({"redirect_uri": "https://evil.example/callback"}, "invalid_request"),
    ({"scope": "accounting.everything"}, "invalid_scope"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
])
def test_invalid_authorize_requests_render_an_error_page_and_never_redirect(sandbox, change, error):
    params = authorize_params(sandbox, challenge=pkce_pair()[1]) | change
    response = web.get(f"{sandbox.url}{AUTHORIZE}", params=params)
    assert response.status_code == 400 and "location" not in response.headers
    assert f"Error: {error}" in response.text


def test_missing_code_challenge_is_refused_when_pkce_is_required(make_sandbox):
    sandbox = make_sandbox(require_pkce=True)
    params = authorize_params(sandbox, challenge=None)
    response = web.get(f"{sandbox.url}{AUTHORIZE}", params=params)
    assert response.status_code == 400 and "code_challenge is required" in response.text


def test_restricted_redirect_uris_refuse_other_localhost_uris(make_sandbox):
    sandbox = make_sandbox(redirect_uris=("http://localhost:8080/cb",))
    params = authorize_params(sandbox, challenge=pkce_pair()[1])
    assert web.get(f"{sandbox.url}{AUTHORIZE}", params=params).status_code == 400
    code, _ = authorize(sandbox, redirect_uri="http://localhost:8080/cb")
    assert code


def test_custom_client_credentials_are_enforced(make_sandbox):
    sandbox = make_sandbox(client_id="my-app", client_secret="s3cret")
    tokens = obtain_tokens(sandbox)
    assert json.loads(json.dumps(tokens))["token_type"] == "Bearer"


def test_token_responses_validate_against_xero_identity_access_token_schema(sandbox):
    # AccessToken describes the token endpoint's answer; RefreshToken is the refresh *request*
    # (grant_type, refresh_token, client_id, client_secret), so only the first applies here.
    spec = identity_spec()
    schemas = spec["components"]["schemas"]
    assert set(schemas["RefreshToken"]["properties"]) >= {"grant_type", "refresh_token"}
    validator = OAS30Validator(schemas["AccessToken"], format_checker=oas30_format_checker)
    issued = obtain_tokens(sandbox)
    refreshed = refresh(sandbox, issued["refresh_token"]).json()
    for answer in (issued, refreshed):
        validator.validate(answer)
        assert set(schemas["AccessToken"]["properties"]) - {"id_token"} <= set(answer)
