"""Logging set-up, with every record scrubbed of OAuth codes, tokens and credentials."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# What a token or code can look like in a log line: a URL parameter (callback URLs carry the
# one-time code), a JSON field (token responses), an Authorization header, or a bare JWT.
_PATTERNS = (
    re.compile(r"([?&](?:code|state|token|refresh_token|access_token|id_token|client_secret)=)"
               r"[^&\s'\"]+"),
    re.compile(r"(\"(?:access_token|refresh_token|id_token|client_secret|code)\"\s*:\s*\")"
               r"[^\"]+"),
    re.compile(r"((?:Bearer|Basic)\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"()eyJ[\w-]+\.[\w-]+\.[\w-]+"),
)

_installed = False


def redact(text: str) -> str:
    """`text` with anything shaped like a credential replaced by [redacted]."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def install_redaction() -> None:
    """Scrub every log record as it is made, whichever handler later writes it (idempotent).

    A record factory rather than a handler filter: libraries such as httpcore log response
    headers (a Location with ?code=…) at DEBUG, and every handler — a file, the console,
    pytest's capture — must see the scrubbed text.
    """
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def scrubbed_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(scrubbed_record)
    _installed = True


class _NotCtrlC(logging.Filter):
    """Drops records about a KeyboardInterrupt: Ctrl-C is a person stopping a command, and
    libraries that log an exception while closing (SQLAlchemy's pool does) would otherwise
    print a traceback under the one line the command says."""

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[0] if record.exc_info else None
        return not (kind is not None and issubclass(kind, KeyboardInterrupt))


def configure_logging(level: str) -> None:
    """Console logging at `level`, credentials scrubbed, library chatter kept for DEBUG."""
    install_redaction()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NotCtrlC) for f in handler.filters):
            handler.addFilter(_NotCtrlC())
    if level != "DEBUG":
        for noisy in ("alembic", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
