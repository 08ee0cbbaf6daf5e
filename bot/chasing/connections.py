"""Connecting and disconnecting Xero organisations: consent, role check, tokens, audit."""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from bot import messages
from bot.chasing.connection_guard import CLIENT_FAULTS, user_error
from bot.chasing.ports import Clock, ConnectRefused, Notifier, OrganisationConnected, XeroGateway
from bot.errors import ConnectionNotUsable, UserFacingError
from bot.messages import Message
from bot.xero.auth import jwt_claims_unverified, new_code_verifier
from bot.xero.errors import XeroAuthError, XeroError, XeroNotFound
from storage import repositories
from storage.db import session_scope
from storage.models import ConnectionStatus, Workspace, XeroConnection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.secrets import SecretBox
    from bot.xero.auth import TokenSet, XeroOAuth
    from bot.xero.models import Organisation, User, XeroTenantConnection

log = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
# Xero: "The user that connects the integration has to have either Standard or Adviser level
# user permissions" (developer.xero.com/faq/permissions); the API acts with their rights.
ALLOWED_ROLES = frozenset({"STANDARD", "FINANCIALADVISER"})
ROLE_NAMES = {
    "READONLY": "Read only", "INVOICEONLY": "Invoice only", "STANDARD": "Standard",
    "FINANCIALADVISER": "Adviser", "MANAGEDCLIENT": "Managed client",
    "CASHBOOKCLIENT": "Cashbook client", "REMOVED": "Removed",
}
class ConnectError(UserFacingError):
    """Connecting failed as a whole; the message says why and what to do."""

    code = "connect_failed"


class LinkExpired(ConnectError):
    """The OAuth state is unknown, already used or older than ten minutes."""

    code = "link_expired"

    def __init__(self) -> None:
        super().__init__(messages.CONNECT_LINK_EXPIRED)


@dataclass(frozen=True)
class ConnectedOrganisation:
    connection_id: int
    tenant_name: str
    short_code: str | None
    country_code: str | None
    base_currency: str | None
    reconnected: bool


@dataclass(frozen=True)
class RefusedOrganisation:
    tenant_name: str
    reason: str  # a fact, shown as is
    what_to_do: Message  # names a command: rendered for the surface that shows it


@dataclass(frozen=True)
class ConnectResult:
    """What one consent produced: organisations kept and organisations refused."""

    team_id: str
    slack_user_id: str | None
    connected: list[ConnectedOrganisation] = field(default_factory=list)
    refused: list[RefusedOrganisation] = field(default_factory=list)


@dataclass(frozen=True)
class DisconnectResult:
    tenant_name: str
    revoked_at_xero: bool
    # Set when Xero could not be told: the user should remove the app in Xero themselves.
    xero_warning: Message | None = None


def access_token_claims(access_token: str) -> dict[str, object]:
    """The payload of Xero's JWT access token, unverified: only read to pick our own tenants."""
    try:
        return jwt_claims_unverified(access_token)
    except XeroAuthError:
        return {}


def connecting_user(users: list[User], xero_userid: str | None, email: str | None) -> User | None:
    """The organisation's user who consented: by GlobalUserID, else by email (any case)."""
    if xero_userid:
        for user in users:
            if user.global_user_id and user.global_user_id.lower() == xero_userid.lower():
                return user
    if email:
        for user in users:
            if user.email_address and user.email_address.casefold() == email.casefold():
                return user
    return None


def role_refusal(user: User | None) -> str | None:
    """Why this user may not connect the organisation, or None when they may."""
    if user is None:
        return messages.CONNECT_USER_NOT_FOUND
    role = (user.organisation_role or "UNKNOWN").upper()
    if role in ALLOWED_ROLES:
        return None
    return messages.connect_role_refused(ROLE_NAMES.get(role, role.title()))


