"""Alembic migrations for the chaser-bot schema (a package so it installs with `storage`)."""
