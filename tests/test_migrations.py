"""Alembic owns the schema: one head, reversible, and identical to the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.db import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)
from storage.models import Base


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_have_exactly_one_head():
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [head_revision()]


def test_a_new_database_has_no_revision_until_upgraded(db_url):
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()


def test_upgrade_downgrade_to_base_and_upgrade_again_round_trips(db_url):
    upgrade(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)
    downgrade(db_url, "base")
    assert current_revision(db_url) is None
    assert _tables(db_url) == set()
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    assert _tables(db_url) == set(Base.metadata.tables)


def test_migrated_schema_matches_the_models(migrated_db):
    engine = make_engine(migrated_db)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_works_from_any_working_directory(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
