"""A workspace's Xero organisations: picking one by name, and each one's status at a glance.

Every read here is scoped to one workspace, so a Slack workspace only ever sees its own
organisations (and through them their settings, invoices and digests).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import messages
from bot.chasing.lookup_views import OrganisationStatus
from bot.chasing.policy import pause_active
from bot.chasing.receivables import org_today
from bot.chasing.scheduler import JobKind, job_specs, organisation_times
from bot.errors import NotFound, UserFacingError
from storage import repositories
from storage.models import CLI_WORKSPACE_TEAM_ID, ConnectionStatus, SyncState, XeroConnection
from storage.settings import organisation_settings

LIVE = (ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_RECONNECT)


class AmbiguousOrganisation(UserFacingError):
    """Several organisations fit; the message names them."""

    code = "ambiguous"


def workspace_organisations(session: Session, workspace_id: int,
                            statuses: Sequence[ConnectionStatus] = LIVE) -> list[XeroConnection]:
    """The workspace's organisations in those statuses, by name."""
    return list(session.scalars(
        select(XeroConnection)
        .where(XeroConnection.workspace_id == workspace_id,
               XeroConnection.status.in_(list(statuses)))
        .order_by(func.lower(XeroConnection.tenant_name), XeroConnection.id)))


def terminal_organisations(session: Session,
                           statuses: Sequence[ConnectionStatus] = LIVE) -> list[XeroConnection]:
    """The organisations connected from the terminal that no Slack workspace has adopted."""
    cli = repositories.workspace_by_team_id(session, CLI_WORKSPACE_TEAM_ID)
    return [] if cli is None else workspace_organisations(session, cli.id, statuses)


def _label(connection: XeroConnection) -> str:
    return connection.tenant_name or connection.tenant_id


def pick_organisations(connections: Sequence[XeroConnection], name: str | None, *,
                       one: bool = False) -> list[XeroConnection]:
    """The organisations `name` means (name, short code or tenant id, any case; a unique
    prefix will do); every one without a name, unless `one` is wanted and there are several."""
    if not connections:
        raise NotFound(messages.NO_CONNECTIONS)
    if name is None:
        if one and len(connections) > 1:
            raise AmbiguousOrganisation(messages.which_organisation(
                [_label(c) for c in connections]))
        return list(connections)
    wanted = name.strip().casefold()
    exact = [c for c in connections
             if wanted in {_label(c).casefold(), (c.short_code or "").casefold(),
                           c.tenant_id.casefold()}]
    found = exact or [c for c in connections if _label(c).casefold().startswith(wanted)]
    if len(found) == 1:
        return found
    if not found:
        raise NotFound(messages.no_such_organisation(name, [_label(c) for c in connections]))
    raise AmbiguousOrganisation(messages.which_organisation([_label(c) for c in found]))


def organisation_statuses(session: Session, workspace_id: int, now: datetime
                          ) -> list[OrganisationStatus]:
    """Each live organisation: connection, last sync and outcome, next digest, paused or not."""
    return connection_statuses(session, workspace_organisations(session, workspace_id), now)


def connection_statuses(session: Session, organisations: Sequence[XeroConnection],
                        now: datetime) -> list[OrganisationStatus]:
    """These organisations' statuses, as /chaser status and `chaser status` show them."""
    times = {t.connection_id: t for t in organisation_times(session, organisations)}
    statuses = []
    for connection in organisations:
        settings = organisation_settings(session, connection.id)
        syncs = list(session.scalars(select(SyncState).where(
            SyncState.connection_id == connection.id)))
        last = max((s.last_sync_at for s in syncs if s.last_sync_at), default=None)
        error = next((s.last_error for s in syncs if s.last_error), None)
        next_digest = None
        if connection.id in times and settings.digest_channel_id:
            for spec in job_specs(times[connection.id]):
                if spec.kind is JobKind.DIGEST:
                    next_digest = spec.trigger().get_next_fire_time(None, now)
        today = org_today(now, connection.timezone)
        needs_reconnect = connection.status == ConnectionStatus.NEEDS_RECONNECT
        statuses.append(OrganisationStatus(
            connection_id=connection.id, name=_label(connection),
            needs_reconnect=needs_reconnect, reason=connection.status_reason,
            last_sync_at=last, last_sync_error=error, next_digest_at=next_digest,
            digest_channel_id=settings.digest_channel_id,
            paused=pause_active(settings.chasing_paused, settings.chasing_paused_until, today),
            paused_until=settings.chasing_paused_until,
        ))
    return statuses
