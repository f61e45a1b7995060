"""Imports point one way (STYLE.md): the protocol core imports nothing of ours, and Flask stays in web/.

Imports are read with ``ast`` from the source, so a violation is found even in a module that cannot be imported
or in an import inside a function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dingrelay"
CORE = "dingrelay.dingtalk"
#: Third-party libraries the protocol core must not import: web, database and template layers.
CORE_FORBIDDEN = ("flask", "werkzeug", "sqlalchemy", "psycopg", "jinja2")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


BEYOND_TOP = "<beyond the top-level package>"


def imported_modules(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str, bool]]:
    """(line, absolute dotted name, is_from_base) for every import in ``source``, relative imports resolved.

    ``from pkg import name`` yields ``pkg`` (with ``is_from_base``) and ``pkg.name``, since ``name`` may be a
    module. A relative import that climbs above the top-level package yields :data:`BEYOND_TOP`.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, False
        elif isinstance(node, ast.ImportFrom):
            if node.level and node.level - 1 >= len(package):
                yield node.lineno, BEYOND_TOP, True
                continue
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield node.lineno, target, True
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{target}.{alias.name}", False


def _is(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


def core_violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """What ``source`` (the text of ``module``) imports that the protocol core must not."""
    found = []
    for line, name, from_base in imported_modules(source, module, is_package=is_package):
        if name == BEYOND_TOP:
            found.append(f"line {line}: relative import beyond the top-level package")
        elif any(_is(name, lib) for lib in CORE_FORBIDDEN):
            found.append(f"line {line}: {name}")
        elif _is(name, "dingrelay") and not _is(name, CORE) and not (from_base and name == "dingrelay"):
            # `from dingrelay import X` is judged by X; `import dingrelay` is the top package itself.
            found.append(f"line {line}: {name} (outside {CORE})")
    return found


def flask_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return [f"line {line}: {name}" for line, name, _ in imported_modules(source, module, is_package=is_package)
            if _is(name, "flask")]


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


CORE_MODULES = sources(PACKAGE / "dingtalk")
NON_WEB_MODULES = [p for p in sources(PACKAGE) if not p.is_relative_to(PACKAGE / "web")]


def test_the_core_package_is_where_the_test_looks() -> None:
    names = {module_name(p) for p in CORE_MODULES}
    assert {"dingrelay.dingtalk", "dingrelay.dingtalk.client", "dingrelay.dingtalk.signing"} <= names


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: module_name(p))
def test_the_core_imports_no_web_database_or_template_library_and_nothing_else_of_ours(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert core_violations(source, module_name(path), is_package=path.name == "__init__.py") == []


@pytest.mark.parametrize("path", NON_WEB_MODULES, ids=lambda p: module_name(p))
def test_flask_is_imported_only_under_web(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert flask_imports(source, module_name(path), is_package=path.name == "__init__.py") == []


# --- the checks themselves catch violations ------------------------------------------------------------------

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
        pytest.param("from dingrelay.web import create_app", CLIENT, id="absolute-web"),
        pytest.param("import dingrelay.delivery.store", CLIENT, id="absolute-delivery"),
        pytest.param("from dingrelay import config", CLIENT, id="from-top-package"),
        pytest.param("import dingrelay", CLIENT, id="bare-top-package"),
        pytest.param("from .. import config", CLIENT, id="relative-up-one"),
        pytest.param("from ..rendering import render", CLIENT, id="relative-sibling-package"),
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


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import flask", True),
        ("from flask.views import MethodView", True),
        ("def f():\n    from flask import current_app\n", True),
        ("import flask_sqlalchemy", False),
        ("import click", False),
    ],
)
def test_the_flask_check_catches_flask_imports(source: str, found: bool) -> None:
    assert bool(flask_imports(source, "dingrelay.cli.send")) is found
