"""Organisations connected from the terminal join the one Slack workspace a bot token serves."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from storage import repositories
from storage.db import session_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adoption:
    """What one adoption pass did: the organisations it moved, and those it had to leave."""

    workspace_id: int
    adopted: tuple[str, ...] = ()
    # Already connected in the workspace too: (workspace, tenant) is unique, so the terminal's
    # row stays behind; connecting again with SLACK_BOT_TOKEN set reconnects the workspace's.
    left: tuple[str, ...] = ()


def adopt_terminal_connections(session_factory: sessionmaker[Session],
                               clock: Callable[[], datetime], team_id: str, *,
                               team_name: str | None = None,
                               actor: str = "chaser serve") -> Adoption:
    """Move every organisation connected from the terminal into the workspace of `team_id`.

    Only for a single bot token: that token speaks for exactly one workspace (auth.test names
    it), so whoever ran `chaser connect` meant that one. With OAuth installs nobody can tell,
    and nothing is moved. Safe to run from several instances at once: each organisation moves,
    is audited and logged once (storage.repositories.adopt_cli_connections decides).
    """
    for attempt in range(2):  # another instance may create the workspace row at once
        try:
            with session_scope(session_factory) as session:
                now = clock()
                workspace = repositories.get_or_create_workspace(session, team_id,
                                                                 name=team_name, now=now)
                moved, left = repositories.adopt_cli_connections(session, workspace.id,
                                                                 actor=actor, now=now)
                result = Adoption(
                    workspace_id=workspace.id,
                    adopted=tuple(c.tenant_name or c.tenant_id for c in moved),
                    left=tuple(c.tenant_name or c.tenant_id for c in left),
                )
            break
        except IntegrityError:
            if attempt:
                raise
    for name in result.adopted:
        log.info("%s, connected from the terminal, now belongs to Slack workspace %s", name,
                 team_id)
    return result
