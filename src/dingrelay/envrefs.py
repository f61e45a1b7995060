"""``${VAR}`` and ``${VAR:-default}`` in configuration values, replaced from the environment (so secrets stay out
of the file). Each reference to a variable that is not set is reported with the key it appears under."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(value: Any, env: Mapping[str, str], path: str = "") -> tuple[Any, list[tuple[str, str]]]:
    """``value`` (YAML data) with every reference replaced; and (key, problem) for each unset variable."""
    problems: list[tuple[str, str]] = []
    return _substitute(value, path, env, problems), problems


def _substitute(value: Any, path: str, env: Mapping[str, str], problems: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append((path, f"environment variable {name} is not set; export it before starting"))
            return ""
        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}.{i}", env, problems) for i, v in enumerate(value)]
    return value
