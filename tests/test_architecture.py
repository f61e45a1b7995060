"""The rules of the tree (STYLE.md), each enforced here, each with a test that its checker catches a violation.

- the protocol core ``dingrelay.dingtalk`` imports nothing of ours, and no web, database or template library;
- the emulator imports only the core of ours; the product imports the emulator only from ``dingrelay.cli``;
- only the storage package ``dingrelay.delivery.sql`` imports SQLAlchemy (or Alembic, or a database driver);
- only ``dingrelay.web`` imports Flask or werkzeug;
- only ``dingrelay.prometheus`` imports prometheus-client (everything else records through
  ``dingrelay.delivery.metrics.Metrics``);
- only the composition root (``dingrelay.wiring``, ``dingrelay.cli``, ``dingrelay.runtime`` and ``dingrelay.config``
  itself) imports the settings types of ``dingrelay.config``; everything else gets resolved tables;
- no import cycles among the modules of src/;
- no module in src/ over 400 lines;
- every package's ``__init__.py`` starts with a one-paragraph docstring saying what lives there and what it may
  import.

Imports are read with ``ast`` from the source, so a violation is found even in a module that cannot be imported,
in an import inside a function, or under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dingrelay"
CORE = "dingrelay.dingtalk"
EMULATOR = "dingrelay.emulator"
CLI = "dingrelay.cli"
WEB = "dingrelay.web"
STORAGE = "dingrelay.delivery.sql"
CONFIG = "dingrelay.config"
#: The modules that may read settings: they build everything else from them.
COMPOSITION_ROOT = ("dingrelay.wiring", CLI, "dingrelay.runtime", CONFIG)
#: Third-party libraries the protocol core must not import: web, database and template layers.
CORE_FORBIDDEN = ("flask", "werkzeug", "sqlalchemy", "alembic", "psycopg", "jinja2")
WEB_LIBRARIES = ("flask", "werkzeug")
DATABASE_LIBRARIES = ("sqlalchemy", "alembic", "psycopg")
PROMETHEUS = "dingrelay.prometheus"
METRICS_LIBRARIES = ("prometheus_client",)
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


BEYOND_TOP = "<beyond the top-level package>"


@dataclass(frozen=True)
class Import:
    line: int
    target: str                      # the module named: ``x.y`` for ``import x.y`` and ``from x.y import z``
    names: tuple[str, ...] | None    # ``from`` imports: the names taken (``*`` left out); None for ``import``


def imports(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every import statement in ``source`` (the text of ``module``), relative imports resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            if node.level and node.level - 1 >= len(package):
                yield Import(node.lineno, BEYOND_TOP, ())
                continue
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield Import(node.lineno, target, tuple(a.name for a in node.names if a.name != "*"))


def imported_modules(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str, bool]]:
    """(line, absolute dotted name, is_from_base) for every import in ``source``, relative imports resolved.

    ``from pkg import name`` yields ``pkg`` (with ``is_from_base``) and ``pkg.name``, since ``name`` may be a
    module. A relative import that climbs above the top-level package yields :data:`BEYOND_TOP`.
    """
    for imp in imports(source, module, is_package=is_package):
        yield imp.line, imp.target, imp.names is not None
        for name in imp.names or ():
            yield imp.line, f"{imp.target}.{name}", False


def _is(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


def ours_beyond(source: str, module: str, allowed: tuple[str, ...], *, is_package: bool = False) -> list[str]:
    """What ``source`` imports of dingrelay outside the ``allowed`` packages."""
    found = []
    for line, name, from_base in imported_modules(source, module, is_package=is_package):
        if name == BEYOND_TOP:
            found.append(f"line {line}: relative import beyond the top-level package")
        elif _is(name, "dingrelay") and not any(_is(name, a) for a in allowed) \
                and not (from_base and name == "dingrelay"):
            # `from dingrelay import X` is judged by X; `import dingrelay` is the top package itself.
            found.append(f"line {line}: {name} (outside {', '.join(allowed)})")
    return found


def library_imports(source: str, module: str, libraries: tuple[str, ...], *, is_package: bool = False
                    ) -> list[str]:
    """Where ``source`` imports any of the third-party ``libraries``."""
    return [f"line {line}: {name}" for line, name, _ in imported_modules(source, module, is_package=is_package)
            if any(_is(name, lib) for lib in libraries)]


def core_violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """What ``source`` (the text of ``module``) imports that the protocol core must not."""
    return (library_imports(source, module, CORE_FORBIDDEN, is_package=is_package)
            + ours_beyond(source, module, (CORE,), is_package=is_package))


def emulator_violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return ours_beyond(source, module, (CORE, EMULATOR), is_package=is_package)


def emulator_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return [f"line {line}: {name}" for line, name, _ in imported_modules(source, module, is_package=is_package)
            if _is(name, EMULATOR)]


def flask_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return library_imports(source, module, WEB_LIBRARIES, is_package=is_package)


def sql_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return library_imports(source, module, DATABASE_LIBRARIES, is_package=is_package)


def metrics_library_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return library_imports(source, module, METRICS_LIBRARIES, is_package=is_package)


def settings_types(config_source: str) -> frozenset[str]:
    """The settings types ``dingrelay.config`` defines: its classes built on pydantic's BaseModel."""
    found: set[str] = {"BaseModel"}
    classes = [n for n in ast.parse(config_source).body if isinstance(n, ast.ClassDef)]
    while True:
        more = {c.name for c in classes if c.name not in found
                and any(isinstance(b, ast.Name) and b.id in found for b in c.bases)}
        if not more:
            return frozenset(found - {"BaseModel"})
        found |= more


