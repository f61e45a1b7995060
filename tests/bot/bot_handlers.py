"""The Python handlers module the test bots load (``handlers: bot_handlers``). Records every call."""

from __future__ import annotations

import threading

from dingrelay.bot import Context, command
from dingrelay.dingtalk.messages import Markdown

CALLS: list[tuple[str, str]] = []   # (command, msgId)
RELEASE = threading.Event()         # the slow handlers wait for this


def reset() -> None:
    CALLS.clear()
    RELEASE.clear()


@command("echo", help="echo <文字>: 原样回复")
def echo(ctx: Context) -> str:
    CALLS.append(("echo", ctx.message.msg_id))
    return f"echo {ctx.args}"


@command("count")
def count(ctx: Context) -> str:
    """数一数被调用了几次"""
    CALLS.append(("count", ctx.message.msg_id))
    return f"第 {len(CALLS)} 次"


@command("boom")
def boom(ctx: Context) -> str:
    CALLS.append(("boom", ctx.message.msg_id))
    raise RuntimeError("database password=hunter2 refused")


@command("slow")
def slow(ctx: Context) -> str:
    CALLS.append(("slow", ctx.message.msg_id))
    RELEASE.wait(30)
    return f"慢回复：{ctx.sender_nick}，好了"


@command("slowboom")
def slowboom(ctx: Context) -> str:
    CALLS.append(("slowboom", ctx.message.msg_id))
    RELEASE.wait(30)
    raise ValueError("internal state corrupted: key=hunter2")


@command("silent")
def silent(ctx: Context) -> None:
    CALLS.append(("silent", ctx.message.msg_id))


@command(pattern=r"^发布\s+(?P<svc>\S+)", help="发布 <服务>")
def publish(ctx: Context) -> Markdown:
    CALLS.append(("publish", ctx.message.msg_id))
    return Markdown(title="发布", text=f"开始发布 **{ctx.groups['svc']}**")
