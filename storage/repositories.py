"""Plain functions over a Session: the only way the rest of the app reads and writes storage.

Read-only queries (storage.queries), sync upserts (storage.upserts), the audit trail
(storage.audit) and OAuth states (storage.oauth) live apart and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.audit import record_audit
from storage.db import READ_ONLY
from storage.models import (
    CLI_WORKSPACE_TEAM_ID,
    ConnectionStatus,
    ExpectedDateSource,
    Invoice,
    MemberRole,
    SyncState,
    Workspace,
    WorkspaceMember,
    XeroConnection,
)
from storage.oauth import consume_oauth_state, create_oauth_state, hash_oauth_state
from storage.queries import (
    contact_email_keys,
    invoice_by_number,
    locally_held_expected_dates,
    open_invoices,
    overdue_invoices,
    owing_rows,
)
from storage.upserts import (
    add_contact_emails,
    contact_ids_by_xero_id,
    replace_contact_emails,
    upsert_contacts,
    upsert_invoices,
)

__all__ = [
    "LockOrderError",
    "add_contact_emails",
    "adopt_cli_connections",
    "cli_workspace",
    "connections_by_xero_user",
    "consume_oauth_state",
    "contact_email_keys",
    "contact_ids_by_xero_id",
    "create_oauth_state",
    "get_connection",
    "get_or_create_workspace",
    "get_sync_state",
    "hash_oauth_state",
    "invoice_by_number",
    "list_connections",
    "locally_held_expected_dates",
    "lock_connection_for_update",
    "lock_workspace_connections",
    "open_invoices",
    "overdue_invoices",
    "owing_rows",
    "record_audit",
    "release_local_expected_dates",
    "replace_contact_emails",
    "save_connection",
    "save_connection_tokens",
    "save_sync_state",
    "set_connection_status",
    "set_local_expected_payment_date",
    "set_workspace_members",
    "upsert_contacts",
    "upsert_invoices",
    "workspace_by_team_id",
    "workspace_member_ids",
]


# Parameters per IN (...) list, well under SQLite's limit.
_IN_CHUNK = 500


class LockOrderError(RuntimeError):
    """A row lock was requested in a read-only transaction."""


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


# Workspaces ---------------------------------------------------------------------------


def workspace_by_team_id(session: Session, slack_team_id: str) -> Workspace | None:
    """The workspace for a Slack team id, if installed."""
    return session.scalars(
        select(Workspace).where(Workspace.slack_team_id == slack_team_id)
    ).one_or_none()


def get_or_create_workspace(
    session: Session, slack_team_id: str, *, name: str | None = None, now: datetime | None = None
) -> Workspace:
    """The workspace for a team id, created on first sight; a given name is kept current."""
    workspace = workspace_by_team_id(session, slack_team_id)
    if workspace is None:
        workspace = Workspace(slack_team_id=slack_team_id, name=name, installed_at=_now(now))
        session.add(workspace)
    elif name is not None:
        workspace.name = name
    session.flush()
    return workspace


def cli_workspace(session: Session, *, now: datetime | None = None) -> Workspace:
    """The pseudo-workspace owning connections made from the CLI without Slack."""
    return get_or_create_workspace(session, CLI_WORKSPACE_TEAM_ID, name="CLI", now=now)


def adopt_cli_connections(
    session: Session, workspace_id: int, *, actor: str, now: datetime | None = None
) -> tuple[list[XeroConnection], list[XeroConnection]]:
    """Move the CLI workspace's connections into this workspace: (moved, left).

    Each row moves once however many callers run at once: the CLI rows are locked first (a row
    lock on PostgreSQL; SQLite's write lock is held from BEGIN), and a row only moves while it
    still belongs to the CLI workspace, so a second caller that waited finds nothing left; the
    mover's audit entry is written in the same transaction. A tenant this workspace already has
    stays where it is (left): (workspace, tenant) is unique; while the workspace's copy is
    connected, the terminal's is disconnected (audited), so one organisation is chased once.
    """
    _require_writable(session)
    at = _now(now)
    cli = workspace_by_team_id(session, CLI_WORKSPACE_TEAM_ID)
    if cli is None or cli.id == workspace_id:
        return [], []
    waiting = list(session.scalars(
        select(XeroConnection).where(XeroConnection.workspace_id == cli.id)
        .order_by(XeroConnection.id).with_for_update()
        .execution_options(populate_existing=True)
    ))
    taken: dict[str, str] = {
        tenant: status for tenant, status in session.execute(
            select(XeroConnection.tenant_id, XeroConnection.status)
            .where(XeroConnection.workspace_id == workspace_id))}
    moved: list[XeroConnection] = []
    left: list[XeroConnection] = []
    for connection in waiting:
        if connection.tenant_id in taken:
            # Two live connections to one organisation would each sync it and chase its
            # invoices (the reminders ledger is per connection): the workspace's live one
            # chases, the terminal's copy is retired, its history kept.
            if (taken[connection.tenant_id] == ConnectionStatus.CONNECTED
                    and connection.status != ConnectionStatus.DISCONNECTED):
                connection.status = ConnectionStatus.DISCONNECTED
                connection.updated_at = at
                record_audit(session, action="connection.duplicate_retired", actor=actor, at=at,
                             workspace_id=cli.id, connection_id=connection.id,
                             detail={"tenant_id": connection.tenant_id,
                                     "tenant_name": connection.tenant_name,
                                     "chased_by_workspace_id": workspace_id})
            left.append(connection)
            continue
        result = session.execute(
            update(XeroConnection)
            .where(XeroConnection.id == connection.id, XeroConnection.workspace_id == cli.id)
            .values(workspace_id=workspace_id, updated_at=at)
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:
            continue  # another caller moved it first
        record_audit(session, action="connection.adopted", actor=actor, at=at,
                     workspace_id=workspace_id, connection_id=connection.id,
                     detail={"tenant_id": connection.tenant_id,
                             "tenant_name": connection.tenant_name,
                             "from_workspace_id": cli.id})
        moved.append(connection)
    return moved, left


def set_workspace_members(
    session: Session, workspace_id: int, role: MemberRole, slack_user_ids: Iterable[str]
) -> None:
    """Make exactly these users hold `role` in the workspace."""
    session.execute(
        delete(WorkspaceMember).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.role == role
        )
    )
    session.add_all(
        WorkspaceMember(workspace_id=workspace_id, slack_user_id=user_id, role=role)
        for user_id in dict.fromkeys(slack_user_ids)
    )
    session.flush()


def workspace_member_ids(session: Session, workspace_id: int, role: MemberRole) -> list[str]:
    """User ids holding `role` in the workspace, in the order they were granted."""
    return list(
        session.scalars(
            select(WorkspaceMember.slack_user_id)
            .where(WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.role == role)
            .order_by(WorkspaceMember.id)
        )
    )


# Xero connections ---------------------------------------------------------------------


def get_connection(session: Session, connection_id: int) -> XeroConnection | None:
    """One connection by its primary key."""
    return session.get(XeroConnection, connection_id)


def chasing_workspace_of(session: Session, tenant_id: str,
                         workspace_id: int) -> Workspace | None:
    """Another Slack workspace whose connection to this Xero organisation is not disconnected
    (the terminal's own workspace aside: serve adopts or retires those), if any."""
    return session.scalars(
        select(Workspace).join(XeroConnection, XeroConnection.workspace_id == Workspace.id)
        .where(XeroConnection.tenant_id == tenant_id,
               XeroConnection.workspace_id != workspace_id,
               XeroConnection.status != ConnectionStatus.DISCONNECTED,
               Workspace.slack_team_id != CLI_WORKSPACE_TEAM_ID)
        .order_by(XeroConnection.id).limit(1)
    ).first()


def list_connections(
    session: Session,
    workspace_id: int | None = None,
    *,
    statuses: Sequence[ConnectionStatus] | None = None,
) -> list[XeroConnection]:
    """Connections, optionally of one workspace and in some statuses, oldest first."""
    statement = select(XeroConnection).order_by(XeroConnection.id)
    if workspace_id is not None:
        statement = statement.where(XeroConnection.workspace_id == workspace_id)
    if statuses is not None:
        statement = statement.where(XeroConnection.status.in_(list(statuses)))
    return list(session.scalars(statement))


def connections_by_xero_user(
    session: Session,
    xero_user: str,
    *,
    statuses: Sequence[ConnectionStatus] = (ConnectionStatus.CONNECTED,),
) -> list[XeroConnection]:
    """Connections (connected ones by default) that this Xero user made, ignoring case.

    Emails are compared casefolded: Xero's id_token and users list do not agree on case.
    """
    wanted = xero_user.casefold()
    return [
        connection
        for connection in list_connections(session, statuses=statuses)
        if (connection.connected_by_xero_user or "").casefold() == wanted
    ]


def save_connection(
    session: Session,
    *,
    workspace_id: int | None,
    tenant_id: str,
    now: datetime | None = None,
    **fields: Any,
) -> XeroConnection:
    """Create or update the connection for (workspace, tenant); None means the CLI workspace.

    `fields` are XeroConnection column names. Saving a new token_ciphertext bumps
    token_version, so a concurrent refresher using save_connection_tokens notices.
    """
    at = _now(now)
    if workspace_id is None:
        workspace_id = cli_workspace(session, now=at).id
    unknown = fields.keys() - set(XeroConnection.__table__.columns.keys())
    if unknown or {"id", "workspace_id", "tenant_id", "token_version"} & fields.keys():
        raise ValueError(f"save_connection cannot set {sorted(fields)}")
    connection = session.scalars(
        select(XeroConnection).where(
            XeroConnection.workspace_id == workspace_id, XeroConnection.tenant_id == tenant_id
        )
    ).one_or_none()
    if connection is None:
        connection = XeroConnection(
            workspace_id=workspace_id, tenant_id=tenant_id, connected_at=at, token_version=0
        )
        session.add(connection)
    elif "token_ciphertext" in fields:
        connection.token_version += 1
    for name, value in fields.items():
        setattr(connection, name, value)
    connection.updated_at = at
    session.flush()
    return connection


def save_connection_tokens(
    session: Session,
    connection_id: int,
    *,
    token_ciphertext: str | None,
    token_expires_at: datetime | None,
    expected_version: int,
    now: datetime | None = None,
) -> bool:
    """Store a refreshed token set only if nobody saved one since `expected_version` was read.

    Returns False when another process got there first: Xero rotates refresh tokens, so
    the loser must reload and use the winner's tokens rather than overwrite them.
    None clears the tokens (a disconnected row keeps no usable secret). Either way
    token_version moves on, so anyone holding the old version notices.
    """
    result = session.execute(
        update(XeroConnection)
        .where(
            XeroConnection.id == connection_id,
            XeroConnection.token_version == expected_version,
        )
        .values(
            token_ciphertext=token_ciphertext,
            token_expires_at=token_expires_at,
            token_version=XeroConnection.token_version + 1,
            updated_at=_now(now),
        )
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1


def set_connection_status(
    session: Session,
    connection_id: int,
    status: ConnectionStatus,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Mark a connection connected / needs_reconnect / disconnected, with a reason."""
    session.execute(
        update(XeroConnection)
        .where(XeroConnection.id == connection_id)
        .values(status=status, status_reason=reason, updated_at=_now(now))
        .execution_options(synchronize_session="fetch")
    )


def lock_connection_for_update(session: Session, connection_id: int) -> XeroConnection | None:
    """Lock a connection row until the transaction ends, and return it freshly loaded.

    For read-modify-write of tokens across processes. PostgreSQL: SELECT ... FOR UPDATE,
    a row lock. SQLite has no row locks: every transaction that is not read-only already
    holds the database write lock from its BEGIN (storage.db). In a read-only transaction
    this raises LockOrderError.
    """
    _require_writable(session)
    statement = (
        select(XeroConnection)
        .where(XeroConnection.id == connection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one_or_none()


def lock_workspace_connections(session: Session, connection_id: int) -> list[XeroConnection]:
    """Lock every connection of this connection's workspace, in id order, freshly loaded.

    One statement lists and locks, so a sibling cannot be missed between the two; locking in
    id order means two refreshers of the same workspace never deadlock. Empty when the
    connection does not exist. The rules of lock_connection_for_update apply.
    """
    _require_writable(session)
    workspace_id = (
        select(XeroConnection.workspace_id)
        .where(XeroConnection.id == connection_id)
        .scalar_subquery()
    )
    statement = (
        select(XeroConnection)
        .where(XeroConnection.workspace_id == workspace_id)
        .order_by(XeroConnection.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(statement))


def _require_writable(session: Session) -> None:
    if session.connection().get_execution_options().get(READ_ONLY):
        raise LockOrderError("rows cannot be locked in a read-only transaction")


# Sync state ---------------------------------------------------------------------------


def get_sync_state(session: Session, connection_id: int, entity: str) -> SyncState | None:
    """Where syncing `entity` for a connection got to, if it ever ran."""
    return session.scalars(
        select(SyncState).where(
            SyncState.connection_id == connection_id, SyncState.entity == entity
        )
    ).one_or_none()


def save_sync_state(session: Session, connection_id: int, entity: str, **fields: Any) -> SyncState:
    """Create or update the sync state of one entity; `fields` are SyncState column names."""
    state = get_sync_state(session, connection_id, entity)
    if state is None:
        state = SyncState(connection_id=connection_id, entity=entity)
        session.add(state)
    for name, value in fields.items():
        if name in {"id", "connection_id", "entity"} or not hasattr(SyncState, name):
            raise ValueError(f"save_sync_state cannot set {name!r}")
        setattr(state, name, value)
    session.flush()
    return state


# Invoices -----------------------------------------------------------------------------


def set_local_expected_payment_date(
    session: Session, invoice_id: int, expected: date | None, *, reason: str | None
) -> None:
    """Keep an expected payment date locally (Xero refused it); sync will not overwrite it.

    None is held locally too: Xero refused clearing its date, and ours is "none". Sync hands
    the field back to Xero through release_local_expected_dates once Xero's copy moves on.
    """
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise LookupError(f"no invoice with id {invoice_id}")
    invoice.expected_payment_date = expected
    invoice.expected_payment_date_source = ExpectedDateSource.LOCAL
    invoice.expected_payment_date_reason = reason
    session.flush()


def release_local_expected_dates(
    session: Session, connection_id: int, xero_invoice_ids: Sequence[str]
) -> None:
    """Hand these invoices' expected dates back to Xero: sync upserts overwrite them again."""
    for start in range(0, len(xero_invoice_ids), _IN_CHUNK):
        session.execute(
            update(Invoice)
            .where(
                Invoice.connection_id == connection_id,
                Invoice.xero_invoice_id.in_(xero_invoice_ids[start : start + _IN_CHUNK]),
            )
            .values(
                expected_payment_date_source=ExpectedDateSource.XERO,
                expected_payment_date_reason=None,
            )
            .execution_options(synchronize_session=False)
        )
