"""`chaser digest`: the same digest in the terminal, or posted to its Slack channel."""

from __future__ import annotations

from typer.testing import CliRunner

from bot.cli.app import app
from storage.db import session_scope
from storage.settings import update_organisation_settings
from tests.fakes.slack_api import BOT_TOKEN
from tests.test_sync_cli import env_for

CHANNEL = "C0DIGEST01"


def synced(make_world):
    world = make_world(orgs=2, contacts=6, invoices=40)
    assert all(r.outcome == "ok" for r in world.ctx.sync_service().sync_all())
    return world


def test_digest_prints_each_organisations_digest_as_slack_would_show_it(make_world, migrated_db,
                                                                        tmp_path):
    world = synced(make_world)
    first, second = (org.name for org in world.ledger.organisations)
    result = CliRunner().invoke(app, ["digest", "--org", first],
                                env=env_for(world, migrated_db, tmp_path))
    assert result.exit_code == 0, result.output
    assert f"Overdue digest · {first}" in result.stdout
    assert "Most overdue (1–" in result.stdout
    assert "[Pause chasing]  [Mark disputed]  [View in Xero ↗]" in result.stdout
    assert second not in result.stdout


def test_digest_post_posts_to_the_channel_once_and_says_where(make_world, migrated_db,
                                                              tmp_path, fake_slack):
    world = synced(make_world)
    fake_slack.add_channel(CHANNEL, "ar-digest")
    with session_scope(world.ctx.session_factory) as session:
        update_organisation_settings(session, world.connection_ids[0], by="test",
                                     digest_channel_id=CHANNEL)
    env = {**env_for(world, migrated_db, tmp_path), "SLACK_BOT_TOKEN": BOT_TOKEN,
           "SLACK_API_URL": fake_slack.api_url}
    result = CliRunner().invoke(app, ["digest", "--post"], env=env)

    assert result.exit_code == 0, result.output
    first, second = (org.name for org in world.ledger.organisations)
    assert f"{first}: digest posted in channel {CHANNEL}." in result.stdout
    assert f"{second}: no digest channel is set; choose one with `/chaser settings`" in (
        " ".join(result.stdout.split()))
    (post,) = fake_slack.calls_to("chat.postMessage", ok=True)
    assert post.args["channel"] == CHANNEL


def test_digest_post_without_a_bot_token_says_what_to_set(make_world, migrated_db, tmp_path):
    world = synced(make_world)
    result = CliRunner().invoke(app, ["digest", "--post"],
                                env=env_for(world, migrated_db, tmp_path))
    assert result.exit_code == 2  # a setting the option needs is missing
    assert "SLACK_BOT_TOKEN is not set" in result.output
    assert "Traceback" not in result.output
