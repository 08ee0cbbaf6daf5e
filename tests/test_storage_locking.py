"""The connection lock serialises token read-modify-write across threads on both databases."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from storage.db import make_engine, make_session_factory, session_scope
from storage.models import XeroConnection
from storage.repositories import LockOrderError, get_connection, lock_connection_for_update

WORKERS = 4
ROUNDS = 10


def test_concurrent_read_modify_write_under_the_lock_never_loses_an_update(
    migrated_db, connection_id
):
    # One engine per worker, like separate processes with their own pools.
    engines = [make_engine(migrated_db) for _ in range(WORKERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def worker(factory) -> None:
        try:
            start.wait()
            for _ in range(ROUNDS):
                with session_scope(factory) as session:
                    connection = lock_connection_for_update(session, connection_id)
                    seen = connection.token_version
                    time.sleep(0.002)  # widen the race window a lost update would need
                    connection.token_version = seen + 1
                    connection.token_ciphertext = f"v{seen + 1}"
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(make_session_factory(engine),)) for engine in engines
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()

    assert errors == []
    engine = make_engine(migrated_db)
    try:
        with make_session_factory(engine)() as session:
            connection = get_connection(session, connection_id)
            assert connection.token_version == WORKERS * ROUNDS
            assert connection.token_ciphertext == f"v{WORKERS * ROUNDS}"
    finally:
        engine.dispose()


def test_lock_returns_none_for_an_unknown_connection(session_factory):
    with session_scope(session_factory) as session:
        assert lock_connection_for_update(session, 999_999) is None


def test_lock_may_be_taken_twice_in_one_transaction(session_factory, connection_id):
    with session_scope(session_factory) as session:
        first = lock_connection_for_update(session, connection_id)
        assert lock_connection_for_update(session, connection_id) is first


def test_on_sqlite_the_lock_must_open_the_transaction(session_factory, connection_id, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks rows at any point in a transaction")
    with session_scope(session_factory) as session:
        session.scalars(select(XeroConnection)).all()
        with pytest.raises(LockOrderError):
            lock_connection_for_update(session, connection_id)
