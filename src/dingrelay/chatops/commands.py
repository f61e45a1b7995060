"""The ChatOps commands a bot with ``alertmanager`` configured answers: ``alerts``, ``silences``, ``silence``,
``unsilence`` and ``ack``.

::

    chatops = ChatOps("helper", Alertmanager(url), silencers=frozenset({"manager1234"}))
    Pipeline(spec, ..., commands=chatops.handlers())

``alerts`` numbers what it lists and remembers the list per conversation (``conversationId``, in this process's
memory, for a day), so ``ack 2`` in the same group silences exactly the labels of the second alert it showed.
An ack silence lasts until the alert resolves, 24 hours at most: it is created for 24 hours (or up to the alert's
``endsAt`` when that is sooner and set by the alert's sender, see :func:`ack_end`) and marked with the alert's
fingerprint, and :meth:`ChatOps.release_resolved` expires the ack silences whose alert Alertmanager no longer
holds (it runs before every ``alerts``, ``silences`` and ``ack``, and every minute from the runtime).

Who may change silences: everyone in the chat, or only the staff ids in ``silencers``; reading is open to all.
Every failure is a one-line Chinese reply: bad arguments (:class:`~.arguments.ArgumentError`), a refused sender,
an Alertmanager that is unreachable or refuses (:class:`~.api.AlertmanagerError`, logged without secrets).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from ..adapters.matchers import Matcher, matcher
from ..bot.context import Context
from ..bot.registry import Handler, HandlerFunc, Reply
from ..dingtalk.messages import At, Text
from . import answers
from .api import Alert, Alertmanager, AlertmanagerError
from .arguments import ArgumentError, parse_filter, parse_id_prefix, parse_number, parse_silence

log = logging.getLogger("dingrelay.chatops")

#: The longest an ack silence holds when its alert does not resolve.
ACK_LONGEST = timedelta(hours=24)
#: How often the runtime looks for ack silences whose alert resolved.
RELEASE_SECONDS = 60.0
#: How long a conversation's numbered list is remembered, and for how many conversations.
LIST_KEEP_SECONDS = 24 * 3600.0
LIST_CONVERSATIONS = 1000
ACK_MARK = re.compile(r"\[ack fingerprint=([0-9a-f]+)\]")
WORDS = ("alerts", "silences", "silence", "unsilence", "ack")
HELP = {  # command word -> (arguments, what it does)
    "alerts": ("[标签=值…]", "正在告警的告警，按告警名分组、严重的在前，带编号"),
    "silences": ("", "生效中的静默：条件、创建人、剩余时间、id 前缀"),
    "silence": ("标签=值… 时长 [备注]", "创建静默，例如 silence alertname=DiskFull 2h 扩容中"),
    "unsilence": ("id前缀", "解除静默"),
    "ack": ("编号", "认领 alerts 列表中的告警：静默其标签直到恢复，最长 24 小时"),
}


class Refused(Exception):
    """The sender may not change silences."""


class Numbered:
    """Per conversation, the alerts the last ``alerts`` answer numbered. Thread-safe, bounded, forgetting."""

    def __init__(self, *, keep_seconds: float = LIST_KEEP_SECONDS, size: int = LIST_CONVERSATIONS) -> None:
        self.keep_seconds, self.size = keep_seconds, size
        self._lists: OrderedDict[str, tuple[float, list[Alert]]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, conversation: str, alerts: list[Alert], now: float) -> None:
        with self._lock:
            self._lists.pop(conversation, None)
            self._lists[conversation] = (now, list(alerts))
            while len(self._lists) > self.size:
                self._lists.popitem(last=False)

    def get(self, conversation: str, now: float) -> list[Alert] | None:
        with self._lock:
            found = self._lists.get(conversation)
        if found is None or now - found[0] > self.keep_seconds:
            return None
        return found[1]


def created_by(ctx: Context) -> str:
    """``张三 (manager1234)``: the sender's nick and staff id, as a silence's ``createdBy``."""
    nick = ctx.sender_nick or "钉钉用户"
    return f"{nick} ({ctx.sender_staff_id})" if ctx.sender_staff_id else nick


def ack_end(alert: Alert, now: datetime) -> datetime:
    """When an ack silence ends: 24 h from now, or the alert's ``endsAt`` when sooner and beyond the resolve
    timeout Alertmanager puts on alerts sent without one (an ``endsAt`` within the next 10 minutes is that timeout,
    refreshed while the alert fires, so it is not the alert's end)."""
    cap = now + ACK_LONGEST
    if alert.ends_at is not None and now + timedelta(minutes=10) < alert.ends_at < cap:
        return alert.ends_at
    return cap


class ChatOps:
    """One bot's Alertmanager commands. ``silencers``: staff ids that may change silences (``None``: everyone)."""

    def __init__(self, bot: str, alertmanager: Alertmanager, *, silencers: frozenset[str] | None = None,
                 clock: Callable[[], float] = time.time, numbered: Numbered | None = None) -> None:
        self.bot = bot
        self.am = alertmanager
        self.silencers = silencers
        self.clock = clock
        self.numbered = numbered or Numbered()

    def handlers(self) -> list[Handler]:
        funcs: dict[str, Callable[[Context], str | Text]] = {
            "alerts": self.alerts, "silences": self.silences, "silence": self.silence,
            "unsilence": self.unsilence, "ack": self.ack}
        return [Handler(func=self._guarded(word, funcs[word]), name=word,
                        help=f"{HELP[word][1]}（{word} {HELP[word][0]}）" if HELP[word][0] else HELP[word][1])
                for word in WORDS]

    # -- the commands ------------------------------------------------------------------------------------

    def alerts(self, ctx: Context) -> str:
        matchers = parse_filter(ctx.args)
        self._release_quietly()
        text, shown = answers.alert_list(self.am.alerts(matchers), ctx.now, filtered=matchers)
        self.numbered.remember(ctx.message.conversation_id, shown, self.clock())
        return text

    def silences(self, ctx: Context) -> str:
        self._release_quietly()
        return answers.silence_list(self.am.silences(), ctx.now)

    def silence(self, ctx: Context) -> str:
        self._check_sender(ctx)
        request = parse_silence(ctx.args)
        ends = ctx.now + request.duration
        comment = request.comment or self._default_comment(ctx)
        sid = self.am.create_silence(request.matchers, starts_at=ctx.now, ends_at=ends, created_by=created_by(ctx),
                                     comment=comment)
        log.info("bot %s: %s silenced %s until %s (silence %s)", self.bot, created_by(ctx),
                 answers.matchers_text(request.matchers), ends.isoformat(), sid)
        return answers.silenced(sid, request.matchers, ends)

    def unsilence(self, ctx: Context) -> str:
        self._check_sender(ctx)
        prefix = parse_id_prefix(ctx.args)
        held = [s for s in self.am.silences(states=("active", "pending")) if s.id.lower().startswith(prefix)]
        if not held:
            return f"没有 id 以 {prefix} 开头的生效中静默；发送 silences 查看现有静默。"
        if len(held) > 1:
            ids = "、".join(answers.short_id(s.id) for s in held[:5])
            return f"id 前缀 {prefix} 对应 {len(held)} 条静默（{ids}），请多写几位。"
        [target] = held
        self.am.expire_silence(target.id)
        log.info("bot %s: %s expired silence %s", self.bot, created_by(ctx), target.id)
        return answers.unsilenced(target, ctx.sender_nick or created_by(ctx))

    def ack(self, ctx: Context) -> Text:
        self._check_sender(ctx)
        number = parse_number(ctx.args)
        listed = self.numbered.get(ctx.message.conversation_id, self.clock())
        if not listed:
            raise ArgumentError("这个会话还没有告警列表；先发送 alerts，再用 ack 编号 认领。")
        if number > len(listed):
            raise ArgumentError(f"最近一次 alerts 的列表只有 {len(listed)} 条，没有第 {number} 条；请重新发送 alerts。")
        self._release_quietly()
        alert = listed[number - 1]
        matchers = alert_matchers(alert)
        ends = ack_end(alert, ctx.now)
        comment = f"{ctx.sender_nick or '钉钉用户'} 在钉钉认领了告警 {alert.name} [ack fingerprint={alert.fingerprint}]"
        sid = self.am.create_silence(matchers, starts_at=ctx.now, ends_at=ends, created_by=created_by(ctx),
                                     comment=comment)
        log.info("bot %s: %s acknowledged alert %s (%s) with silence %s", self.bot, created_by(ctx),
                 alert.fingerprint, alert.name, sid)
        staff = ctx.sender_staff_id
        text = answers.acked(number, alert, ctx.sender_nick or created_by(ctx), staff, sid, ends)
        return Text(content=text, at=At(user_ids=[staff]) if staff and ctx.message.is_group else None)

    # -- until it resolves -------------------------------------------------------------------------------

    def release_resolved(self) -> int:
        """Expire the ack silences whose alert Alertmanager no longer holds (it resolved); how many."""
        released = 0
        for s in self.am.silences():
            mark = ACK_MARK.search(s.comment)
            if mark is None:
                continue
            held = self.am.alerts(s.matchers, silenced=True, inhibited=True)
            if any(a.fingerprint == mark.group(1) for a in held):
                continue
            self.am.expire_silence(s.id)
            released += 1
            log.info("bot %s: alert %s resolved; its ack silence %s is expired", self.bot, mark.group(1), s.id)
        return released

    def run_forever(self, stop: threading.Event, *, every: float = RELEASE_SECONDS) -> None:
        """:meth:`release_resolved` every ``every`` seconds until ``stop`` is set (the runtime's thread)."""
        while not stop.wait(every):
            try:
                self.release_resolved()
            except Exception as exc:  # AlertmanagerError above all; the next round tries again
                log.warning("bot %s: could not release resolved acks (%s); trying again in %.0fs", self.bot,
                            exc if isinstance(exc, AlertmanagerError) else type(exc).__name__, every)

    def _release_quietly(self) -> None:
        try:
            self.release_resolved()
        except AlertmanagerError as exc:
            log.warning("bot %s: could not release resolved acks: %s", self.bot, exc)

    # -- checks and errors -------------------------------------------------------------------------------

    def _check_sender(self, ctx: Context) -> None:
        if self.silencers is not None and ctx.sender_staff_id not in self.silencers:
            raise Refused(f"抱歉，{ctx.sender_nick or '你'}不在可静默告警的名单里，不能静默、解除静默或认领告警；"
                          "alerts 和 silences 大家都能查看，如需权限请联系管理员。")

    @staticmethod
    def _default_comment(ctx: Context) -> str:
        where = f"钉钉群「{ctx.message.conversation_title}」" if ctx.message.conversation_title else "钉钉"
        return f"{ctx.sender_nick or '钉钉用户'} 在{where}创建"

    def _guarded(self, word: str, func: Callable[[Context], str | Text]) -> HandlerFunc:
        def answer(ctx: Context) -> Reply:
            try:
                return func(ctx)
            except (ArgumentError, Refused) as exc:
                return str(exc)
            except AlertmanagerError as exc:
                log.warning("bot %s: %s failed: %s", self.bot, word, exc)
                return alertmanager_problem(exc, self.bot)
        answer.__name__ = f"chatops_{word}"
        return answer


def alert_matchers(alert: Alert) -> list[Matcher]:
    """Exactly ``alert``'s labels, each as ``name="value"``."""
    return [matcher(k, "=", v) for k, v in sorted(alert.labels.items())]


def alertmanager_problem(exc: AlertmanagerError, bot: str) -> str:
    """A one-line Chinese reply for an Alertmanager failure: no URL, no token, no trace."""
    if exc.status in (401, 403):
        return (f"Alertmanager 拒绝了请求（HTTP {exc.status}）：令牌缺失或错误，"
                f"请管理员检查 bots.{bot}.alertmanager.token。")
    if exc.status is not None and not exc.retryable:
        reason = exc.reason.splitlines()[0][:200] if exc.reason else ""
        return f"Alertmanager 拒绝了请求（HTTP {exc.status}）" + (f"：{reason}" if reason else "。")
    return "暂时连不上 Alertmanager（或它出错了），请稍后再试；管理员可查看 dingrelay 日志。"
