"""What follows a ChatOps command word: matchers, a duration, a comment, a number or an id prefix.

Matchers are Alertmanager's (:mod:`dingrelay.adapters.matchers`: RE2 regexes, anchored). In the chat they may be
written space-separated (``alertname=DiskFull instance=~"web-.*"``; a quoted value may hold spaces), comma-separated
(``alertname=DiskFull, instance=~"web-.*"``) or in braces (``{alertname="DiskFull", instance=~"web-.*"}``).

Every refusal is an :class:`ArgumentError` whose message is a one-line Chinese reply saying what was wrong and the
expected form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from ..adapters.matchers import Matcher, MatcherError, parse_matchers
from .durations import DurationError, looks_like_duration, parse_duration

SILENCE_USAGE = 'silence 标签=值… 时长 [备注]，例如 silence alertname=DiskFull instance=~"web-.*" 2h 扩容中'
ALERTS_USAGE = "alerts [标签=值…]，例如 alerts severity=critical"
_MATCHER_START = re.compile(r"^(?:\{|[a-zA-Z_:][a-zA-Z0-9_:]*\s*(?:=~|!=|!~|=))")
_ID_PREFIX = re.compile(r"^[0-9a-fA-F-]{1,36}$")


class ArgumentError(ValueError):
    """The command's arguments cannot be used; ``str()`` is the one-line Chinese reply."""


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class SilenceRequest:
    matchers: tuple[Matcher, ...]
    duration: timedelta
    comment: str


def tokens(text: str) -> list[Token]:
    """Words split at spaces outside double quotes and braces; a backslash escapes the next character in quotes."""
    found: list[Token] = []
    start: int | None = None
    quoted = escaped = False
    depth = 0
    for i, ch in enumerate(text):
        if start is None:
            if ch.isspace():
                continue
            start = i
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "{":
            depth += 1
        elif not quoted and ch == "}":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and ch.isspace():
            found.append(Token(text[start:i], start, i))
            start = None
    if start is not None:
        found.append(Token(text[start:], start, len(text)))
    return found


def is_matcher(word: str) -> bool:
    return _MATCHER_START.match(word) is not None


def matchers_of(words: list[Token]) -> list[Matcher]:
    """The matchers of ``words`` (each one or more matchers); :class:`ArgumentError` says which word is wrong."""
    found: list[Matcher] = []
    for word in words:
        try:
            found.extend(parse_matchers(word.text))
        except MatcherError as exc:
            raise ArgumentError(_matcher_problem(word.text, exc)) from None
    return found


def parse_filter(args: str) -> list[Matcher]:
    """``alerts``' optional matchers."""
    words = tokens(args)
    for word in words:
        if not is_matcher(word.text):
            raise ArgumentError(f"「{word.text}」不是匹配条件：写成 标签=值；用法：{ALERTS_USAGE}")
    return matchers_of(words)


def parse_silence(args: str) -> SilenceRequest:
    """``silence``'s matchers, duration and comment (the rest of the text, as written)."""
    words = tokens(args)
    lead = 0
    while lead < len(words) and is_matcher(words[lead].text):
        lead += 1
    if lead == 0:
        if words and not looks_like_duration(words[0].text) and not words[0].text[:1].isdigit():
            raise ArgumentError(f"「{words[0].text}」不是匹配条件：写成 标签=值；用法：{SILENCE_USAGE}")
        raise ArgumentError(f"缺少匹配条件；用法：{SILENCE_USAGE}")
    matchers = matchers_of(words[:lead])
    if lead == len(words):
        raise ArgumentError(f"缺少时长；用法：{SILENCE_USAGE}")
    word = words[lead]
    if not looks_like_duration(word.text) and not word.text[:1].isdigit():
        raise ArgumentError(f"「{word.text}」不是匹配条件，也不是时长；用法：{SILENCE_USAGE}")
    try:
        duration = parse_duration(word.text)
    except DurationError as exc:
        raise ArgumentError(str(exc)) from None
    check_specific(matchers)
    return SilenceRequest(tuple(matchers), duration, args[word.end:].strip())


def check_specific(matchers: list[Matcher]) -> None:
    """Alertmanager refuses a silence whose every matcher matches the empty string: it would silence everything."""
    if all(m.matches({}) for m in matchers):
        raise ArgumentError("这些匹配条件能匹配所有告警（每个都匹配空值），Alertmanager 不接受；"
                            "请至少写一个具体的条件，例如 alertname=DiskFull")


def parse_number(args: str) -> int:
    """``ack``'s alert number."""
    words = args.split()
    if len(words) != 1 or not words[0].isdigit() or int(words[0]) < 1:
        raise ArgumentError("请写告警编号，例如 ack 1（编号来自最近一次 alerts 的列表）")
    return int(words[0])


def parse_id_prefix(args: str) -> str:
    """``unsilence``'s silence id, or the start of it."""
    words = args.split()
    if len(words) != 1 or not _ID_PREFIX.match(words[0]):
        raise ArgumentError("请写静默的 id 或其前几位，例如 unsilence 1a2b3c4d（id 见 silences 的列表）")
    return words[0].lower()


def _matcher_problem(word: str, exc: MatcherError) -> str:
    if exc.kind == "regex":
        why = "正则表达式无效（RE2 语法，同 Alertmanager；不支持反向引用和环视）"
    elif exc.kind == "quote":
        why = '引号不成对（值里的双引号写成 \\"）'
    elif exc.kind == "empty":
        why = "里面没有匹配条件"
    else:
        why = "不是匹配条件：写成 标签=值，运算符 =、!=、=~ 或 !~"
    return f"「{word}」{why}，例如 alertname=DiskFull 或 instance=~\"web-.*\""
