"""Engines, sessions and schema migrations for SQLite and PostgreSQL.

One rule for concurrency lives here: a transaction that may write takes the database's
write lock when it begins, so a read followed by a write can never be overtaken by another
writer in between, in threads or processes. SQLite: BEGIN IMMEDIATE. PostgreSQL: one
transaction-scoped advisory lock, the same for every writer. A transaction that only reads
says so (session_scope(read_only=True)): it takes no lock, never waits, and cannot write.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a writer waits for the write lock (SQLite's busy timeout, PostgreSQL's
# lock_timeout). Long enough to outlast a token refresh, which holds the write lock across
# one call to Xero (its HTTP timeout is 30 s): other writers wait for it rather than fail
# "database is locked"; a writer stuck behind a mistake still fails instead of hanging.
SQLITE_BUSY_TIMEOUT_MS = 45_000
# A Connection execution option (see read_only_options): this transaction only reads.
READ_ONLY = "chaser_read_only"
# The PostgreSQL advisory lock that plays SQLite's write lock. Any fixed number will do:
# advisory locks belong to one database, so other databases on the server are unaffected.
POSTGRES_WRITE_LOCK_KEY = 0x63686173_65720001
# Page cache per connection (KiB). A sync upserts each page of invoices onto random pages of
# four indexes (Xero ids are UUIDs): SQLite's default 2 MB thrashes past ~20,000 invoices and
# every miss is a read() system call. The cache only grows as pages are actually used.
SQLITE_CACHE_KIB = 32 * 1024
# WAL pages before a checkpoint copies them into the database (SQLite's default is 1,000,
# 4 MB). A bulk sync rewrites the same hot index pages in commit after commit; checkpointing
# less often writes each page back once instead of once per few commits.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, sending postgres:// and postgresql:// to the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """Create an engine whose writing transactions take the write lock when they begin.

    SQLite also gets WAL, foreign keys, a busy timeout and the cache, checkpoint and sync
    settings of _install_sqlite_hooks.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
        if parsed.get_backend_name() == "postgresql":
            _install_postgres_hooks(engine)
        return engine
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        # The database's own folder (e.g. data/) is created; a whole missing path is a typo,
        # left for SQLite to refuse with "unable to open database file".
        with contextlib.suppress(FileNotFoundError):
            Path(database).expanduser().parent.mkdir(exist_ok=True)
    engine = create_engine(
        parsed, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )
    _install_sqlite_hooks(engine)
    return engine


def _bind_null(value: None) -> None:
    return value


def _install_sqlite_hooks(engine: Engine) -> None:
    # Python 3.11's sqlite3 binds exact ints, floats, str and bytearray directly; any other
    # value, None included, first goes through its adapter registry, and a miss there ends
    # in a formatted AttributeError (0.3 µs a value). A sync binds a few NULLs per invoice:
    # with an adapter registered, a None costs one lookup and is still bound as NULL.
    sqlite3.register_adapter(type(None), _bind_null)

    # pysqlite's own transaction handling delays BEGIN until the first write, so reads and
    # a later write are not one transaction and BEGIN IMMEDIATE is impossible. SQLAlchemy's
    # documented recipe: switch that off and emit BEGIN ourselves from the `begin` event.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: KiB
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
            # In WAL mode NORMAL fsyncs at checkpoints, not on every commit (a sync commits
            # every few pages and each fsync costs CPU and I/O). It never corrupts the file
            # and a crash of this process loses nothing; only a power cut or OS crash may
            # drop the last commits the OS had not yet written back. Synced rows come back
            # with the next sync (the high-water mark is committed after its pages). A lost
            # token rotation or a sent-reminder record would not: if that ever matters more
            # than sync speed, set synchronous=FULL for those transactions' connections.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Every transaction that may write takes the write lock up front. A deferred BEGIN
        # reads from a snapshot and asks for the lock at its first write; when another
        # writer committed in between, SQLite cannot let it wait (its snapshot is stale) and
        # answers "database is locked" at once, whatever the busy timeout. With BEGIN
        # IMMEDIATE a second writer waits at BEGIN (busy timeout) and then sees fresh data.
        # Read-only transactions keep WAL's lock-free reads, and SQLite enforces them.
        read_only = bool(connection.get_execution_options().get(READ_ONLY))
        info = connection.connection.info  # lives as long as this DBAPI connection
        if info.get("query_only", False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            info["query_only"] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _install_postgres_hooks(engine: Engine) -> None:
    # Row locks and ON CONFLICT would let writers of different rows overlap, but then every
    # check-then-insert (a sync state, a contact's addresses) needs its own care and SQLite
    # tests could not show the mistakes. Writes here are short and never wait on Xero except
    # a token refresh, so one writer at a time, as on SQLite, costs little.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        dbapi_connection.commit()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_WRITE_LOCK_KEY})")


def read_only_options() -> dict[str, Any]:
    """Execution options for a transaction that only reads: no write lock, writes refused.

    SQLite begins it deferred (readers never wait for writers in WAL mode) with
    query_only set; PostgreSQL runs it as a READ ONLY transaction.
    """
    return {READ_ONLY: True, "postgresql_readonly": True}


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises.

    It holds the database's write lock from its first statement to its end (see the module
    docstring), so keep it short and never call Xero inside one. `read_only` takes no lock
    and refuses writes: for reads that must not wait behind a writer.
    """
    session = factory()
    try:
        if read_only:
            session.connection(execution_options=read_only_options())
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Migrations ----------------------------------------------------------------------------


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic configured in code, so migrations run from any working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["url"] = normalize_url(url)
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops everything)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None for an unmigrated database."""
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(**read_only_options()) as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def revisions() -> list[str]:
    """Every revision shipped with this package, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def head_revision() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
