"""The Jinja2 environment: sandboxed, strict about undefined variables, no HTML escaping (the output is markdown).

Templates are looked up first in the user's directory (``templates.dir``), then among the built-ins shipped in
``templates/``. A template named ``info`` is the file ``info.j2``.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .filters import FILTERS

BUILTIN_DIR = Path(__file__).parent / "templates"
SUFFIX = ".j2"

# Word characters, dots and dashes; optional sub-folders; no segment may start with a dot, so no "..".
_NAME = re.compile(r"\w[\w.-]*(?:/\w[\w.-]*)*")

#: Longest string or list a template may build with ``*`` (a message is at most 20,000 bytes anyway).
MAX_REPEAT = 100_000
#: Largest exponent a template may use with ``**``.
MAX_EXPONENT = 1_000


def template_file(name: str) -> str | None:
    """The file name of template ``name``, or ``None`` when the name could escape the template folders."""
    return name + SUFFIX if _NAME.fullmatch(name) else None


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, also refusing ``"x" * 10**9``-style memory and CPU bombs.

    Immutable: a template cannot change the caller's data (``data.clear()``, ``list.append``).
    """

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > MAX_REPEAT:
                    raise SecurityError(f"repeating a sequence beyond {MAX_REPEAT} items is not allowed")
            return operator.mul(left, right)
        if op == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
            return operator.pow(left, right)
        return super().call_binop(context, op, left, right)


def make_loaders(user_dir: Path | None) -> list[FileSystemLoader]:
    """The template folders in lookup order: the user's first, then the built-ins."""
    dirs = [user_dir] if user_dir is not None else []
    return [FileSystemLoader(d) for d in [*dirs, BUILTIN_DIR]]


def make_environment(loaders: list[FileSystemLoader]) -> MessageEnvironment:
    """The environment over ``loaders``. With the built-ins alone (no user folder), each template is compiled once
    and never checked for changes again: the built-ins change only with the package."""
    env = MessageEnvironment(
        loader=ChoiceLoader(loaders),
        auto_reload=len(loaders) > 1,  # a user's folder may be edited while the gateway runs
        undefined=StrictUndefined,
        autoescape=False,  # the output is DingTalk markdown or plain text, never HTML
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env