def settings_reads(source: str, module: str, types: frozenset[str], *, is_package: bool = False) -> list[str]:
    """Where ``source`` imports a settings type of ``dingrelay.config``, or the module itself (``import
    dingrelay.config``, ``from dingrelay import config``: every type comes with it)."""
    found = []
    for line, name, from_base in imported_modules(source, module, is_package=is_package):
        if (name == CONFIG and not from_base) or name in {f"{CONFIG}.{t}" for t in types}:
            found.append(f"line {line}: {name}")
    return found


def import_graph(modules: Mapping[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of ``modules`` (name -> (source, is_package)) that importing it imports.

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``. Importing a module
    also runs its packages' ``__init__``: those are edges too, except to the importer's own packages (a package
    importing its modules is how packages work).
    """
    graph: dict[str, set[str]] = {}
    for name, (source, is_package) in modules.items():
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)} | ({name} if is_package else set())
        edges: set[str] = set()
        for imp in imports(source, name, is_package=is_package):
            if imp.target == BEYOND_TOP:
                continue
            named = [f"{imp.target}.{n}" for n in imp.names] if imp.names else []
            targets = [t for t in named if t in modules]
            if imp.names is None or len(targets) < len(named):
                targets.append(imp.target)
            for target in targets:
                parts = target.split(".")
                known = next((".".join(parts[:i]) for i in range(len(parts), 0, -1)
                              if ".".join(parts[:i]) in modules), None)
                if known is None:
                    continue  # a third-party module
                edges.add(known)
                edges |= {p for i in range(1, known.count(".") + 1)
                          if (p := ".".join(known.split(".")[:i])) in modules and p not in own}
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted, as import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def too_long(source: str, limit: int = MAX_LINES) -> int | None:
    """The number of lines of ``source`` when it exceeds ``limit``."""
    lines = len(source.splitlines())
    return lines if lines > limit else None


def package_docstring_problems(source: str) -> list[str]:
    """A package ``__init__`` must start with a docstring of one paragraph that says what it may import."""
    doc = ast.get_docstring(ast.parse(source))
    if not doc or not doc.strip():
        return ["no docstring"]
    problems = []
    if "\n\n" in doc.strip():
        problems.append("more than one paragraph")
    if "import" not in doc.lower():
        problems.append("does not say what it may import")
    return problems


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


ALL_MODULES = sources(PACKAGE)
MODULES = {module_name(p): (_text(p), p.name == "__init__.py") for p in ALL_MODULES}
SETTINGS_TYPES = settings_types("\n".join(_text(p) for p in sorted((PACKAGE / "config").glob("*.py"))))


def _modules(where: str | None = None, *, outside: tuple[str, ...] = ()) -> list[str]:
    return [m for m in MODULES if (where is None or _is(m, where)) and not any(_is(m, o) for o in outside)]


# --- the rules ---------------------------------------------------------------------------------------------------


def test_the_packages_are_where_the_test_looks() -> None:
    assert {"dingrelay.dingtalk.client", "dingrelay.emulator.core", "dingrelay.web.app", "dingrelay.wiring",
            "dingrelay.cli.demo", PROMETHEUS} <= set(MODULES)
    assert {"Settings", "RobotSettings", "SourceSettings", "BotSettings", "ReplyRule"} <= SETTINGS_TYPES


@pytest.mark.parametrize("module", _modules(CORE))
def test_the_core_imports_no_web_database_or_template_library_and_nothing_else_of_ours(module: str) -> None:
    source, is_package = MODULES[module]
    assert core_violations(source, module, is_package=is_package) == []


@pytest.mark.parametrize("module", _modules(EMULATOR))
def test_the_emulator_imports_only_the_core_of_ours(module: str) -> None:
    source, is_package = MODULES[module]
    assert emulator_violations(source, module, is_package=is_package) == []


@pytest.mark.parametrize("module", _modules(outside=(EMULATOR, CLI)))
def test_the_product_imports_the_emulator_only_from_the_cli(module: str) -> None:
    source, is_package = MODULES[module]
    assert emulator_imports(source, module, is_package=is_package) == []


@pytest.mark.parametrize("module", _modules(outside=(STORAGE,)))
def test_only_the_storage_package_imports_sqlalchemy(module: str) -> None:
    source, is_package = MODULES[module]
    assert sql_imports(source, module, is_package=is_package) == []


@pytest.mark.parametrize("module", _modules(outside=(WEB,)))
def test_flask_and_werkzeug_are_imported_only_under_web(module: str) -> None:
    source, is_package = MODULES[module]
    assert flask_imports(source, module, is_package=is_package) == []


@pytest.mark.parametrize("module", _modules(outside=(PROMETHEUS,)))
def test_only_the_prometheus_module_imports_prometheus_client(module: str) -> None:
    source, is_package = MODULES[module]
    assert metrics_library_imports(source, module, is_package=is_package) == []


@pytest.mark.parametrize("module", _modules(outside=COMPOSITION_ROOT))
def test_only_the_composition_root_reads_settings(module: str) -> None:
    source, is_package = MODULES[module]
    assert settings_reads(source, module, SETTINGS_TYPES, is_package=is_package) == []


def test_no_import_cycles_among_src_modules() -> None:
    assert cycles(import_graph(MODULES)) == []


@pytest.mark.parametrize("path", ALL_MODULES, ids=module_name)
def test_no_module_is_over_400_lines(path: Path) -> None:
    assert too_long(_text(path)) is None


@pytest.mark.parametrize("path", [p for p in ALL_MODULES if p.name == "__init__.py"], ids=module_name)
def test_every_package_says_in_one_paragraph_what_lives_there_and_what_it_may_import(path: Path) -> None:
    assert package_docstring_problems(_text(path)) == []


# --- the checkers catch violations -------------------------------------------------------------------------------

CLIENT = "dingrelay.dingtalk.client"
NESTED = "dingrelay.dingtalk.nested.http"  # a module one level down inside the core


@pytest.mark.parametrize(
    ("source", "module"),
    [
        pytest.param("import flask", CLIENT, id="import-flask"),
        pytest.param("from flask import Flask", CLIENT, id="from-flask"),
        pytest.param("import werkzeug.exceptions", CLIENT, id="werkzeug-submodule"),
        pytest.param("from sqlalchemy.orm import Session", CLIENT, id="sqlalchemy"),
        pytest.param("import psycopg", CLIENT, id="psycopg"),
        pytest.param("from jinja2.sandbox import SandboxedEnvironment", CLIENT, id="jinja2"),
        pytest.param("def f():\n    import jinja2\n", CLIENT, id="inside-a-function"),
        pytest.param("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..config import Settings\n",
                     CLIENT, id="under-type-checking"),
        pytest.param("from dingrelay.web import create_app", CLIENT, id="absolute-web"),
        pytest.param("import dingrelay.delivery.store", CLIENT, id="absolute-delivery"),
        pytest.param("from dingrelay import config", CLIENT, id="from-top-package"),
        pytest.param("import dingrelay", CLIENT, id="bare-top-package"),
        pytest.param("from .. import config", CLIENT, id="relative-up-one"),
        pytest.param("from ..rendering import render", CLIENT, id="relative-sibling-package"),
        pytest.param("from ..emulator import Emulator", CLIENT, id="the-emulator"),
        pytest.param("from ...config import Settings", NESTED, id="relative-up-two-from-nested"),
        pytest.param("from .. import config", "dingrelay.dingtalk", id="relative-from-package-init"),
        pytest.param("from ..... import x", CLIENT, id="beyond-top-level"),
    ],
)
def test_the_core_check_catches_a_violation(source: str, module: str) -> None:
    assert core_violations(source, module, is_package=module == "dingrelay.dingtalk") != []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        pytest.param("import httpx\nimport json\nfrom pydantic import BaseModel", CLIENT, id="third-party-ok"),
        pytest.param("from . import signing\nfrom .errors import error_for", CLIENT, id="relative-in-core"),
        pytest.param("from .. import signing", NESTED, id="nested-up-to-core"),
        pytest.param("from dingrelay.dingtalk.masking import mask_url", NESTED, id="absolute-in-core"),
        pytest.param("from dingrelay import dingtalk", CLIENT, id="the-core-package-itself"),
        pytest.param("from .callback import parse_callback", "dingrelay.dingtalk", id="package-init"),
        pytest.param("import flaskish\nimport jinja2x", CLIENT, id="names-that-only-start-alike"),
    ],
)
def test_the_core_check_allows_what_the_core_may_import(source: str, module: str) -> None:
    assert core_violations(source, module, is_package=module == "dingrelay.dingtalk") == []


@pytest.mark.parametrize(("source", "found"), [
    ("from ..dingtalk import signing", False),
    ("from dingrelay.dingtalk.messages import Text", False),
    ("from .records import Received", False),
    ("import websockets.sync.server", False),
    ("from ..delivery.model import NewMessage", True),
    ("from ..config import Settings", True),
    ("def f():\n    from ..web import create_app\n", True),
    ("from .. import wiring", True),
])
def test_the_emulator_check_allows_the_core_and_catches_the_rest_of_ours(source: str, found: bool) -> None:
    assert bool(emulator_violations(source, "dingrelay.emulator.http")) is found


@pytest.mark.parametrize(("source", "found"), [
    ("from ..emulator import Emulator", True),
    ("from dingrelay import emulator", True),
    ("def f():\n    from dingrelay.emulator.user import act_as_user\n", True),
    ("from ..dingtalk import Robot", False),
    ("import emulatorish", False),
])
def test_the_emulator_import_check_catches_the_product_importing_it(source: str, found: bool) -> None:
    assert bool(emulator_imports(source, "dingrelay.web.app")) is found


@pytest.mark.parametrize(("source", "found"), [
    ("from sqlalchemy import select", True),
    ("import sqlalchemy.engine", True),
    ("def f():\n    from sqlalchemy.exc import IntegrityError\n", True),
    ("from alembic import command", True),
    ("import psycopg", True),
    ("from ..delivery.sql import SqlStore", False),
    ("import sqlite3", False),
])
def test_the_sql_check_catches_database_library_imports(source: str, found: bool) -> None:
    assert bool(sql_imports(source, "dingrelay.bot.dedup")) is found


@pytest.mark.parametrize(("source", "found"), [
    ("import flask", True),
    ("from flask.views import MethodView", True),
    ("def f():\n    from flask import current_app\n", True),
    ("from werkzeug.exceptions import HTTPException", True),
    ("import flask_sqlalchemy", False),
    ("import click", False),
])
def test_the_flask_check_catches_flask_imports(source: str, found: bool) -> None:
    assert bool(flask_imports(source, "dingrelay.cli.send")) is found


@pytest.mark.parametrize(("source", "found"), [
    ("import prometheus_client", True),
    ("from prometheus_client.core import GaugeMetricFamily", True),
    ("def f():\n    from prometheus_client import Counter\n", True),
    ("from ..delivery.metrics import Metrics", False),
    ("from .. import prometheus", False),
])
def test_the_metrics_check_catches_prometheus_client_imports(source: str, found: bool) -> None:
    assert bool(metrics_library_imports(source, "dingrelay.delivery.worker")) is found


@pytest.mark.parametrize(("source", "module", "found"), [
    ("from ..config import Settings", "dingrelay.web.hooks", True),
    ("from ..config import BotSettings", "dingrelay.bot.pipeline", True),
    ("from dingrelay.config import SourceSettings", "dingrelay.adapters.routing", True),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .config import Settings\n", "dingrelay.gateway",
     True),
    ("def f():\n    from ..config import RobotSettings\n", "dingrelay.web.robot_compat", True),
    ("import dingrelay.config", "dingrelay.gateway", True),
    ("from .. import config", "dingrelay.web.app", True),
    ("from ..config import ConfigError, Problem", "dingrelay.web.errors", False),
    ("from ..tables import Tables", "dingrelay.web.app", False),
    ("from .configure import Settings", "dingrelay.gateway", False),
])
def test_the_settings_check_catches_settings_types_and_the_config_module(source: str, module: str,
                                                                        found: bool) -> None:
    assert bool(settings_reads(source, module, SETTINGS_TYPES, is_package=False)) is found


def test_the_settings_types_are_the_config_modules_pydantic_classes_however_deep() -> None:
    config = ("class _Section(BaseModel): ...\nclass A(_Section): ...\nclass B(A): ...\n"
              "class Problem: ...\nclass ConfigError(Exception): ...\n")
    assert settings_types(config) == {"_Section", "A", "B"}


@pytest.mark.parametrize(("modules", "cycle"), [
    pytest.param({"d.a": ("from . import b", False), "d.b": ("from .a import x", False)}, ["d.a", "d.b"],
                 id="two-modules"),
    pytest.param({"d.a": ("from .b import x", False), "d.b": ("def f():\n    from .c import y\n", False),
                  "d.c": ("import d.a", False)}, ["d.a", "d.b", "d.c"], id="three-via-a-function"),
    pytest.param({"d.a": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n", False),
                  "d.b": ("from .a import A", False)}, ["d.a", "d.b"], id="under-type-checking"),
    # importing d.p.n first runs d.p's __init__, which imports d.p.m, which imports d.q, which imports d.p.n
    pytest.param({"d.p": ("from .m import x", True), "d.p.m": ("from ..q import y", False),
                  "d.q": ("from .p.n import z", False), "d.p.n": ("", False)}, ["d.p", "d.p.m", "d.q"],
                 id="through-a-package-init"),
])
def test_the_cycle_check_catches_an_import_cycle(modules: dict[str, tuple[str, bool]], cycle: list[str]) -> None:
    assert cycle in cycles(import_graph(modules))


def test_the_cycle_check_takes_a_package_importing_its_own_modules_as_no_cycle() -> None:
    modules = {"d": ("", True), "d.p": ("from .m import x\nfrom .n import y", True),
               "d.p.m": ("from .n import y\nfrom .. import q", False), "d.p.n": ("import json", False),
               "d.q": ("", False)}
    assert cycles(import_graph(modules)) == []


def test_the_length_check_catches_a_module_over_400_lines() -> None:
    assert too_long("x = 1\n" * 401) == 401
    assert too_long("x = 1\n" * 400) is None


@pytest.mark.parametrize(("source", "problem"), [
    ("from .a import b\n", "no docstring"),
    ('"""Web views.\n\nThey may import Flask."""\n', "more than one paragraph"),
    ('"""Web views, one per feature."""\n', "does not say what it may import"),
])
def test_the_docstring_check_catches_a_package_that_does_not_say_what_it_holds(source: str, problem: str) -> None:
    assert problem in package_docstring_problems(source)


def test_the_docstring_check_takes_one_paragraph_saying_what_may_be_imported() -> None:
    doc = '"""Web views, one per feature.\nFlask and werkzeug are imported here\nand nowhere else."""\n'
    assert package_docstring_problems(doc) == []
