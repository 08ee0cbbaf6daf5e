"""Several workspaces: Slack OAuth v2 installs on our database, each workspace sees only its own.

The installation and state tables are made by migration 0004 (not create_all), tokens are
stored sealed, and a single-workspace SLACK_BOT_TOKEN keeps working when OAuth is turned on.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, select, text

from storage.db import session_scope
from storage.models import slack_bots, slack_installations, slack_oauth_states
from storage.repositories import get_or_create_workspace, save_connection
from tests.fakes.slack_api import BOT_TOKEN, DEFAULT_TEAM
from tests.fixtures.slack import OAUTH, SlackWorld

SECOND = "T0SECOND01"


def install(world: SlackWorld, team_id: str) -> httpx.Response:
    """Slack's install flow as a browser goes through it: our page, Slack, our redirect."""
    page = httpx.get(f"{world.url}/slack/install")
    assert page.status_code == 200
    authorize = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text)
    assert authorize, page.text
    query = parse_qs(urlsplit(authorize.group(1).replace("&amp;", "&")).query)
    assert set(query["scope"][0].split(",")) == {
        "chat:write", "commands", "im:write", "users:read", "users:read.email"}
    state = query["state"][0]
    cookie = page.headers["set-cookie"].split(";")[0]
    code = world.fake.install_code(team_id, installer="U0INSTALLER", name="Second Co")
    return httpx.get(f"{world.url}/slack/oauth_redirect", params={"code": code, "state": state},
                     headers={"Cookie": cookie})


@pytest.fixture
def oauth_world(make_slack_world) -> SlackWorld:
    """OAuth mode, with the old single-workspace bot token still set."""
    return make_slack_world(**OAUTH)


def test_slack_sdk_tables_match_what_migration_0004_made():
    for built in (SQLAlchemyInstallationStore.build_installations_table(MetaData(),
                                                                       "slack_installations"),
                  SQLAlchemyInstallationStore.build_bots_table(MetaData(), "slack_bots"),
                  SQLAlchemyOAuthStateStore.build_oauth_states_table(MetaData(),
                                                                     "slack_oauth_states")):
        ours = {"slack_installations": slack_installations, "slack_bots": slack_bots,
                "slack_oauth_states": slack_oauth_states}[built.name]
        assert set(built.columns.keys()) == set(ours.columns.keys()), built.name


def test_installing_in_a_second_workspace_stores_a_sealed_token_and_serves_it(oauth_world):
    answer = install(oauth_world, SECOND)
    assert answer.status_code == 200, answer.text
    with session_scope(oauth_world.deps.session_factory) as session:
        tokens = session.execute(text("SELECT team_id, bot_token FROM slack_bots")).all()
    assert {team for team, _ in tokens} == {DEFAULT_TEAM, SECOND}
    assert all(not token.startswith("xox") for _, token in tokens)  # encrypted at rest
    assert oauth_world.app.clients.for_team(SECOND).token == \
        oauth_world.fake.workspace(SECOND).bot_token

    oauth_world.fake.add_user("U0SECOND", team_id=SECOND)
    sent = oauth_world.send.command("help", user="U0SECOND", team_id=SECOND)
    assert sent.response.status_code == 200 and "/chaser status" in sent.response.text


def test_a_replayed_or_forged_install_state_is_refused(oauth_world):
    code = oauth_world.fake.install_code(SECOND)
    answer = httpx.get(f"{oauth_world.url}/slack/oauth_redirect",
                       params={"code": code, "state": "forged"})
    assert answer.status_code == 400
    with session_scope(oauth_world.deps.session_factory) as session:
        teams = set(session.scalars(select(slack_bots.c.team_id)))
    assert SECOND not in teams


def test_the_single_workspace_bot_token_keeps_working_with_oauth_on(oauth_world):
    sent = oauth_world.send.command("help", user="U0MEMBER")
    assert sent.response.status_code == 200 and "/chaser status" in sent.response.text
    assert oauth_world.app.clients.for_team(DEFAULT_TEAM).token == BOT_TOKEN


def test_each_workspace_sees_only_its_own_organisations(oauth_world):
    assert install(oauth_world, SECOND).status_code == 200
    oauth_world.fake.add_user("U0SECOND", team_id=SECOND)
    with session_scope(oauth_world.deps.session_factory) as session:
        first = get_or_create_workspace(session, DEFAULT_TEAM)
        save_connection(session, workspace_id=first.id, tenant_id="t-first",
                        tenant_name="First Org Ltd")
        second = get_or_create_workspace(session, SECOND)
        save_connection(session, workspace_id=second.id, tenant_id="t-second",
                        tenant_name="Second Org Ltd")

    def status(user: str, team: str) -> str:
        sent = oauth_world.send.command("status", user=user, team_id=team)
        return str(oauth_world.fake.wait_for_hook(sent.response_url))

    mine, theirs = status("U0MEMBER", DEFAULT_TEAM), status("U0SECOND", SECOND)
    assert "First Org Ltd" in mine and "Second Org Ltd" not in mine
    assert "Second Org Ltd" in theirs and "First Org Ltd" not in theirs
    sent = oauth_world.send.command("invoice INV-1", user="U0SECOND", team_id=SECOND)
    assert "No invoice INV-1" in str(oauth_world.fake.wait_for_hook(sent.response_url))


