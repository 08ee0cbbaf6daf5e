"""Shared pytest fixtures: each concern lives in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.sandbox",
    "tests.fixtures.slack",
    "tests.fixtures.sync_world",
    "tests.fakes.smtp",
]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per reason tests were skipped, with a count, instead of one per test."""
    from collections import Counter

    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.write_sep("-", "skipped (README: Tests says how to run them)")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:5d}  {reason}")
