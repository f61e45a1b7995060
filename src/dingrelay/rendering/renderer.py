"""Render a template plus data into a typed DingTalk :class:`~dingrelay.dingtalk.Message`.

A template declares its message with top-level ``set`` statements; its rendered output, stripped, is the body::

    {% set msgtype = "markdown" %}          text | markdown | actionCard | link; default: markdown if
    {% set title %}[巡检] {{ x }}{% endset %}   a title is set, else text
    {% set at_mobiles = ["138..."] %}       also at_user_ids, at_all (text and markdown)
    {% set single_title = "查看" %}          actionCard: single_title + single_url, or
    {% set single_url = url %}              buttons = [{"title": ..., "url": ...}, ...]
    {% set message_url = url %}             link: message_url, optional pic_url
    body text...

Every failure is a :class:`RenderError` whose ``code`` says what kind. In use::

    renderer = Renderer(templates_dir)   # None: the built-ins only
    message = renderer.render("error", {"title": "磁盘", "content": "/data 95%"})   # a dingtalk Message
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateNotFound, TemplateSyntaxError
from jinja2.environment import TemplateModule
from jinja2.exceptions import SecurityError, UndefinedError

from ..dingtalk.errors import MessageInvalid
from ..dingtalk.messages import Message, parse_message
from .cards import CARDS, CheckCard
from .environment import BUILTIN_DIR, SUFFIX, make_environment, make_loaders, template_file
from .filters import SHANGHAI


class RenderError(Exception):
    """A template could not make a message.

    ``code`` is one of ``unknown_template``, ``syntax``, ``undefined`` (``field`` names the variable),
    ``sandbox`` (the template tried something unsafe), ``runtime`` (any other error while rendering, such as a
    filter given the wrong kind of value) or ``invalid_message`` (``field`` names the message field).
    """

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"RenderError(code={self.code!r}, message={self.message!r}, field={self.field!r})"


_UNDEFINED_NAME = re.compile(r"^'(?P<name>[^']+)' is undefined|has no (?:attribute|element) '?(?P<key>[^']+?)'?$")


class Renderer:
    """Built-in templates, overridden and extended by name from ``user_dir``."""

    def __init__(self, user_dir: Path | None = None, *, clock: Callable[[], float] = time.time,
                 compiled_cards: bool = True) -> None:
        if user_dir is not None and not Path(user_dir).is_dir():
            raise NotADirectoryError(f"template directory {user_dir} does not exist or is not a directory")
        self._user_dir = Path(user_dir) if user_dir is not None else None
        self._loaders = make_loaders(self._user_dir)
        self._env = make_environment(self._loaders)
        self._clock = clock
        # The built-in 巡检 cards, made without Jinja2 where a name resolves to the built-in template (``cards``);
        # ``compiled_cards=False`` renders them through Jinja2 too (the reference their tests compare with).
        self._cards: dict[str, CheckCard] = {os.path.normpath(BUILTIN_DIR / f): c for f, c in CARDS.items()
                                             if compiled_cards}

    def names(self) -> list[str]:
        """Every template name, built-in and user, sorted."""
        found = set()
        for loader in self._loaders:
            for file in loader.list_templates():
                name = file.removesuffix(SUFFIX)
                if file.endswith(SUFFIX) and template_file(name):
                    found.add(name)
        return sorted(found)

    def exists(self, name: str) -> bool:
        try:
            self.source(name)
        except RenderError:
            return False
        return True

    def source(self, name: str) -> tuple[str, str]:
        """The template's text and where it comes from: ``"builtin"`` or the user file's path."""
        file = self._file(name)
        for loader in self._loaders:
            try:
                text, path, _ = loader.get_source(self._env, file)
            except TemplateNotFound:
                continue
            origin = "builtin" if loader is self._loaders[-1] else str(path)
            return text, origin
        raise self._unknown(name)

    def render(self, name: str, data: Mapping[str, Any]) -> Message:
        file = self._file(name)
        try:
            template = self._env.get_template(file)
        except TemplateNotFound as exc:
            if exc.name == file:
                raise self._unknown(name) from None
            raise _missing_include(name, exc) from None
        except TemplateSyntaxError as exc:
            raise _syntax(name, exc) from None
        card = self._cards.get(template.filename or "")
        if card is not None:
            made = card.make(data, self.now)
            if made is not None:
                return made
        return self._make(template, data, name)

    def render_string(self, source: str, data: Mapping[str, Any], *, name: str = "<inline>") -> Message:
        try:
            template = self._env.from_string(source)
        except TemplateSyntaxError as exc:
            raise _syntax(name, exc) from None
        return self._make(template, data, name)

    def now(self) -> datetime:
        """The injected clock's time in Asia/Shanghai: the ``now`` every template sees."""
        return datetime.fromtimestamp(self._clock(), SHANGHAI)

    def _make(self, template: Template, data: Mapping[str, Any], name: str) -> Message:
        try:
            module = template.make_module({"now": self.now(), **data})
            return _message(module, name)
        except RenderError:
            raise
        except TemplateNotFound as exc:
            raise _missing_include(name, exc) from None
        except TemplateSyntaxError as exc:
            raise _syntax(name, exc) from None
        except SecurityError as exc:
            raise RenderError("sandbox", f"template {name!r}: {exc} (refused by the sandbox)") from None
        except UndefinedError as exc:
            raise _undefined(name, exc) from None
        except Exception as exc:  # a user template can fail in any way; report it, don't crash the caller
            raise RenderError("runtime", f"template {name!r}: {type(exc).__name__}: {exc}") from None

    def _file(self, name: str) -> str:
        file = template_file(name)
        if file is None:
            raise self._unknown(name)
        return file

    def _unknown(self, name: str) -> RenderError:
        return RenderError("unknown_template", f"no template named {name!r} (templates: {', '.join(self.names())})")


