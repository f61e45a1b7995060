"""``${ENV_VAR}`` and ``${ENV_VAR:-default}`` references in configuration values, replaced from the environment
so secrets stay out of the file (:mod:`dingrelay.config` applies it to the whole YAML tree before validating)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(value: Any, path: str, env: Mapping[str, str], problem: Callable[[str, str], None]) -> Any:
    """``value`` (a YAML tree at ``path``) with every reference replaced; an unset variable without a default is
    reported to ``problem(key, message)`` and becomes ""."""
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problem(path, f"environment variable {name} is not set; export it before starting")
            return ""
        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, f"{path}.{k}" if path else str(k), env, problem) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, f"{path}.{i}", env, problem) for i, v in enumerate(value)]
    return value
