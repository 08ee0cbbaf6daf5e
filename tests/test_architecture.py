"""The arrows of STYLE.md, checked by reading every module's imports (ast, nothing is run)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "storage")
STDLIB = frozenset(sys.stdlib_module_names)


@dataclass(frozen=True)
class Import:
    """One import statement's target, as a dotted module name, and where it stands."""

    module: str  # importer, e.g. "bot.chasing.sync"
    target: str  # imported, e.g. "storage.db" or "httpx"
    line: int
    type_checking: bool  # under `if TYPE_CHECKING:`: a type hint, not a runtime arrow

    @property
    def top(self) -> str:
        return self.target.split(".")[0]

    def __str__(self) -> str:
        hint = " (TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.module}:{self.line} imports {self.target}{hint}"


class Tree:
    """The product's modules under `root` and what each imports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: dict[str, Path] = {}
        for package in PACKAGES:
            for path in sorted((root / package).rglob("*.py")):
                parts = list(path.relative_to(root).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                self.modules[".".join(parts)] = path
        self._imports: dict[str, tuple[Import, ...]] = {}

    def imports_of(self, module: str) -> tuple[Import, ...]:
        if module not in self._imports:
            self._imports[module] = tuple(self._read(module, self.modules[module]))
        return self._imports[module]

    def all_imports(self) -> list[Import]:
        return [imp for module in self.modules for imp in self.imports_of(module)]

    def _read(self, module: str, path: Path) -> Iterator[Import]:
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node, type_checking in _walk(tree, False):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against this module's package
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # `from pkg import name` imports the submodule pkg.name when there is one.
                targets = [prefix] + [
                    f"{prefix}.{alias.name}"
                    for alias in node.names
                    if f"{prefix}.{alias.name}" in self.modules
                ]
            else:
                continue
            for target in targets:
                yield Import(module, target, node.lineno, type_checking)

    def runtime_closure(self, start: str) -> set[str]:
        """Every module `start` loads when imported or called (TYPE_CHECKING aside)."""
        seen: set[str] = set()
        todo = [start]
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            if module not in self.modules:
                continue
            for imp in self.imports_of(module):
                if not imp.type_checking:
                    parts = imp.target.split(".")  # importing a.b.c runs a and a.b first
                    todo += [".".join(parts[: i + 1]) for i in range(len(parts))]
        return seen


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_checking: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_checking
                yield from _walk(stmt, type_checking)
            continue
        yield child, type_checking
        yield from _walk(child, type_checking)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# The arrows -------------------------------------------------------------------------------

# joserfc is authlib's own JOSE engine (authlib depends on it; authlib.jose is deprecated in
# its favour); tenacity is the retry library STYLE.md prefers. Neither does I/O of its own.
XERO_ALLOWED = frozenset({"httpx", "authlib", "joserfc", "msgspec", "tenacity"})
STORAGE_ALLOWED = frozenset({"sqlalchemy", "alembic"})  # Alembic: SQLAlchemy's migrations
CHASING_FORBIDDEN = ("slack_sdk", "slack_bolt", "bot.deps", "bot.cli", "bot.sandbox")
# What can reach the network, a database, files or processes: pure code loads none of it,
# directly or through our own modules (bot.xero.client reaches httpx). SQLAlchemy's models and
# enums are plain data; a database is reached only through storage.db's engines and sessions.
IMPURE = (
    "httpx", "authlib", "psycopg", "slack_bolt", "slack_sdk.web", "slack_sdk.socket_mode",
    "slack_sdk.oauth", "starlette", "uvicorn", "socket", "sqlite3", "subprocess",
    "urllib.request", "http.client", "smtplib", "aiosmtpd", "storage.db",
)
# The only product modules that may start or import the local Xero.
SANDBOX_USERS = frozenset({"bot.cli.demo", "bot.cli.sandbox"})


def xero_breaches(tree: Tree) -> list[str]:
    """bot/xero imports httpx, authlib, msgspec and the standard library only."""
    return [
        str(imp)
        for imp in tree.all_imports()
        if within(imp.module, "bot.xero")
        and not (imp.top in STDLIB or imp.top in XERO_ALLOWED or within(imp.target, "bot.xero"))
    ]


def storage_breaches(tree: Tree) -> list[str]:
    """storage imports SQLAlchemy (and its Alembic) only."""
    return [
        str(imp)
        for imp in tree.all_imports()
        if within(imp.module, "storage")
        and not (imp.top in STDLIB or imp.top in STORAGE_ALLOWED or imp.top == "storage")
    ]


def chasing_breaches(tree: Tree) -> list[str]:
    """bot/chasing never imports Slack, the composition root, the CLI or the sandbox."""
    return [
        str(imp)
        for imp in tree.all_imports()
        if within(imp.module, "bot.chasing")
        and any(within(imp.target, forbidden) for forbidden in CHASING_FORBIDDEN)
    ]


def sandbox_breaches(tree: Tree) -> list[str]:
    """Nothing of the product imports the sandbox but the `sandbox` and `demo` commands."""
    return [
        str(imp)
        for imp in tree.all_imports()
        if within(imp.target, "bot.sandbox")
        and not within(imp.module, "bot.sandbox")
        and imp.module not in SANDBOX_USERS
    ]


def impure_reach(tree: Tree, package: str) -> list[str]:
    """Each module of `package` whose runtime imports reach something impure, and what."""
    problems = []
    for module in tree.modules:
        if within(module, package):
            reached = tree.runtime_closure(module)
            bad = sorted(m for m in reached if any(within(m, i) for i in IMPURE))
            if bad:
                problems.append(f"{module} reaches {', '.join(bad)}")
    return problems


def blocks_breaches(tree: Tree) -> list[str]:
    """bot/blocks are pure: data in, Block Kit out, nothing that does I/O."""
    return impure_reach(tree, "bot.blocks")


# Pure chasing rules that blocks and services alike may import.
PURE_RULES = ("bot.chasing.receivables", "bot.chasing.xero_edits", "bot.chasing.policy",
              "bot.chasing.schedules", "bot.chasing.schedule_form", "bot.chasing.lookup_views")


def pure_rule_breaches(tree: Tree) -> list[str]:
    """The chasing modules that hold pure rules reach nothing that does I/O."""
    return [problem for module in PURE_RULES for problem in impure_reach(tree, module)]


@pytest.fixture(scope="module")
def product() -> Tree:
    return Tree(ROOT)


def test_the_xero_library_imports_httpx_authlib_msgspec_and_the_standard_library_only(product):
    assert xero_breaches(product) == []


def test_storage_imports_sqlalchemy_only(product):
    assert storage_breaches(product) == []


def test_chasing_never_imports_slack_the_composition_root_the_cli_or_the_sandbox(product):
    assert chasing_breaches(product) == []


def test_the_product_imports_the_sandbox_only_in_the_sandbox_and_demo_commands(product):
    assert sandbox_breaches(product) == []


def test_blocks_are_pure(product):
    assert blocks_breaches(product) == []


def test_the_rules_blocks_may_read_are_pure(product):
    assert pure_rule_breaches(product) == []


# Each check must be able to fail: it catches a breach planted in a copy of the tree. -------


@pytest.fixture
def copy(tmp_path):
    """Plant a line in a module of a copy of the product tree; returns the copy's Tree."""
    import shutil

    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )

    def plant(*edits: tuple[str, str]) -> Tree:
        for relative, source in edits:
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            before = path.read_text() if path.exists() else '"""Planted."""\n'
            path.write_text(before + "\n" + source + "\n")
        return Tree(tmp_path)

    return plant


