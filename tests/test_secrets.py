"""Secrets at rest: key loading, file permissions, and no plaintext tokens on disk or in logs."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from bot.secrets import (
    KEY_FILE_NAME,
    SecretBox,
    SecretError,
    SecretKeyMismatch,
    load_or_create_key,
)
from storage.db import make_engine, make_session_factory, session_scope, upgrade
from storage.repositories import get_connection, save_connection

TOKEN_SET = json.dumps(
    {
        "access_token": "PLAINTEXT-ACCESS-TOKEN-eyJhbGciOi",
        "refresh_token": "PLAINTEXT-REFRESH-TOKEN-7f3a9c",
        "expires_at": 1767225600,
    }
)


def test_a_new_key_file_is_created_with_owner_only_permissions(tmp_path):
    key = load_or_create_key(None, tmp_path / "data")
    path = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Fernet(key)  # a valid Fernet key
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]


def test_the_key_file_is_reused_on_the_next_start(tmp_path):
    assert load_or_create_key(None, tmp_path) == load_or_create_key(None, tmp_path)


def test_a_key_file_is_never_world_readable_even_with_a_permissive_umask(tmp_path):
    previous = os.umask(0)
    try:
        load_or_create_key(None, tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / KEY_FILE_NAME).stat().st_mode) == 0o600


def test_a_fernet_secret_key_is_used_as_is(tmp_path):
    key = Fernet.generate_key()
    assert load_or_create_key(key.decode(), tmp_path) == key
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_any_other_secret_key_is_derived_into_a_stable_fernet_key(tmp_path):
    key = load_or_create_key("correct horse battery staple", tmp_path)
    Fernet(key)
    assert key == load_or_create_key("correct horse battery staple", tmp_path)
    assert key != load_or_create_key("another passphrase", tmp_path)


def test_a_corrupt_key_file_is_a_clear_error(tmp_path):
    (tmp_path / KEY_FILE_NAME).write_text("not a key")
    with pytest.raises(SecretError, match=KEY_FILE_NAME):
        load_or_create_key(None, tmp_path)


def test_secret_box_round_trips_and_hides_the_plaintext():
    box = SecretBox(Fernet.generate_key())
    ciphertext = box.encrypt(TOKEN_SET)
    assert "PLAINTEXT" not in ciphertext
    assert box.decrypt(ciphertext) == TOKEN_SET
    assert "key" in repr(box) and "=" not in repr(box)


def test_decrypting_with_the_wrong_key_raises_a_clear_error():
    ciphertext = SecretBox(Fernet.generate_key()).encrypt(TOKEN_SET)
    with pytest.raises(SecretKeyMismatch, match="CHASER_SECRET_KEY"):
        SecretBox(Fernet.generate_key()).decrypt(ciphertext)


def _database_bytes(directory) -> bytes:
    return b"".join(
        p.read_bytes() for p in sorted(directory.iterdir()) if p.name.startswith("chaser.sqlite3")
    )


def test_stored_tokens_never_appear_in_plaintext_in_the_database_or_logs(tmp_path, caplog):
    path = tmp_path / "chaser.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    box = SecretBox(load_or_create_key(None, tmp_path))
    engine = make_engine(url, echo=True)
    caplog.set_level(logging.DEBUG)
    try:
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            connection_id = save_connection(
                session,
                workspace_id=None,
                tenant_id="t1",
                token_ciphertext=box.encrypt(TOKEN_SET),
                token_expires_at=datetime(2026, 1, 1, tzinfo=UTC),
            ).id
        with session_scope(factory) as session:
            stored = get_connection(session, connection_id).token_ciphertext
            assert box.decrypt(stored) == TOKEN_SET
        during_use = _database_bytes(tmp_path)  # main file plus -wal and -shm
        engine.dispose()  # checkpoints the WAL into the main file
        for on_disk in (during_use, _database_bytes(tmp_path)):
            assert stored.encode() in on_disk  # we are reading the right bytes
            for secret in ("PLAINTEXT-ACCESS-TOKEN", "PLAINTEXT-REFRESH-TOKEN"):
                assert secret.encode() not in on_disk
        for secret in ("PLAINTEXT-ACCESS-TOKEN", "PLAINTEXT-REFRESH-TOKEN"):
            assert secret not in caplog.text
        assert "INSERT INTO xero_connections" in caplog.text  # the echo really was captured
    finally:
        engine.dispose()
