"""``dingrelay check``'s warnings: secrets written into the YAML file itself instead of read from the environment.

The file is read as written, before ``${VAR}`` expansion (:mod:`dingrelay.config`). A secret is literal when any of
it is in the file: text outside a ``${VAR}`` reference, or a ``${VAR:-default}`` default. For a robot's webhook
only its ``access_token`` counts: the rest of the URL is no secret. Warnings, not errors: a file only its owner
can read is a choice, but an easy one to regret once the file is copied or committed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from ..config import Problem
from ..envvars import _ENV_REF

#: (section, key): the settings that hold a secret. ``webhook`` holds its robot's access token.
SECRET_KEYS = (("robots", "secret"), ("robots", "webhook"), ("sources", "token"), ("bots", "app_secret"))


def literal_secrets(data: Any) -> list[Problem]:
    """The secrets ``data`` (a configuration file's YAML, not yet expanded) writes literally, each with its key."""
    found: list[Problem] = []
    if not isinstance(data, dict):
        return found
    for section, key in SECRET_KEYS:
        entries = data.get(section)
        for name, entry in (entries.items() if isinstance(entries, dict) else ()):
            value = entry.get(key) if isinstance(entry, dict) else None
            if value is None or value == "":
                continue
            written = _written(str(value))
            env = _env_name(f"{name}_{'access_token' if key == 'webhook' else key}")
            if key == "webhook":
                if parse_qs(urlsplit(written).query).get("access_token"):
                    found.append(Problem(f"{section}.{name}.{key}", "its access_token is written in the file; "
                                         f"write access_token=${{{env}}} and export {env}"))
            elif written:
                found.append(Problem(f"{section}.{name}.{key}", f"the secret is written in the file; write "
                                     f"${{{env}}} and export {env}"))
    return found + _link_literals(data)


def _link_literals(data: dict[str, Any]) -> list[Problem]:
    """The card buttons' secrets: ``server.link_secret`` and each source's ``alertmanager.token``."""
    found: list[tuple[str, str]] = []
    server = data.get("server")
    if isinstance(server, dict) and server.get("link_secret"):
        found.append(("server.link_secret", str(server["link_secret"])))
    sources = data.get("sources")
    for name, src in (sources.items() if isinstance(sources, dict) else ()):
        am = src.get("alertmanager") if isinstance(src, dict) else None
        if isinstance(am, dict) and am.get("token"):
            found.append((f"sources.{name}.alertmanager.token", str(am["token"])))
    problems = []
    for key, value in found:
        if _written(value):
            env = "DINGRELAY_LINK_SECRET" if key == "server.link_secret" else _env_name(key.split(".", 1)[1])
            problems.append(Problem(key, f"the secret is written in the file; write ${{{env}}} and export {env}"))
    return problems


def literal_secrets_in(path: str | Path) -> list[Problem]:
    """:func:`literal_secrets` of the YAML file at ``path`` (already known to be a valid configuration)."""
    return literal_secrets(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def _written(value: str) -> str:
    """What of ``value`` the file itself holds: each ``${VAR}`` removed, each ``${VAR:-default}`` its default."""
    return _ENV_REF.sub(lambda m: m.group(2) or "", value)


def _env_name(text: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", text.upper())
