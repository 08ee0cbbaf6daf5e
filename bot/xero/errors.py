"""Typed Xero errors, each built from the HTTP response that caused it."""

from __future__ import annotations

import httpx
import msgspec


class XeroError(Exception):
    """Anything Xero refused or could not answer; `user_message` is safe to show a person."""

    user_message = "Xero could not complete the request. Please try again later."

    def __init__(self, detail: str = "", *, status: int | None = None) -> None:
        self.detail = detail
        self.status = status
        super().__init__(detail or self.user_message)


class XeroAuthError(XeroError):
    """The tokens or the tenant connection are no longer good: someone must reconnect Xero."""

    user_message = "The Xero connection needs to be reconnected by an admin."

    def __init__(self, detail: str = "", *, reason: str, status: int | None = None) -> None:
        self.reason = reason
        super().__init__(detail or reason, status=status)

    @property
    def needs_reconnect(self) -> bool:
        return True


class XeroRateLimited(XeroError):
    """HTTP 429: Xero says wait `retry_after` seconds; `problem` names the limit (minute, day…)."""

    user_message = "Xero is busy with this organisation right now; we will try again shortly."

    def __init__(self, retry_after: float | None, problem: str | None) -> None:
        self.retry_after = retry_after
        self.problem = problem
        super().__init__(f"rate limited ({problem or 'unknown'} limit)", status=429)


class XeroServerError(XeroError):
    """Xero answered 5xx; worth retrying later."""

    user_message = "Xero is having trouble right now; we will try again shortly."


class XeroTransportError(XeroError):
    """No usable answer: timeout, refused or dropped connection."""

    user_message = "Could not reach Xero; we will try again shortly."


class XeroNotFound(XeroError):
    """The thing asked for does not exist in this organisation."""

    user_message = "That item no longer exists in Xero."


class XeroValidationError(XeroError):
    """Xero refused a write (HTTP 400); `messages` are Xero's own words, fit to show."""

    def __init__(self, messages: list[str], *, status: int | None = 400) -> None:
        self.messages = messages or ["Xero rejected the request."]
        super().__init__("; ".join(self.messages), status=status)

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return "Xero said: " + " ".join(self.messages)


class _ValidationMessage(msgspec.Struct):
    Message: str = ""


class _Element(msgspec.Struct):
    ValidationErrors: list[_ValidationMessage] = []


class _ErrorBody(msgspec.Struct):
    """Union of Xero's two error shapes: ValidationException and problem-details (Title/Detail)."""

    ErrorNumber: int | None = None
    Type: str | None = None
    Message: str | None = None
    Elements: list[_Element] = []
    Title: str | None = None
    Detail: str | None = None


_error_decoder = msgspec.json.Decoder(_ErrorBody)


def _parse_body(content: bytes) -> _ErrorBody:
    try:
        return _error_decoder.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _ErrorBody(Detail=content[:500].decode("utf-8", "replace") or None)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Retry-After as seconds (Xero sends delta-seconds); None when absent or unreadable."""
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> XeroError:
    """Map a non-2xx Xero response to the most specific typed error."""
    status = response.status_code
    body = _parse_body(response.content)
    detail = body.Detail or body.Message or body.Title or response.reason_phrase
    if status == 429:
        return XeroRateLimited(
            retry_after_seconds(response.headers), response.headers.get("X-Rate-Limit-Problem")
        )
    if status == 401:
        reason = "token_expired" if "TokenExpired" in (detail or "") else "unauthorized"
        return XeroAuthError(detail, reason=reason, status=status)
    if status == 403:
        # AuthenticationUnsuccessful = the tenant disconnected the app or the id is wrong
        # (xero-node #432); either way only a reconnect fixes it.
        reason = (
            "tenant_disconnected" if "AuthenticationUnsuccessful" in (detail or "") else "forbidden"
        )
        return XeroAuthError(detail, reason=reason, status=status)
    if status == 404:
        return XeroNotFound(detail, status=status)
    if status >= 500:
        return XeroServerError(detail or f"HTTP {status}", status=status)
    if status == 400:
        messages = [v.Message for e in body.Elements for v in e.ValidationErrors if v.Message]
        return XeroValidationError(messages or [m for m in (body.Message, body.Detail) if m])
    return XeroError(detail or f"HTTP {status}", status=status)
