"""Engines and sessions: SQLite pragmas, PostgreSQL URLs, commit-or-rollback scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from storage.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_CACHE_KIB,
    SQLITE_WAL_AUTOCHECKPOINT_PAGES,
    make_engine,
    normalize_url,
    session_scope,
)
from storage.models import Workspace
from storage.repositories import get_or_create_workspace


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h:5432/db",
        "postgres://u@h:5432/db",
        "postgresql+psycopg://u@h:5432/db",
    ],
)
def test_postgresql_urls_use_the_psycopg3_driver(url):
    assert normalize_url(url).drivername == "postgresql+psycopg"


def test_sqlite_engine_creates_its_directory_and_sets_pragmas(tmp_path):
    path = tmp_path / "data" / "chaser.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
            assert pragma("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
            assert SQLITE_CACHE_KIB >= 32 * 1024
            assert pragma("PRAGMA wal_autocheckpoint").scalar() == SQLITE_WAL_AUTOCHECKPOINT_PAGES
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL: safe with WAL
        assert path.exists()
    finally:
        engine.dispose()


def test_postgresql_writers_wait_for_locks_as_long_as_sqlite_writers_do(db_engine, db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    with db_engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == (
            f"{SQLITE_BUSY_TIMEOUT_MS // 1000}s"
        )


def test_sqlite_engine_does_not_invent_a_whole_missing_path(tmp_path):
    path = tmp_path / "no" / "such" / "chaser.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(OperationalError), engine.connect():
            pass
        assert not (tmp_path / "no").exists()
    finally:
        engine.dispose()


def test_session_scope_commits_on_success(session_factory):
    with session_scope(session_factory) as session:
        get_or_create_workspace(session, "T1")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 1


def test_session_scope_rolls_back_when_the_block_raises(session_factory):
    with pytest.raises(RuntimeError), session_scope(session_factory) as session:
        get_or_create_workspace(session, "T1")
        raise RuntimeError("boom")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 0


def test_objects_stay_readable_after_commit(session_factory):
    with session_scope(session_factory) as session:
        workspace = get_or_create_workspace(session, "T1", name="Acme")
    assert workspace.name == "Acme"


def test_sqlite_reads_and_writes_in_one_session_are_one_transaction(session_factory, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite transaction handling only")
    with session_factory() as session:
        get_or_create_workspace(session, "T1")
        assert session.connection().exec_driver_sql("SELECT 1").scalar() == 1
        assert session.connection().connection.dbapi_connection.in_transaction
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Workspace)) == 0
