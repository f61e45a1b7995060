"""The single-event sources by name: ``zabbix``, ``gitlab``, ``jenkins``, each a hook, a built-in template of the
same name, and a parser from the webhook body (and, for GitLab, its ``X-Gitlab-Event`` header) to an
:class:`~.events.Event`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .events import Event
from .gitlab import parse_gitlab
from .jenkins import parse_jenkins
from .zabbix import parse_zabbix

#: source kind -> parse(body, event header or None)
PARSERS: dict[str, Callable[[Any, str | None], Event]] = {
    "zabbix": lambda body, _header: parse_zabbix(body),
    "gitlab": parse_gitlab,
    "jenkins": lambda body, _header: parse_jenkins(body),
}
