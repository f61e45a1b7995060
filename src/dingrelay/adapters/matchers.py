"""Alertmanager's label matchers: ``severity="critical"``, ``job!=node``, ``instance=~"db-.*"``, ``team!~"a|b"``.

The syntax is Alertmanager's classic matcher syntax (``pkg/labels/parse.go``), so a line copied from an
``alertmanager.yml`` route means the same here:

- a label name ``[a-zA-Z_:][a-zA-Z0-9_:]*``, an operator ``=``, ``!=``, ``=~`` or ``!~``, then the value;
  whitespace around each part is ignored;
- the value may be in double quotes, inside which ``\\"``, ``\\\\`` and ``\\n`` are escapes; an unescaped ``"``
  inside the value is an error;
- regular expressions are RE2 (Go's ``regexp``, as Alertmanager), fully anchored as Alertmanager's
  ``^(?:VALUE)$``: ``=~"db"`` does not match ``db-1``. RE2 has no backreferences and no lookaround (``\\1``,
  ``(?=...)``, ``(?<!...)``): a matcher using them is an error, as it is in Alertmanager, and matching takes time
  linear in the label's length;
- a label the alert lacks has the value ``""``: ``team=""`` matches an alert without ``team``, and
  ``team!="dba"`` matches it too;
- one string may hold several matchers, comma-separated, optionally in braces: ``{severity="critical", team="dba"}``.
  All of them must match (AND).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import re2

Operator = Literal["=", "!=", "=~", "!~"]
_OPERATORS: dict[str, Operator] = {"=": "=", "!=": "!=", "=~": "=~", "!~": "!~"}

# "=~" before "=", so that "=~" is not read as "=" followed by a value starting with "~".
_MATCHER = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}
_RE2 = re2.Options()
_RE2.log_errors = False  # a bad pattern is our MatcherError, not a line on stderr


class MatcherError(ValueError):
    """A matcher that cannot be parsed; the message says what is wrong and shows the expected form. ``kind``:
    ``syntax`` (not NAME OP VALUE), ``quote`` (quotes do not pair), ``regex`` (RE2 refuses the value) or ``empty``."""

    def __init__(self, message: str, *, kind: str = "syntax") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Operator
    value: str
    _regex: Any = field(default=None, repr=False, compare=False)   # a compiled RE2 pattern

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def matcher(name: str, op: Operator, value: str) -> Matcher:
    """A matcher from its parts; a regex operator compiles ``value`` with RE2, anchored at both ends."""
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re2.compile(f"(?:{value})", options=_RE2)
        except re2.error as exc:
            raise MatcherError(f"{name}{op}: {value!r} is not a valid regular expression ({_re2_reason(exc)}; "
                               "RE2 syntax as in Alertmanager: no backreferences, no lookahead or lookbehind)",
                               kind="regex") from None
    return Matcher(name, op, value, regex)


def _re2_reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def parse_matcher(text: str) -> Matcher:
    """One matcher, such as ``severity="critical"``."""
    m = _MATCHER.match(text)
    if m is None:
        raise MatcherError(f"{text!r} is not a matcher: write NAME=\"VALUE\" with one of =, !=, =~, !~ "
                           f"(for example severity=\"critical\")")
    name, op, raw = m.group(1), m.group(2), m.group(3)
    return matcher(name, _OPERATORS[op], _unquote(raw, text))


def _unquote(raw: str, text: str) -> str:
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    i, closed = 0, False
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))  # a spurious escape is a literal backslash
            i += 2
            continue
        if ch == '"':
            if not quoted or i != len(body) - 1:
                raise MatcherError(f"{text!r}: the value contains an unescaped double quote; "
                                   'write \\" inside a quoted value', kind="quote")
            closed = True
        else:
            out.append(ch)
        i += 1
    if quoted and not closed:
        raise MatcherError(f"{text!r}: the value's opening double quote is never closed", kind="quote")
    return "".join(out)


def parse_matchers(text: str) -> list[Matcher]:
    """Every matcher in ``text``: comma-separated, optionally in ``{...}``; commas inside quotes do not split."""
    inner = text.strip()
    inner = inner.removeprefix("{").removesuffix("}")
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in inner:
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        if ch == '"' and not escaped:
            quoted = not quoted
        escaped = ch == "\\" and not escaped
        current.append(ch)
    last = "".join(current)
    if last.strip():
        parts.append(last)
    if not parts:
        raise MatcherError(f"{text!r} holds no matcher; write NAME=\"VALUE\", for example severity=\"critical\"",
                           kind="empty")
    return [parse_matcher(p) for p in parts]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
