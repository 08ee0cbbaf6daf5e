"""Writers take the write lock when they begin; row locks; read-only transactions never wait."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

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


def test_rows_cannot_be_locked_in_a_read_only_transaction(session_factory, connection_id):
    with session_scope(session_factory, read_only=True) as session, pytest.raises(LockOrderError):
        lock_connection_for_update(session, connection_id)


def test_a_lock_after_a_read_is_fine_because_the_transaction_began_with_the_write_lock(
    session_factory, connection_id
):
    with session_scope(session_factory) as session:
        session.scalars(select(XeroConnection)).all()
        assert lock_connection_for_update(session, connection_id) is not None


@pytest.mark.timeout(120)
def test_read_then_write_transactions_in_many_threads_never_fail_or_lose_an_update(
    migrated_db, connection_id
):
    """No explicit lock: each transaction reads a value, then writes it plus one.

    Without the write lock at BEGIN, SQLite fails such a transaction with "database is
    locked" at once (its read snapshot went stale), and PostgreSQL loses updates.
    """
    engines = [make_engine(migrated_db) for _ in range(WORKERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def worker(factory) -> None:
        try:
            start.wait()
            for _ in range(ROUNDS):
                with session_scope(factory) as session:
                    seen = session.scalar(
                        select(XeroConnection.token_version).where(
                            XeroConnection.id == connection_id
                        )
                    )
                    time.sleep(0.002)  # widen the window another writer would need
                    connection = session.get(XeroConnection, connection_id)
                    connection.token_version = seen + 1
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
            assert get_connection(session, connection_id).token_version == WORKERS * ROUNDS
    finally:
        engine.dispose()


@pytest.mark.timeout(120)
def test_a_read_only_transaction_reads_while_a_writer_holds_the_lock(
    session_factory, connection_id
):
    with session_scope(session_factory) as writer:
        writer.get(XeroConnection, connection_id).tenant_name = "Renamed, not yet committed"
        writer.flush()
        # Same thread: if this waited for the writer, it would never get its turn.
        with session_scope(session_factory, read_only=True) as reader:
            assert get_connection(reader, connection_id).tenant_name == "Demo Company"
    with session_scope(session_factory, read_only=True) as reader:
        assert get_connection(reader, connection_id).tenant_name == "Renamed, not yet committed"


def test_a_read_only_transaction_refuses_to_write(session_factory, connection_id):
    with pytest.raises(DBAPIError), session_scope(session_factory, read_only=True) as session:
        session.get(XeroConnection, connection_id).tenant_name = "Changed"
        session.flush()
    with session_scope(session_factory) as session:
        connection = session.get(XeroConnection, connection_id)
        assert connection.tenant_name == "Demo Company"
        connection.tenant_name = "Writable again"  # the pooled connection is writable again
    with session_scope(session_factory, read_only=True) as session:
        assert session.get(XeroConnection, connection_id).tenant_name == "Writable again"
