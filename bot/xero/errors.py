"""Typed Xero errors, each built from the HTTP response that caused it."""

from __future__ import annotations

import httpx
import msgspec


class XeroError(Exception):
    """Anything Xero refused or could not answer; `str()` is for logs, never raw HTML.

    The library says nothing to people: the chasing edge maps each kind to a message.
    """

    def __init__(self, detail: str = "", *, status: int | None = None) -> None:
        self.detail = detail
        self.status = status
        super().__init__(detail or (f"HTTP {status}" if status else type(self).__name__))


class XeroAuthError(XeroError):
    """Xero refused our credentials: `reason` is Xero's code (invalid_grant, invalid_client,
    tenant_disconnected, token_expired…). Whose fault that is, the host decides."""

    def __init__(self, detail: str = "", *, reason: str, status: int | None = None) -> None:
        self.reason = reason
        super().__init__(detail or reason, status=status)


class XeroRateLimited(XeroError):
    """HTTP 429: Xero says wait `retry_after` seconds; `problem` names the limit (minute, day…)."""

    def __init__(self, retry_after: float | None, problem: str | None) -> None:
        self.retry_after = retry_after
        self.problem = problem
        super().__init__(f"rate limited ({problem or 'unknown'} limit)", status=429)


class XeroServerError(XeroError):
    """Xero answered 5xx; worth retrying later."""


class XeroUnreadableAnswer(XeroServerError):
    """An answer that is not Xero's JSON: an HTML or plain-text page from Xero's front end, an
    empty body, or JSON cut short. A transient fault, retried like a 5xx, whatever its status."""


class XeroUnexpectedAnswer(XeroError):
    """Well-formed JSON in a shape we do not know (a field of the wrong type): asking again
    would get the same answer, so it is not retried."""


class XeroIncompleteRead(XeroServerError):
    """Paging ended with fewer rows than Xero's itemCount: the pass is not complete."""


class XeroTransportError(XeroError):
    """No usable answer: timeout, refused or dropped connection."""


class XeroNotFound(XeroError):
    """The thing asked for does not exist in this organisation."""


class XeroValidationError(XeroError):
    """Xero refused a write (HTTP 400) in its own JSON; `messages` are Xero's own words."""

    def __init__(self, messages: list[str], *, status: int | None = 400) -> None:
        self.messages = messages or ["Xero rejected the request."]
        super().__init__("; ".join(self.messages), status=status)


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

    def says_something(self) -> bool:
        return any((self.ErrorNumber, self.Type, self.Message, self.Elements, self.Title,
                    self.Detail))


_error_decoder = msgspec.json.Decoder(_ErrorBody)
MAX_MESSAGE = 300  # Xero's own sentences are short; anything longer is not one of them


def _parse_body(content: bytes) -> _ErrorBody | None:
    """Xero's JSON error body, or None when the answer is something else (HTML, text, empty)."""
    try:
        body = _error_decoder.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return body if body.says_something() else None


def describe_answer(response: httpx.Response) -> str:
    """What came back, for a log line, without its content (it may be a whole HTML page)."""
    kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    size = len(response.content)
    body = f"{size}-byte {kind} body" if size else "an empty body"
    return f"HTTP {response.status_code} with {body}"


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Retry-After as seconds (Xero sends delta-seconds); None when absent or unreadable."""
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> XeroError:
    """Map a non-2xx Xero response to the most specific typed error.

    Only Xero's own JSON is believed: an HTML page, plain text or an empty body from the
    front end (a 400 or 5xx from a proxy or load balancer) is XeroUnreadableAnswer, a
    transient fault, never a refusal of what we asked, and its content never reaches a log.
    """
    status = response.status_code
    if status == 429:
        return XeroRateLimited(
            retry_after_seconds(response.headers), response.headers.get("X-Rate-Limit-Problem")
        )
    body = _parse_body(response.content)
    if body is None:
        if status == 401:
            # A bare 401 still means the token was refused (RFC 6750 allows an empty body).
            return XeroAuthError(describe_answer(response), reason="unauthorized", status=status)
        if status != 404:
            # 403 included: a proxy's HTML page is no proof the organisation revoked us.
            return XeroUnreadableAnswer(describe_answer(response), status=status)
    detail = _clip((body.Detail or body.Message or body.Title) if body else None) or (
        response.reason_phrase
    )
    if status == 401:
        reason = "token_expired" if "TokenExpired" in detail else "unauthorized"
        return XeroAuthError(detail, reason=reason, status=status)
    if status == 403:
        # AuthenticationUnsuccessful = the tenant disconnected the app or the id is wrong
        # (xero-node #432); either way only a reconnect fixes it.
        reason = "tenant_disconnected" if "AuthenticationUnsuccessful" in detail else "forbidden"
        return XeroAuthError(detail, reason=reason, status=status)
    if status == 404:
        # Xero answers a missing resource with a bare sentence, not JSON (Xero-OpenAPI #163).
        return XeroNotFound(f"HTTP 404 ({_path(response)})", status=status)
    if status >= 500:
        return XeroServerError(detail or f"HTTP {status}", status=status)
    assert body is not None
    if status == 400:
        messages = [_clip(v.Message) for e in body.Elements for v in e.ValidationErrors
                    if v.Message]
        messages = messages or [_clip(m) for m in (body.Message, body.Detail) if m]
        return XeroValidationError([m for m in messages if m])
    return XeroError(detail or f"HTTP {status}", status=status)


def _path(response: httpx.Response) -> str:
    try:
        return response.request.url.path
    except RuntimeError:  # a Response built without a request (tests)
        return "unknown path"


def _clip(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