def test_uninstalling_forgets_that_workspaces_tokens_only(oauth_world):
    assert install(oauth_world, SECOND).status_code == 200
    sent = oauth_world.send.event({"type": "app_uninstalled"}, team_id=SECOND)
    assert sent.response.status_code == 200
    store = oauth_world.app.clients.installation_store
    oauth_world.fake.wait_for(lambda _fake: store.find_bot(enterprise_id=None,
                                                           team_id=SECOND) is None)
    assert store.find_bot(enterprise_id=None, team_id=DEFAULT_TEAM) is not None


def test_a_workspace_that_never_installed_is_refused(oauth_world):
    sent = oauth_world.send.command("help", user="U0STRANGER", team_id="T0NEVER01")
    assert "/chaser status" not in sent.response.text
    (post,) = oauth_world.fake.wait_for_hook(sent.response_url)
    assert "not set up for this workspace" in post["text"]


def test_revoking_only_user_tokens_keeps_the_bot(oauth_world):
    assert install(oauth_world, SECOND).status_code == 200
    oauth_world.send.event({"type": "tokens_revoked", "tokens": {"oauth": ["U0X"], "bot": []}},
                           team_id=SECOND)
    oauth_world.send.event({"type": "app_home_opened", "user": "U0X", "tab": "messages"},
                           team_id=SECOND)  # handled after the first: the bot is still there
    store = oauth_world.app.clients.installation_store
    assert store.find_bot(enterprise_id=None, team_id=SECOND) is not None


def test_a_cancelled_or_stale_install_says_so_in_one_line_and_installs_nothing(oauth_world):
    page = httpx.get(f"{oauth_world.url}/slack/install")
    state = re.search(r"state=([0-9a-f-]+)", page.text).group(1)
    cookie = page.headers["set-cookie"].split(";")[0]
    # The person pressed Cancel on Slack's page: Slack redirects with error=access_denied.
    cancelled = httpx.get(f"{oauth_world.url}/slack/oauth_redirect",
                          params={"error": "access_denied", "state": state},
                          headers={"Cookie": cookie})
    assert cancelled.status_code == 200
    assert "The install was cancelled on Slack&#x27;s page" in cancelled.text
    assert 'href="/slack/install"' in cancelled.text and "Oops" not in cancelled.text
    # The link finished in another browser (no state cookie), or after its 10 minutes.
    code = oauth_world.fake.install_code(SECOND)
    elsewhere = httpx.get(f"{oauth_world.url}/slack/oauth_redirect",
                          params={"code": code, "state": state})
    with session_scope(oauth_world.deps.session_factory) as session:
        session.execute(text("UPDATE slack_oauth_states SET expire_at = '2000-01-01 00:00:00'"))
    late = httpx.get(f"{oauth_world.url}/slack/oauth_redirect",
                     params={"code": code, "state": state}, headers={"Cookie": cookie})
    for stale in (elsewhere, late):
        assert stale.status_code in (400, 401)
        assert "This install link has expired, was used already" in stale.text
    with session_scope(oauth_world.deps.session_factory) as session:
        assert SECOND not in set(session.scalars(select(slack_bots.c.team_id)))


def test_an_org_wide_install_is_refused_with_oauth_on(oauth_world):
    # With installs stored per workspace, Bolt finds no org-wide installation: a refusal in one
    # line, as for a workspace that never installed, not an error.
    from tests.fakes.slack_requests import block_actions_payload, command_payload

    fake = oauth_world.fake
    grid = {"enterprise_id": "E0GRID001", "org_install": True}
    sent = oauth_world.send.command("help", user="U0GRID", payload=command_payload(
        fake, "help", user="U0GRID", **grid))
    assert sent.response.status_code == 200 and "/chaser status" not in sent.response.text
    (post,) = fake.wait_for_hook(sent.response_url)
    assert "not set up for this workspace" in post["text"]
    click = block_actions_payload(fake, {"action_id": "renamed_long_ago", "value": "x"},
                                  user="U0GRID", **grid)
    clicked = oauth_world.send.interaction(click)
    assert clicked.response.status_code == 200
    (told,) = fake.wait_for_hook(click["response_url"])
    assert "not set up for this workspace" in told["text"]
