"""Secrets at rest: a Fernet box for tokens and PKCE verifiers, and where its key comes from."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot import messages
from bot.errors import UserFacingError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"
# Fixed, public salt and context: the derived key must be the same on every start.
_HKDF_SALT = b"chaser-bot/secret-key/v1"
_HKDF_INFO = b"chaser-bot fernet key"


class SecretError(UserFacingError):
    """A secret could not be loaded or decrypted; the message says what to do."""

    code = "secret_key"


class SecretKeyMismatch(SecretError):
    """Stored ciphertext was encrypted with a different key (or was tampered with)."""


class SecretBox:
    """Encrypts and decrypts short strings (token sets, PKCE verifiers) with Fernet."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: str) -> str:
        """Authenticated ciphertext as URL-safe ASCII text."""
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext, or SecretKeyMismatch when the key is not the one it was made with."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretKeyMismatch(
                "A stored secret cannot be decrypted with the current key: CHASER_SECRET_KEY "
                "(or data/secret.key) changed since it was saved. Restore the old key, or "
                "reconnect Xero to store new tokens."
            ) from exc


def _as_fernet_key(secret_key: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(secret_key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return secret_key.encode("ascii") if len(raw) == 32 else None


def derive_key(passphrase: str) -> bytes:
    """A Fernet key from any string, via HKDF-SHA256.

    HKDF does not slow down guessing: a passphrase should be long and random
    (e.g. `openssl rand -base64 32`), which is what makes it a key.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(passphrase.encode()))


def existing_key(secret_key: str | None, data_dir: Path) -> bytes | None:
    """The key load_or_create_key would use, or None when it would have to make one."""
    if secret_key is not None and secret_key.strip():
        return load_or_create_key(secret_key, data_dir)
    path = data_dir / KEY_FILE_NAME
    return _read_key_file(path) if path.exists() else None


def load_or_create_key(secret_key: str | None, data_dir: Path) -> bytes:
    """The encryption key: CHASER_SECRET_KEY if set, else data_dir/secret.key (made once)."""
    if secret_key is not None and secret_key.strip():
        secret_key = secret_key.strip()
        return _as_fernet_key(secret_key) or derive_key(secret_key)
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written in full to a private temporary file, then hard-linked into place: the key
    # file is never visible half-written or with wider permissions, and when two processes
    # start together exactly one link wins and both read the winner's key.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
            log.info("Created a new encryption key at %s; back it up with the database", path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o): run chmod 600 on it", path, mode)
    key = _as_fernet_key(path.read_text(encoding="ascii").strip())
    if key is None:
        raise SecretError(
            messages.plain(f"{path} does not hold a Fernet key: restore it from a backup.")
            + messages.SECRET_KEY_HINT
        )
    return key
