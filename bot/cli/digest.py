"""`chaser digest`: the daily digest printed in the terminal, or posted to its Slack channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from bot.chasing.digest import Digest
from bot.chasing.digest_builder import DigestBuilder
from bot.cli.blocks_text import render_blocks
from bot.cli.support import choose_connections, migrated_context
from bot.config import ConfigError, Settings
from bot.messages import TERMINAL

if TYPE_CHECKING:
    from bot.chasing.digest_post import DigestPoster, DigestPostResult
    from bot.deps import AppDeps


def print_digest(console: Console, digest: Digest) -> None:
    """The digest's blocks as the terminal shows them (commands written for the terminal)."""
    from bot.blocks.digest import digest_blocks

    blocks = digest_blocks(digest, TERMINAL)
    for block, text in zip(blocks, render_blocks(blocks, width=console.width), strict=True):
        console.print(text)
        if block["type"] in ("header", "actions", "divider") or block.get("fields"):
            console.print()  # a blank line after each invoice and between the parts


def _targets(ctx: AppDeps, org: str | None) -> list[int]:
    from storage import repositories
    from storage.db import session_scope

    with session_scope(ctx.session_factory) as session:
        return [c.id for c in choose_connections(repositories.list_connections(session), org)]


def run_digest(
    settings: Settings, console: Console, *, org: str | None = None, post: bool = False,
    page: int = 1,
) -> int:
    """Print (or with `post`, post) each chosen organisation's digest; the exit code."""
    ctx = migrated_context(settings)
    targets = _targets(ctx, org)
    if not post:
        builder = DigestBuilder(ctx.session_factory, ctx.clock)
        for connection_id in targets:
            digest = builder.build(connection_id, page=page - 1)
            if digest is not None:
                print_digest(console, digest)
        return 0
    poster = digest_poster(ctx, settings)
    failed = False
    for connection_id in targets:
        result = poster.post_digest(connection_id, force=True)
        console.print(_posted_line(result), markup=False)
        failed = failed or result.outcome == "failed"
    return 1 if failed else 0


def digest_poster(ctx: AppDeps, settings: Settings) -> DigestPoster:
    """A DigestPoster posting with the app's bot token, or each workspace's installation
    (no sync: `chaser sync` does that)."""
    from bot.deps import build_digest_poster
    from bot.slack_clients import SlackClients

    if settings.slack_bot_token is None and not settings.slack_oauth_enabled:
        raise ConfigError(  # a setting --post needs: the README's exit 2, as any setting
            "SLACK_BOT_TOKEN is not set: `chaser digest --post` posts with the app's bot token "
            "(xoxb-...); without --post the digest is printed here."
        )
    clients = SlackClients.from_settings(settings, ctx.session_factory, ctx.box)
    return build_digest_poster(ctx, clients.for_team, sync_first=False)


def _posted_line(result: DigestPostResult) -> str:
    from bot.messages import digest_post_outcome

    return digest_post_outcome(result.organisation or str(result.connection_id),
                               result.outcome,
                               result.message.channel_id if result.message else None,
                               result.reason).render(TERMINAL)
