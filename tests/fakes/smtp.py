"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for reminder tests.

Optional STARTTLS or implicit TLS with a throwaway certificate, login, refusals on demand and
a hook run when a message arrives (e.g. to kill the sending process at that very moment).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


@dataclass
class Received:
    """One message as the server took it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SmtpHandler:
    """aiosmtpd handler: records messages; may refuse the next ones or call a hook first."""

    received: list[Received] = field(default_factory=list)
    refuse_next: list[str] = field(default_factory=list)  # e.g. "451 4.3.0 try again later"
    on_data: Callable[[Received], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                        or envelope.content)
        with self.lock:
            if self.refuse_next:
                return self.refuse_next.pop(0)
            self.received.append(item)
        if self.on_data is not None:
            self.on_data(item)
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(item.message["Message-ID"]) for item in self.received]


def _authenticator(username: str, password: str):
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == username and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    return authenticate


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (cert, key) written to `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    """An ephemeral port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    """A running server: its handler, port and the URL to give SMTP_URL."""

    controller: Controller
    handler: SmtpHandler
    url: str
    client_context: ssl.SSLContext | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def port(self) -> int:
        return self.controller.port


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[Callable[..., SmtpServer]]:
    """Start SMTP servers on 127.0.0.1: plain, STARTTLS or implicit TLS, with or without login."""
    started: list[Controller] = []

    def start(*, tls: str = "none", login: tuple[str, str] | None = None) -> SmtpServer:
        handler = SmtpHandler()
        kwargs: dict[str, object] = {}
        client_context = None
        if tls != "none":
            cert, key = self_signed_certificate(tmp_path)
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(cert, key)
            client_context = ssl.create_default_context(cafile=str(cert))
            if tls == "starttls":
                kwargs.update(tls_context=server_context, require_starttls=True)
            else:
                kwargs.update(ssl_context=server_context)
        if login:
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS socket is encrypted anyway.
            kwargs.update(authenticator=_authenticator(*login), auth_require_tls=tls == "starttls")
        controller = Controller(handler, hostname=HOST, port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        scheme = "smtps" if tls == "implicit" else "smtp"
        userinfo = f"{login[0]}:{login[1]}@" if login else ""
        query = "?starttls=off" if tls == "none" else ""
        url = f"{scheme}://{userinfo}{HOST}:{controller.port}{query}"
        return SmtpServer(controller, handler, url, client_context)

    yield start
    for controller in started:
        controller.stop()