def _syntax(name: str, exc: TemplateSyntaxError) -> RenderError:
    where = exc.name.removesuffix(SUFFIX) if exc.name else name
    return RenderError("syntax", f"template {where!r}, line {exc.lineno}: {exc.message}")


def _missing_include(name: str, exc: TemplateNotFound) -> RenderError:
    return RenderError("unknown_template", f"template {name!r} includes {exc.name!r}, which does not exist")


def _undefined(name: str, exc: UndefinedError) -> RenderError:
    text = exc.message or str(exc)
    m = _UNDEFINED_NAME.search(text)
    var = (m.group("name") or m.group("key")) if m else None
    if m and m.group("name"):
        return RenderError("undefined", f"template {name!r} uses {var!r}, which the data does not define", field=var)
    return RenderError("undefined", f"template {name!r}: the data has no {var!r} ({text})", field=var)


# ---- module -> message -----------------------------------------------------------------------------------------

def _message(module: TemplateModule, name: str) -> Message:
    declared = _Declared(module, name)
    body = str(module).strip()
    has_title = declared.get("title") is not None
    msgtype = declared.text("msgtype") if declared.get("msgtype") is not None else (
        "markdown" if has_title else "text")
    inner: dict[str, Any]
    if msgtype == "text":
        inner = {"content": body}
    elif msgtype == "markdown":
        inner = {"title": declared.required("title", msgtype), "text": body}
    elif msgtype == "actionCard":
        inner = {"title": declared.required("title", msgtype), "text": body}
        buttons = declared.get("buttons")
        if buttons:
            inner["btns"] = declared.buttons(buttons)
        else:
            inner["singleTitle"] = declared.required("single_title", msgtype)
            inner["singleURL"] = declared.required("single_url", msgtype)
        for var, key in (("btn_orientation", "btnOrientation"), ("hide_avatar", "hideAvatar")):
            if declared.get(var) is not None:
                inner[key] = declared.get(var)
    elif msgtype == "link":
        inner = {"title": declared.required("title", msgtype), "text": body,
                 "messageUrl": declared.required("message_url", msgtype)}
        if declared.get("pic_url"):
            inner["picUrl"] = declared.text("pic_url")
    else:
        raise RenderError("invalid_message", f"template {name!r} sets msgtype {msgtype!r}; templates can make "
                          "text, markdown, actionCard or link messages", field="msgtype")
    payload: dict[str, Any] = {"msgtype": msgtype, msgtype: inner}
    at = declared.at()
    if at is not None:
        payload["at"] = at
    try:
        return parse_message(payload)
    except MessageInvalid as exc:
        raise RenderError("invalid_message", f"template {name!r} made an invalid {msgtype} message: {exc.message}",
                          field=exc.field) from None


class _Declared:
    """The variables a template set at top level."""

    def __init__(self, module: TemplateModule, name: str) -> None:
        self._module = module
        self._name = name

    def get(self, var: str) -> Any:
        value = getattr(self._module, var, None)
        if value is not None:
            str(value)  # an undefined value raises here, naming the variable
        return value

    def text(self, var: str) -> str:
        return str(self.get(var)).strip()

    def required(self, var: str, msgtype: str) -> str:
        value = self.get(var)
        if value is None or not str(value).strip():
            raise RenderError("invalid_message", f"template {self._name!r} makes a {msgtype} message but sets no "
                              f"{var}; add {{% set {var} = ... %}}", field=var)
        return str(value).strip()

    def buttons(self, value: Any) -> list[dict[str, str]]:
        items = value if isinstance(value, list | tuple) else [value]
        out = []
        for item in items:
            if not isinstance(item, Mapping) or "title" not in item or "url" not in item:
                raise RenderError("invalid_message", f"template {self._name!r}: each of buttons must be "
                                  '{"title": ..., "url": ...}', field="buttons")
            out.append({"title": str(item["title"]), "actionURL": str(item["url"])})
        return out

    def at(self) -> dict[str, Any] | None:
        mobiles = _strings(self.get("at_mobiles"))
        user_ids = _strings(self.get("at_user_ids"))
        at_all = bool(self.get("at_all"))
        if not (mobiles or user_ids or at_all):
            return None
        return {"atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": at_all}


def _strings(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str | int):
        return [str(value)]
    return [str(v) for v in value]
