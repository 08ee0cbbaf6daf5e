"""Shared pytest fixtures: each concern lives in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.sandbox",
    "tests.fixtures.slack",
    "tests.fixtures.sync_world",
    "tests.fakes.smtp",
]
