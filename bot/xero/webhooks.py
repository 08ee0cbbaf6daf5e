"""Xero webhook deliveries: the `x-xero-signature` check, the payload, and each event's key."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import uuid

import msgspec
from msgspec import Struct

from bot.xero.dates import parse_datetime

# The categories whose resources we fetch again; CREDITNOTE and SUBSCRIPTION are acknowledged
# and left to the next sync (xero-webhooks.yaml v16.1.0 lists all four).
INVOICE = "INVOICE"
CONTACT = "CONTACT"


class WebhookPayloadError(ValueError):
    """The body is signed correctly but is not a Xero webhook payload."""


class WebhookEvent(Struct, frozen=True, kw_only=True, rename="camel"):
    """One event: which resource of which organisation changed, and when (no body)."""

    resource_url: str = ""
    resource_id: str
    event_date_utc: str = ""
    event_type: str
    event_category: str
    tenant_id: str
    tenant_type: str = "ORGANISATION"

    @property
    def ids_are_guids(self) -> bool:
        """True when resourceId and tenantId are GUIDs, as Xero always sends them."""
        try:
            uuid.UUID(self.resource_id)
            uuid.UUID(self.tenant_id)
        except ValueError:
            return False
        return True

    @property
    def occurred_at(self) -> dt.datetime | None:
        """eventDateUtc as an aware datetime (Xero writes it without an offset: it is UTC)."""
        try:
            return parse_datetime(self.event_date_utc)
        except ValueError:
            return None

    @property
    def key(self) -> str:
        """A stable id for the event: Xero sends none, and a retry resends the same event.

        The hash covers every field Xero sends for the event, so the same change delivered
        twice (a retry, or a second instance behind a load balancer) has the same key, while
        two changes of one resource differ by eventDateUtc (milliseconds).
        """
        parts = (self.tenant_id.lower(), self.event_category.upper(), self.event_type.upper(),
                 self.resource_id.lower(), self.event_date_utc)
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


class WebhookDelivery(Struct, frozen=True, kw_only=True, rename="camel"):
    """A POST from Xero: a batch of events (empty for the intent-to-receive handshake)."""

    events: list[WebhookEvent] = []
    first_event_sequence: int = 0
    last_event_sequence: int = 0
    entropy: str = ""


_delivery = msgspec.json.Decoder(WebhookDelivery)


def expected_signature(body: bytes, key: str) -> str:
    """base64(HMAC-SHA256(raw body, webhook key)): what Xero puts in `x-xero-signature`."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def signature_valid(body: bytes, signature: str | None, key: str) -> bool:
    """Whether `signature` signs the raw `body` with `key` (constant-time comparison).

    Xero: "If the signature does not match the hashed payload a 401 Unauthorised
    response should be returned" (developer.xero.com/documentation/webhooks/configuring-your-
    server). The comparison is on the decoded digest so padding or case games cannot pass.
    """
    if not signature or not key:
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    wanted = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, wanted)


def decode_delivery(body: bytes) -> WebhookDelivery:
    """Parse a delivery's body; WebhookPayloadError when it is not Xero's shape."""
    try:
        return _delivery.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise WebhookPayloadError(str(exc)) from exc
