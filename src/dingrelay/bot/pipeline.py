"""From what a person wrote to a robot to the robot's reply.

Tried in this order; the first that answers wins:

1. built-in commands, by the text's first word: ``help`` (帮助), ``ping``, ``status`` (状态), then the commands the
   composition root adds (``commands``: a bot with ``alertmanager`` gets :mod:`dingrelay.chatops`' ``alerts``,
   ``silences``, ``silence``, ``unsilence``, ``ack``);
2. the bot's reply rules from the configuration, in order (``re.search`` on the text);
3. the Python handlers of the bot's ``handlers`` module, in definition order (command word or pattern);
4. anything else gets the help reply.

A failing handler or template gets a short apology; the trace goes to the log and never into the chat.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from ..delivery.model import QueueState
from ..dingtalk.callback import IncomingMessage
from ..dingtalk.messages import At, Message, Text
from ..rendering import SHANGHAI, Renderer
from .context import Context, template_data
from .registry import Handler, Reply
from .spec import BotSpec, ReplyRule

log = logging.getLogger("dingrelay.bot")

APOLOGY = "抱歉，处理这条消息时出错了，已记录日志，请稍后再试。"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SESSION_QUEUE_PREFIX = "session:"

#: Built-in command words (first word of the text, any case) -> the command.
BUILTINS = {"help": "help", "帮助": "help", "ping": "ping", "status": "status", "状态": "status"}
BUILTIN_HELP = (
    "help（帮助）: 列出所有指令和回复规则",
    "ping: 回复 pong 和服务器时间",
    "status（状态）: 队列长度、各机器人积压、限流状态和最近失败",
)


class StatusSource(Protocol):
    """What ``status`` reads: the delivery queue (a :class:`~dingrelay.delivery.store.Store` provides both)."""

    def queues(self, now: float) -> list[QueueState]: ...
    def counts(self) -> dict[str, int]: ...


class Pipeline:
    """One bot's commands, reply rules and handlers. :meth:`reply` never raises."""

    def __init__(self, spec: BotSpec, *, renderer: Renderer, status: StatusSource,
                 handlers: Sequence[Handler] = (), commands: Sequence[Handler] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self.name = spec.name
        self.renderer = renderer
        self.status_source = status
        self.handlers = list(handlers)
        self.commands = list(commands)   # built in for this bot: before the reply rules
        self.clock = clock
        self.rules = spec.rules

    def reply(self, message: IncomingMessage) -> Message | None:
        """The reply to ``message`` (``None``: say nothing); an apology if anything fails."""
        text = message.plain_text
        try:
            answer = self._answer(message, text)
        except Exception:
            log.exception("bot %s could not answer message %s (%r)", self.name, message.msg_id, text[:80])
            answer = Text(content=APOLOGY)
        return self._address(answer, message)

    # -- choosing the answer -----------------------------------------------------------------------------

    def _answer(self, message: IncomingMessage, text: str) -> Message | None:
        word = text.split(maxsplit=1)[0].casefold() if text else ""
        builtin = BUILTINS.get(word)
        if builtin == "help":
            return self.help()
        if builtin == "ping":
            return Text(content=f"pong {self._now().strftime(TIME_FORMAT)} (Asia/Shanghai)")
        if builtin == "status":
            return self.status()
        for command in self.commands:
            if command.match(text):
                return self._call(command, True, message, text)
        for rule in self.rules:
            m = rule.regex.search(text)
            if m:
                return self._render_rule(rule, m, message, text)
        for handler in self.handlers:
            hit = handler.match(text)
            if hit:
                return self._call(handler, hit, message, text)
        return self.help()

    def _render_rule(self, rule: ReplyRule, m: re.Match[str], message: IncomingMessage, text: str) -> Message:
        data = {**template_data(message, text, self.spec.vars), **_groups(m)}
        if rule.template is not None:
            return self.renderer.render(rule.template, data)
        assert rule.text is not None
        return self.renderer.render_string(rule.text, data, name=f"bots.{self.name}.replies.{rule.index}.text")

    def _call(self, handler: Handler, hit: re.Match[str] | bool, message: IncomingMessage, text: str
              ) -> Message | None:
        m = hit if isinstance(hit, re.Match) else None
        parts = text.split(maxsplit=1)
        ctx = Context(bot=self.name, message=message, text=text,
                      args=parts[1] if m is None and len(parts) > 1 else "",
                      groups=_groups(m) if m is not None else {}, match=m, now=self._now(),
                      vars=self.spec.vars, renderer=self.renderer)
        return _as_message(handler.func(ctx), handler)

    def _address(self, reply: Message | None, message: IncomingMessage) -> Message | None:
        """In a group, a text reply @s its sender (when DingTalk told us the sender's userId)."""
        if isinstance(reply, Text) and reply.at is None and message.is_group and message.sender_staff_id:
            return Text(content=reply.content, at=At(user_ids=[message.sender_staff_id]))
        return reply

    # -- built-ins ---------------------------------------------------------------------------------------

    def help(self) -> Text:
        lines = ["我能做这些（@我 并发送）：", "指令："]
        lines += [f"- {usage}" for usage in BUILTIN_HELP]
        lines += [f"- {c.usage}" for c in self.commands]
        lines += [f"- {h.usage}" for h in self.handlers]
        if self.rules:
            lines.append("回复规则：")
            lines += [f"- {r.usage}" for r in self.rules]
        return Text(content="\n".join(lines))

    def status(self) -> Text:
        now = self.clock()
        c = self.status_source.counts()
        lines = [f"状态 {self._now().strftime(TIME_FORMAT)}",
                 f"队列：排队 {c.get('queued', 0)}，重试 {c.get('retrying', 0)}，发送中 {c.get('sending', 0)}，"
                 f"已送达 {c.get('delivered', 0)}，失败 {c.get('dead', 0)}"]
        queues = self.status_source.queues(now)
        # A session queue's name stands for its webhook: sessions are only counted, never named.
        sessions = [q for q in queues if q.queue.startswith(SESSION_QUEUE_PREFIX)]
        for q in queues:
            if q in sessions:
                continue
            parts = [f"积压 {q.backlog}", f"发送中 {q.sending}"]
            parts.append(f"限流至 {_fmt(q.paused_until)}" if q.paused_until else "未限流")
            if q.last_error:
                parts.append(f"最近失败：{q.last_error}")
            lines.append(f"{q.queue}：" + "，".join(parts))
        if sessions:
            lines.append(f"会话回复：{len(sessions)} 个会话，积压 {sum(q.backlog for q in sessions)}")
        return Text(content="\n".join(lines))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), SHANGHAI)


def _groups(m: re.Match[str]) -> dict[str, str]:
    return {k: v if v is not None else "" for k, v in m.groupdict().items()}


def _fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, SHANGHAI).strftime(TIME_FORMAT)


def _as_message(value: Reply, handler: Handler) -> Message | None:
    if value is None or isinstance(value, Message):
        return value
    if isinstance(value, str):
        return Text(content=value) if value.strip() else None
    raise TypeError(f"handler {handler.usage} returned {type(value).__name__}; return str, a Message or None")
