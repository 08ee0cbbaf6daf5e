"""Mailers: SMTP from SMTP_URL (STARTTLS or implicit TLS, login), or an outbox folder of .eml files.

The SMTP conversation is driven step by step (MAIL, RCPT, DATA) rather than with
`send_message`, because what failed decides what the ledger may do next: a refusal before or
at DATA means nothing was accepted (retry next run), but a connection lost while the message
was being handed over may still have delivered it (never resent on its own).
"""

from __future__ import annotations

import contextlib
import email.policy
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from bot.chasing.ports import MailRefused, MailUnavailable, MailUncertain

SMTP_TIMEOUT = 30.0
# SMTP wants CRLF line ends (RFC 5321); send_message does this too.
_SMTP_POLICY = email.policy.compat32.clone(linesep="\r\n")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class SmtpTarget:
    """SMTP_URL parsed: where to connect, how to secure it, who to log in as."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None
    # smtp:// upgrades with STARTTLS whenever the server offers it; ?starttls=required refuses
    # a server that does not, ?starttls=off never upgrades (a loopback relay, tests).
    starttls: str = "auto"

    @property
    def description(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465 (TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:password@host:port")
    implicit = parts.scheme == "smtps"
    starttls = parse_qs(parts.query).get("starttls", ["auto"])[0]
    if starttls not in ("auto", "required", "off"):
        raise ValueError("SMTP_URL starttls= must be auto, required or off")
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 587),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        starttls=starttls,
    )


def _recipients(message: Message) -> list[str]:
    fields = [str(v) for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])]
    return [address for _, address in getaddresses(fields) if address]


def _sender(message: Message) -> str:
    found = getaddresses([str(message["From"])])
    return found[0][1] if found else ""


class _SmtpConnection:
    """One logged-in SMTP session that sends message after message."""

    def __init__(self, client: smtplib.SMTP) -> None:
        self._client = client

    def send(self, message: Message) -> None:
        client = self._client
        recipients = _recipients(message)
        try:
            code, reply = client.mail(_sender(message))
            if code != 250:
                raise MailRefused(f"MAIL FROM refused: {code} {reply.decode(errors='replace')}")
            accepted = 0
            refused: list[str] = []
            for address in recipients:
                code, reply = client.rcpt(address)
                if code in (250, 251):
                    accepted += 1
                else:
                    refused.append(f"{address}: {code} {reply.decode(errors='replace')}")
            if not accepted:
                raise MailRefused("every recipient refused: " + "; ".join(refused))
        except MailRefused:
            self._reset()
            raise
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise MailUnavailable(f"the mail server went away: {exc}") from exc
        try:
            code, reply = client.data(message.as_bytes(policy=_SMTP_POLICY))
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing handed over
            self._reset()
            raise MailRefused(f"message refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # The message was (partly) handed over and no answer came back: it may be delivered.
            raise MailUncertain(f"connection lost while sending: {exc}") from exc
        if code != 250:  # the server answered the message with a refusal: it kept nothing
            self._reset()
            raise MailRefused(f"message refused: {code} {reply.decode(errors='replace')}")

    def _reset(self) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self._client.rset()


class SmtpMailer:
    """Sends over one SMTP connection per run (SMTP_URL)."""

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = SMTP_TIMEOUT,
    ) -> None:
        self.target = parse_smtp_url(url)
        self._context = ssl_context or ssl.create_default_context()
        self._timeout = timeout

    @property
    def description(self) -> str:
        return self.target.description

    @contextlib.contextmanager
    def connect(self) -> Iterator[_SmtpConnection]:
        """Connect, secure and log in; quit when the block ends."""
        client = self._open()
        try:
            yield _SmtpConnection(client)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def _open(self) -> smtplib.SMTP:
        target = self.target
        try:
            if target.implicit_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=self._timeout, context=self._context
                )
            else:
                client = smtplib.SMTP(target.host, target.port, timeout=self._timeout)
            client.ehlo()
            if not target.implicit_tls and target.starttls != "off":
                if client.has_extn("starttls"):
                    client.starttls(context=self._context)
                    client.ehlo()
                elif target.starttls == "required" or (
                    target.username and target.host not in LOOPBACK_HOSTS
                ):
                    client.close()
                    raise MailUnavailable(
                        f"{target.description} does not offer STARTTLS: refusing to send the "
                        "password in clear (use smtps:// or a server with STARTTLS)"
                    )
            if target.username:
                client.login(target.username, target.password or "")
            # Each message is a few small commands, each awaiting its reply: without NODELAY,
            # Nagle's algorithm and delayed ACKs hold every one back ~40 ms.
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailUnavailable(
                f"{target.description} refused the SMTP login ({exc.smtp_code}): check the user "
                "and password in SMTP_URL"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(f"cannot reach {target.description}: {exc}") from exc
        return client


class _OutboxConnection:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def send(self, message: Message) -> None:
        name = re.sub(r"[^A-Za-z0-9@._-]", "", str(message["Message-ID"])) or "message"
        path = self._folder / f"{name}.eml"
        temporary = path.with_suffix(".eml.tmp")
        try:
            temporary.write_bytes(message.as_bytes())
            os.replace(temporary, path)  # a whole file or none
        except OSError as exc:
            raise MailRefused(f"cannot write {path}: {exc}") from exc


class OutboxMailer:
    """With no SMTP_URL (the demo): each email becomes an .eml file in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def description(self) -> str:
        return f"the folder {self.folder}"

    @contextlib.contextmanager
    def connect(self) -> Iterator[_OutboxConnection]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailUnavailable(f"cannot create {self.folder}: {exc}") from exc
        yield _OutboxConnection(self.folder)


def mailer_for(smtp_url: str | None, outbox: Path) -> SmtpMailer | OutboxMailer:
    """SMTP when SMTP_URL is set, else the outbox folder."""
    return SmtpMailer(smtp_url) if smtp_url else OutboxMailer(outbox)
