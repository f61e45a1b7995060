"""Python handlers: functions a bot's ``handlers`` module marks with :func:`command`.

::

    from dingrelay.bot import Context, command

    @command("deploy", help="deploy <服务>: 发布一个服务")
    def deploy(ctx: Context) -> str:
        return f"开始发布 {ctx.args}"

    @command(pattern=r"^发布\\s+(?P<svc>\\S+)")
    def publish(ctx: Context) -> str:
        return f"开始发布 {ctx.groups['svc']}"

The decorator only marks the function; :func:`load_handlers` collects the marked functions of a module in the
order they are defined. Nothing is global, so one module can serve several bots.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..dingtalk.messages import Message
from .context import Context

Reply = str | Message | None
HandlerFunc = Callable[[Context], Reply]

#: Command words the pipeline answers itself; a handler may not take them.
BUILTIN_COMMANDS = ("help", "帮助", "ping", "status", "状态")

_MARK = "__dingrelay_commands__"


@dataclass(frozen=True)
class Handler:
    """One registered handler: answers the command word ``name`` (the text's first word), or text matching
    ``pattern`` (``re.search``)."""

    func: HandlerFunc
    name: str | None = None
    pattern: re.Pattern[str] | None = None
    help: str = ""

    @property
    def usage(self) -> str:
        what = self.name if self.name is not None else f"/{self.pattern.pattern if self.pattern else ''}/"
        return f"{what}: {self.help}" if self.help else what

    def match(self, text: str) -> re.Match[str] | bool:
        """A truthy value when this handler answers ``text``: the regex match, or True for a command word."""
        if self.name is not None:
            first = text.split(maxsplit=1)[0] if text.strip() else ""
            return first.casefold() == self.name.casefold()
        assert self.pattern is not None
        return self.pattern.search(text) or False


def command(name: str | None = None, *, pattern: str | None = None, help: str | None = None
            ) -> Callable[[HandlerFunc], HandlerFunc]:
    """Mark a function as a handler for the command word ``name`` or for text matching ``pattern``.

    The function takes a :class:`~dingrelay.bot.Context` and returns a ``str`` (sent as text), a DingTalk
    :class:`~dingrelay.dingtalk.Message`, or ``None`` (no reply). ``help`` defaults to its docstring's first line.
    """
    if (name is None) == (pattern is None):
        raise TypeError("command() takes either a command word or pattern=, not both or neither")
    if name is not None and (not name.strip() or len(name.split()) != 1):
        raise ValueError(f"a command word is one word without spaces, not {name!r}")
    if name is not None and name.casefold() in BUILTIN_COMMANDS:
        raise ValueError(f"{name!r} is a built-in command; choose another word")
    compiled = re.compile(pattern) if pattern is not None else None

    def mark(func: HandlerFunc) -> HandlerFunc:
        doc = (func.__doc__ or "").strip().splitlines()
        handler = Handler(func=func, name=name, pattern=compiled, help=help if help is not None else
                          (doc[0] if doc else ""))
        marks: list[Handler] = getattr(func, _MARK, [])
        setattr(func, _MARK, [*marks, handler])
        return func

    return mark


class HandlersNotLoaded(Exception):
    """The ``handlers`` module cannot be imported or registers something unusable."""


def handlers_in(module: ModuleType) -> list[Handler]:
    """The handlers ``module`` marked, in definition order (several decorators on one function: top first)."""
    found: list[Handler] = []
    seen: set[int] = set()
    for value in vars(module).values():
        marks: Any = getattr(value, _MARK, None)
        if isinstance(marks, list) and id(value) not in seen:
            seen.add(id(value))
            found.extend(reversed(marks))  # decorators apply bottom-up
    return found


def load_handlers(module_name: str | None) -> list[Handler]:
    """Import ``module_name`` and collect its handlers; :class:`HandlersNotLoaded` says why it failed."""
    if not module_name:
        return []
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlersNotLoaded(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    handlers = handlers_in(module)
    names = [h.name.casefold() for h in handlers if h.name is not None]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise HandlersNotLoaded(f"{module_name} registers command {', '.join(dupes)} more than once")
    return handlers
