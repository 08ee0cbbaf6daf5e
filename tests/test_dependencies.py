"""Every package the code imports is declared in pyproject.toml (read by ast, nothing is run)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"bot", "storage", "tests", "benchmarks"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]).lower()


def declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    return {
        "bot": runtime,
        "storage": runtime,
        "tests": runtime | extras["test"],
        "benchmarks": runtime | extras["test"] | extras.get("bench", set()),
    }


def third_party_imports(folder: str) -> dict[str, str]:
    """Top-level module -> the first place that imports it, for modules not ours or stdlib."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in OURS and top not in sys.stdlib_module_names:
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def undeclared(folder: str) -> list[str]:
    """Imports in `folder` that no dependency it may use provides."""
    providers = packages_distributions()
    allowed = declared()[folder]
    problems = []
    for module, where in sorted(third_party_imports(folder).items()):
        # A module not installed here (an optional extra) is known by its own name.
        dists = {_name(d) for d in providers.get(module, [])} or {_name(module)}
        if not dists & allowed:
            problems.append(f"{where} imports {module} (from {sorted(dists) or '?'})")
    return problems


def test_the_product_imports_only_declared_dependencies():
    assert undeclared("bot") + undeclared("storage") == []


def test_the_tests_import_only_declared_dependencies():
    assert undeclared("tests") == []


def test_benchmarks_import_only_declared_dependencies():
    assert undeclared("benchmarks") == []