@pytest.mark.parametrize(
    ("relative", "source", "check"),
    [
        ("bot/xero/client.py", "from storage import db", xero_breaches),
        ("bot/xero/client.py", "import slack_sdk", xero_breaches),
        ("bot/xero/client.py", "from ..sandbox import ledger", xero_breaches),
        ("storage/db.py", "import httpx", storage_breaches),
        ("storage/db.py", "from bot.xero import models", storage_breaches),
        ("bot/chasing/sync.py", "from slack_sdk import WebClient", chasing_breaches),
        ("bot/chasing/sync.py", "def f():\n    import slack_bolt", chasing_breaches),
        ("bot/chasing/receivables.py", "from bot.deps import AppDeps", chasing_breaches),
        ("bot/chasing/sync.py", "from bot.cli import support", chasing_breaches),
        ("bot/chasing/receivables.py", "from bot import deps", chasing_breaches),
        ("bot/cli/sync.py", "from bot.sandbox import ledger", sandbox_breaches),
        ("bot/web.py", "import bot.sandbox.server", sandbox_breaches),
        ("bot/blocks/planted.py", "import httpx", blocks_breaches),
        ("bot/chasing/receivables.py", "from storage import db", pure_rule_breaches),
        ("bot/chasing/lookup_views.py", "from bot.chasing.plan import plan_chase",
         pure_rule_breaches),
    ],
)
def test_each_check_catches_a_planted_breach(copy, relative, source, check):
    before = check(copy())
    after = check(copy((relative, source)))
    assert len(after) > len(before)


def test_purity_follows_imports_through_other_modules(copy):
    tree = copy(("bot/blocks/planted.py", "from bot.chasing import receivables_service"))
    assert any(
        problem.startswith("bot.blocks.planted ") and "storage.db" in problem
        for problem in blocks_breaches(tree)
    )


def test_type_checking_imports_are_not_runtime_arrows_for_purity(copy):
    tree = copy(
        (
            "bot/blocks/planted.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from bot.chasing.receivables_service import ReceivablesService",
        )
    )
    assert not any(problem.startswith("bot.blocks.planted ") for problem in blocks_breaches(tree))