class ConnectService:
    """Starts and completes Xero consent for a Slack workspace, and disconnects organisations."""

    def __init__(self, session_factory: sessionmaker[Session], box: SecretBox,
                 oauth: XeroOAuth, xero: XeroGateway, *, clock: Clock,
                 notifier: Notifier) -> None:
        self._factory = session_factory
        self._box = box
        self._oauth = oauth
        self._xero = xero
        self._clock = clock
        self._notifier = notifier

    # Start -------------------------------------------------------------------------------

    def start(self, team_id: str, slack_user_id: str | None, *,
              login_hint: str | None = None) -> str:
        """A Xero authorize URL whose state is bound to this team and user, single use, 10 min."""
        state = secrets.token_urlsafe(32)
        verifier = new_code_verifier()
        now = self._clock()
        with session_scope(self._factory) as session:
            workspace = repositories.get_or_create_workspace(session, team_id, now=now)
            repositories.create_oauth_state(
                session, state=state,
                code_verifier_ciphertext=self._box.encrypt(verifier),
                workspace_id=workspace.id, slack_user_id=slack_user_id,
                now=now, expires_at=now + STATE_TTL,
            )
        return self._oauth.authorization_url(state, verifier, login_hint=login_hint)

    def abandon(self, state: str | None) -> None:
        """Use up a state whose consent was cancelled, so the link cannot be replayed."""
        if state:
            with session_scope(self._factory) as session:
                repositories.consume_oauth_state(session, state, self._clock())

    # Complete ----------------------------------------------------------------------------

    def complete(self, state: str, code: str) -> ConnectResult:
        """Finish consent: keep each organisation the user may connect, refuse the others."""
        now = self._clock()
        with session_scope(self._factory) as session:
            pending = repositories.consume_oauth_state(session, state, now)
            if pending is None or pending.workspace_id is None:
                raise LinkExpired()
            workspace_id, slack_user_id = pending.workspace_id, pending.slack_user_id
            workspace = session.get(Workspace, workspace_id)
            if workspace is None:
                raise LinkExpired()
            team_id = workspace.slack_team_id
            verifier = self._box.decrypt(pending.code_verifier_ciphertext or "")
        try:
            tokens = self._oauth.exchange_code(code, verifier)
        except XeroAuthError as exc:
            if exc.reason in CLIENT_FAULTS:  # our app's id or secret: the operator's to fix
                raise user_error(exc) from exc
            raise ConnectError(messages.CONNECT_SIGN_IN_FAILED, detail=str(exc)) from exc
        except XeroError as exc:
            raise ConnectError(messages.CONNECT_SIGN_IN_FAILED, detail=str(exc)) from exc
        try:
            identity = self._oauth.id_token_claims(tokens.id_token) if tokens.id_token else {}
            tenants = self._authorised_tenants(tokens)
        except XeroError as exc:
            raise ConnectError(messages.CONNECT_XERO_TROUBLE, detail=str(exc)) from exc
        xero_userid = str(identity.get("xero_userid") or "") or None
        email = str(identity.get("email") or "") or None
        if not tenants:
            raise ConnectError(messages.CONNECT_NO_ORGANISATIONS)

        result = ConnectResult(team_id=team_id, slack_user_id=slack_user_id)
        for tenant in tenants:
            self._check_and_keep(result, tenant, tokens, workspace_id, xero_userid, email)
        if not result.connected and not self._user_keeps_connections(email):
            # Nothing kept: give the grant back so no token dangles. Not when this Xero user
            # still has organisations connected here: revoking removes all their connections.
            self._revoke_quietly(tokens.refresh_token)
        self._notify(result)
        return result

    def _check_and_keep(self, result: ConnectResult, tenant: XeroTenantConnection,
                        tokens: TokenSet, workspace_id: int,
                        xero_userid: str | None, email: str | None) -> None:
        """Read one authorised organisation, check the user's role, keep or refuse it."""
        slack_user_id = result.slack_user_id
        name = tenant.tenant_name or "Your Xero organisation"
        try:
            with self._xero.with_token(tenant.tenant_id, tokens.access_token) as client:
                organisation = client.organisation()
                user = connecting_user(client.users(), xero_userid, email)
        except XeroError as exc:
            log.warning("Could not read %s after consent: %s", name, exc)
            result.refused.append(self._refuse(
                tokens, tenant, name, messages.CONNECT_UNREADABLE_ORGANISATION,
                messages.CONNECT_TRY_AGAIN_SOON, workspace_id))
            return
        name = organisation.name or name
        refusal = role_refusal(user)
        if refusal:
            result.refused.append(
                self._refuse(tokens, tenant, name, refusal, messages.CONNECT_ROLE_HELP,
                             workspace_id))
            return
        kept = self._keep(workspace_id, tenant, organisation, tokens, slack_user_id,
                          user.email_address if user else email)
        if isinstance(kept, RefusedOrganisation):
            result.refused.append(kept)  # Xero's connection is left: the other workspace's
        else:
            result.connected.append(kept)

    def _user_keeps_connections(self, xero_user: str | None) -> bool:
        if not xero_user:
            return False
        with session_scope(self._factory) as session:
            return bool(repositories.connections_by_xero_user(session, xero_user))

    def _authorised_tenants(self, tokens: TokenSet) -> list[XeroTenantConnection]:
        # /connections lists every organisation this user ever connected to the app; the ones
        # from this consent share the access token's authentication_event_id.
        listed = [t for t in self._oauth.list_connections(tokens.access_token)
                  if t.tenant_type == "ORGANISATION"]
        event = access_token_claims(tokens.access_token).get("authentication_event_id")
        mine = [t for t in listed if event and t.auth_event_id == event]
        return mine or listed

    def _keep(self, workspace_id: int, tenant: XeroTenantConnection, organisation: Organisation,
              tokens: TokenSet, slack_user_id: str | None,
              xero_user: str | None) -> ConnectedOrganisation | RefusedOrganisation:
        """Save the connection (new or reconnected), or refuse it when another workspace
        already chases this organisation."""
        now = self._clock()
        with session_scope(self._factory) as session:
            # One organisation, one chaser: a second workspace chasing it would email its
            # customers twice (the reminders ledger is per connection). Decided in the same
            # transaction as the save, under the write lock, so two consents cannot both pass.
            other = repositories.chasing_workspace_of(session, tenant.tenant_id, workspace_id)
            if other is not None:
                name = organisation.name or tenant.tenant_name or tenant.tenant_id
                repositories.record_audit(
                    session, actor=slack_user_id or "cli", action="connection.refused",
                    workspace_id=workspace_id, at=now,
                    detail={"tenant_id": tenant.tenant_id, "tenant_name": name,
                            "reason": "chased from another Slack workspace",
                            "other_workspace_id": other.id})
                return RefusedOrganisation(
                    tenant_name=name,
                    reason=messages.connect_chased_elsewhere(other.name or other.slack_team_id),
                    what_to_do=messages.CONNECT_CHASED_ELSEWHERE_HELP)
            created = not any(
                c.tenant_id == tenant.tenant_id
                for c in repositories.list_connections(session, workspace_id)
            )
            connection = repositories.save_connection(
                session,
                workspace_id=workspace_id,
                tenant_id=tenant.tenant_id,
                xero_connection_id=tenant.id,
                tenant_name=organisation.name or tenant.tenant_name,
                short_code=organisation.short_code,
                country_code=organisation.country_code,
                timezone=organisation.timezone,
                base_currency=organisation.base_currency,
                period_lock_date=organisation.period_lock_date,
                end_of_year_lock_date=organisation.end_of_year_lock_date,
                token_ciphertext=self._box.encrypt(tokens.to_json()),
                token_expires_at=tokens.expires_at,
                connected_by=slack_user_id,
                connected_by_xero_user=xero_user,
                status=ConnectionStatus.CONNECTED,
                status_reason=None,
                now=now,
            )
            repositories.record_audit(
                session, actor=slack_user_id or "cli",
                action="connection.connected" if created else "connection.reconnected",
                workspace_id=workspace_id, connection_id=connection.id,
                detail={"tenant_id": tenant.tenant_id, "tenant_name": connection.tenant_name,
                        "xero_user": xero_user}, at=now,
            )
            return ConnectedOrganisation(
                connection_id=connection.id, tenant_name=connection.tenant_name or "",
                short_code=connection.short_code, country_code=connection.country_code,
                base_currency=connection.base_currency, reconnected=not created,
            )

    def _refuse(self, tokens: TokenSet, tenant: XeroTenantConnection, name: str, reason: str,
                what_to_do: Message, workspace_id: int) -> RefusedOrganisation:
        # Delete this tenant's Xero connection so nothing dangles that we will never use.
        try:
            self._oauth.delete_connection(tokens.access_token, tenant.id)
        except XeroError as exc:
            log.warning("Could not delete Xero connection for %s: %s", name, exc)
        with session_scope(self._factory) as session:
            repositories.record_audit(
                session, actor="xero", action="connection.refused", workspace_id=workspace_id,
                detail={"tenant_id": tenant.tenant_id, "tenant_name": name, "reason": reason},
                at=self._clock(),
            )
        return RefusedOrganisation(tenant_name=name, reason=reason, what_to_do=what_to_do)

    def _revoke_quietly(self, refresh_token: str | None) -> bool:
        if not refresh_token:
            return False
        try:
            self._oauth.revoke(refresh_token)
        except XeroError as exc:
            log.warning("Could not revoke a Xero refresh token: %s", exc)
            return False
        return True

    def _notify(self, result: ConnectResult) -> None:
        notifier = self._notifier
        for kept in result.connected:
            notifier.organisation_connected(OrganisationConnected(
                team_id=result.team_id, slack_user_id=result.slack_user_id,
                connection_id=kept.connection_id, tenant_name=kept.tenant_name,
                reconnected=kept.reconnected))
        for refused in result.refused:
            notifier.connect_refused(ConnectRefused(
                team_id=result.team_id, slack_user_id=result.slack_user_id,
                tenant_name=refused.tenant_name, reason=refused.reason,
                what_to_do=refused.what_to_do))

    # Disconnect --------------------------------------------------------------------------

    def disconnect(self, connection_id: int, *, actor: str) -> DisconnectResult:
        """Tell Xero (best effort), mark the connection disconnected, keep all local history.

        Xero's revocation "removes all their connections to your app", so the refresh token is
        revoked only when no other connected organisation was connected by the same Xero user;
        otherwise only this tenant's Xero connection is deleted.
        """
        with session_scope(self._factory) as session:
            connection = session.get(XeroConnection, connection_id)
            if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
                raise ConnectionNotUsable(messages.not_connected())
            name = connection.tenant_name or connection.tenant_id
            xero_connection_id = connection.xero_connection_id
            xero_user = connection.connected_by_xero_user
            shares_user = bool(xero_user) and any(
                other.id != connection.id
                for other in repositories.connections_by_xero_user(session, xero_user or "")
            )
        warning = self._tell_xero(connection_id, xero_connection_id, revoke=not shares_user)
        now = self._clock()
        with session_scope(self._factory) as session:
            connection = repositories.lock_connection_for_update(session, connection_id)
            assert connection is not None
            repositories.set_connection_status(
                session, connection_id, ConnectionStatus.DISCONNECTED,
                reason=f"Disconnected by {actor}", now=now,
            )
            # A disconnected row keeps no usable secret; under the lock the version is ours.
            repositories.save_connection_tokens(
                session, connection_id, token_ciphertext=None, token_expires_at=None,
                expected_version=connection.token_version, now=now,
            )
            repositories.record_audit(
                session, actor=actor, action="connection.disconnected",
                workspace_id=connection.workspace_id, connection_id=connection.id,
                detail={"tenant_name": name, "told_xero": warning is None}, at=now,
            )
        return DisconnectResult(tenant_name=name, revoked_at_xero=warning is None,
                                xero_warning=warning)

    def _tell_xero(self, connection_id: int, xero_connection_id: str | None, *,
                   revoke: bool) -> Message | None:
        """Delete the Xero connection and maybe revoke; a warning line when Xero was not told."""
        try:
            # Through the gateway, so an expired access token is refreshed and the rotation
            # saved (a sibling organisation may still be using the same grant).
            grant = self._xero.grant(connection_id)
            access_token, refresh_token = grant.access_token, grant.refresh_token
            if xero_connection_id:
                # Already gone at Xero (404) is what we wanted anyway.
                with contextlib.suppress(XeroNotFound):
                    self._oauth.delete_connection(access_token, xero_connection_id)
            if revoke and refresh_token:
                self._oauth.revoke(refresh_token)
        except (XeroAuthError, ConnectionNotUsable):
            return None  # Xero already refuses this grant: nothing is left to remove there
        except XeroError as exc:
            log.warning("Disconnect could not reach Xero: %s", exc)
            return messages.DISCONNECT_XERO_NOT_TOLD
        return None
