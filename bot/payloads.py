"""Small versioned payloads carried in button values, block_ids and modal private_metadata.

Slack hands these back verbatim on a click, so they are the only state a click carries: keep
them small (a button value ≤ 2,000 characters, a block_id ≤ 255, private_metadata ≤ 3,000)
and versioned, so a message posted by an older release is still understood or cleanly refused.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec


class PayloadError(ValueError):
    """A value Slack sent back is not one of ours (or from a release we no longer read)."""


class InvoiceRef(msgspec.Struct, frozen=True, tag="i1", tag_field="v"):
    """One invoice of one organisation (the digest's per-line buttons and date picker)."""

    c: int  # connection id
    i: int  # local invoice id


class PageRef(msgspec.Struct, frozen=True, tag="p1", tag_field="v"):
    """A page of one organisation's digest ("Show more")."""

    c: int  # connection id
    p: int  # 0-based page


class DisputeForm(msgspec.Struct, frozen=True, tag="d1", tag_field="v"):
    """The dispute modal's private_metadata: the invoice and the digest message to update."""

    c: int
    i: int
    ch: str | None = None  # channel of the digest message
    ts: str | None = None  # its ts


class EscalationRef(msgspec.Struct, frozen=True, tag="e1", tag_field="v", omit_defaults=True):
    """An escalation approval card's Approve / Decline buttons and Snooze choices."""

    r: int  # approval request id
    h: int | None = None  # snooze for this many hours (the Snooze menu's options)


class SkipRef(msgspec.Struct, frozen=True, tag="s1", tag_field="v"):
    """A forewarn's Skip button: one customer of one organisation, for the run of one date."""

    c: int  # connection id
    k: int  # contact id
    d: str  # the chase run's date, ISO 8601


class ContactRef(msgspec.Struct, frozen=True, tag="k1", tag_field="v"):
    """One customer (a /chaser customer choice button)."""

    k: int  # local contact id


class SettingsForm(msgspec.Struct, frozen=True, tag="g1", tag_field="v"):
    """The settings modal's private_metadata: which organisation it edits."""

    c: int  # connection id


class ScheduleRef(msgspec.Struct, frozen=True, tag="h1", tag_field="v", omit_defaults=True):
    """The schedule modal's private_metadata: the organisation and the schedule it edits."""

    c: int  # connection id
    s: int | None = None  # schedule id; None: a new schedule
    r: bool = False  # opened on its own (not pushed over the settings modal)


class ScheduleAssign(msgspec.Struct, frozen=True, tag="a1", tag_field="v"):
    """A close match's button: put this customer on the named schedule."""

    k: int  # local contact id
    n: str  # schedule name (at most 100 characters)


class ConnectionRef(msgspec.Struct, frozen=True, tag="c1", tag_field="v"):
    """One organisation (Connect/Reconnect buttons in App Home and connection-lost DMs)."""

    c: int | None = None  # None: connect a new organisation


Payload = (InvoiceRef | PageRef | DisputeForm | EscalationRef | SkipRef | ContactRef
           | SettingsForm | ScheduleRef | ScheduleAssign | ConnectionRef)
T = TypeVar("T", InvoiceRef, PageRef, DisputeForm, EscalationRef, SkipRef, ContactRef,
            SettingsForm, ScheduleRef, ScheduleAssign, ConnectionRef)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Payload)


def encode(payload: Payload) -> str:
    """The payload as compact JSON text (e.g. {"v":"i1","c":3,"i":42})."""
    return _encoder.encode(payload).decode()


def decode(text: str | None) -> Payload:
    """Parse a payload Slack sent back; PayloadError if it is not one we understand."""
    if not text:
        raise PayloadError("empty payload")
    try:
        return _decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PayloadError(str(exc)) from None


def decode_as(text: str | None, kind: type[T]) -> T:
    """Parse a payload that must be of one kind."""
    payload = decode(text)
    if not isinstance(payload, kind):
        raise PayloadError(f"expected {kind.__name__}, got {type(payload).__name__}")
    return payload
