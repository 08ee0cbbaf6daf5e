"""The README's Quickstart holds exactly two commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Quickstart has exactly one fenced block"
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_quickstart_holds_exactly_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2
    assert commands[0].endswith("chaser demo")
    assert "pytest" in commands[1] and "ruff check" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quickstart_commands()[1] in ci.splitlines()


def test_readme_carries_the_benchmark_figures():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    for script in ("benchmarks/sync_full.py", "benchmarks/parse_invoices.py"):
        assert script in section
        assert (ROOT / script).exists()
    assert "ms per 1,000 invoices" in section and "speed-up" in section
