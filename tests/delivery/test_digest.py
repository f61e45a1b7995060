"""``digest.build``: many stored messages of one robot as one markdown message (pure: no store, no clock)."""

from __future__ import annotations

import json

import pytest
from delivery_helpers import T0, text_payload

from dingrelay.delivery import digest
from dingrelay.delivery.digest import Level, build, level_of
from dingrelay.delivery.model import Status, StoredMessage
from dingrelay.dingtalk.keywords import satisfies_keywords
from dingrelay.dingtalk.messages import MAX_BODY_BYTES, Markdown

INFO_CARD = ("### <font color=#008000>[巡检] 每天巡检</font>\n\n**详情**：[点击查看](http://127.0.0.1:8080)\n\n"
             "**巡检标题**：{title}\n\n**巡检内容**：{content}\n\n**相关人员**：巡检机器人")
ERROR_CARD = INFO_CARD.replace("每天巡检", "每天巡检异常").replace("#008000", "#FF0000")


def stored(seq: int, title: str, text: str, *, duplicates: int = 0, msgtype: str = "markdown") -> StoredMessage:
    payload = (Markdown(title=title, text=text).to_json() if msgtype == "markdown" else text_payload(text))
    return StoredMessage(
        id=f"m{seq:05d}", seq=seq, queue="ops", robot="ops", target_url=None, source="heian", msgtype=msgtype,
        title=title, payload=payload, status=Status.QUEUED, attempts=0, next_attempt_at=T0, expires_at=None,
        last_errcode=None, last_error=None, created_at=T0, updated_at=T0, delivered_at=None, duplicates=duplicates)


def info(seq: int, title: str, content: str = "正常") -> StoredMessage:
    return stored(seq, "[巡检] 每天巡检", INFO_CARD.format(title=title, content=content))


def error(seq: int, title: str, content: str = "超时") -> StoredMessage:
    return stored(seq, "[巡检] 每天巡检异常", ERROR_CARD.format(title=title, content=content))


def alert(seq: int, name: str, *, severity: str = "CRITICAL", duplicates: int = 0) -> StoredMessage:
    text = (f"### Alertmanager 告警 [FIRING:1]\n\n**<font color=#FF0000>{name}</font>** [{severity}]\n\n"
            f"- 摘要：{name} on web-{seq}\n- 开始：2024-01-01 10:00:00")
    return stored(seq, f"[告警] [FIRING:1] {name}", text, duplicates=duplicates)


def test_a_digest_lists_errors_first_then_the_rest_in_queue_order() -> None:
    d = build([info(1, "rds"), error(2, "disk"), alert(3, "HighLoad", severity="WARNING"), error(4, "backup")],
              keywords=["巡检"])

    text = d.message.text
    assert text.index("disk") < text.index("backup") < text.index("HighLoad") < text.index("rds")
    assert d.message.title == "汇总 4 条（异常 2 条）"
    assert [m.seq for m in d.carried] == [1, 2, 3, 4]
    assert d.more == 0


def test_messages_with_one_title_are_grouped_under_it_with_their_count_and_one_line_each() -> None:
    d = build([info(1, "rds 日志"), error(2, "disk"), info(3, "oss 备份")], keywords=["巡检"])

    lines = d.message.text.splitlines()
    header = lines.index("**[巡检] 每天巡检** ×2")
    assert lines[header + 1].startswith("- 巡检标题：rds 日志 巡检内容：正常")
    assert lines[header + 2].startswith("- 巡检标题：oss 备份")
    assert d.message.text.count("[巡检] 每天巡检**") == 1
    assert "详情" not in d.message.text   # a line that was only a link says nothing
    assert "http://" not in d.message.text


def test_a_message_alone_under_its_title_is_one_short_line() -> None:
    d = build([alert(1, "DiskFull"), alert(2, "HighCPU")], keywords=["告警"])

    [line] = [x for x in d.message.text.splitlines() if "DiskFull" in x]
    assert line.startswith("- 🔴 **[告警] [FIRING:1] DiskFull** ")
    assert len(line.encode()) <= digest.TITLE_BYTES + digest.FULL_DETAIL_BYTES + 20


def test_a_long_message_is_cut_to_a_short_line() -> None:
    d = build([info(1, "rds", content="很长的内容" * 500), info(2, "oss")], keywords=["巡检"])

    [line] = [x for x in d.message.text.splitlines() if "rds" in x]
    assert len(line.encode()) <= digest.FULL_DETAIL_BYTES + 2
    assert line.endswith("…")


def test_suppressed_repeats_show_as_a_count_on_the_original() -> None:
    d = build([alert(1, "DiskFull", duplicates=4), info(2, "rds")], keywords=["巡检"])

    assert "**[告警] [FIRING:1] DiskFull** ×5" in d.message.text


def test_a_storm_too_large_for_one_digest_ends_with_more_and_carries_the_longest_prefix_that_fits() -> None:
    messages = [alert(i, f"StormAlert{i:05d}") for i in range(1500)]

    d = build(messages, keywords=["告警"], waiting=5000)

    n = len(d.carried)
    assert d.message.size() <= MAX_BODY_BYTES
    assert d.carried == messages[:n]
    assert d.more == 5000 - n
    assert d.message.text.endswith(f"+{5000 - n} more（稍后汇总）")
    assert all(f"StormAlert{i:05d}" in d.message.text for i in range(n))
    assert f"StormAlert{n:05d}" not in d.message.text
    assert n >= 900   # the compact layout: about a thousand alerts per digest


def test_the_compact_layout_gathers_titles_by_their_head() -> None:
    d = build([alert(i, f"Storm{i}") for i in range(50)], keywords=["告警"], waiting=60)

    lines = d.message.text.splitlines()
    assert "**🔴 [告警] [FIRING:1]** ×50" in lines
    assert "- Storm7" in lines


@pytest.mark.parametrize("max_bytes", [2_000, 5_000, MAX_BODY_BYTES])
def test_a_digest_never_exceeds_the_byte_limit(max_bytes: int) -> None:
    messages = [error(i, f"磁盘检查 {i}", content="内容" * 40) if i % 3 else alert(i, f"告警{i}") for i in range(600)]

    d = build(messages, keywords=["巡检"], waiting=600, max_bytes=max_bytes)

    body = d.message.to_json()
    assert len(body) <= max_bytes
    assert d.message.size() == len(body)
    assert len(d.carried) + d.more == 600


def test_everything_fits_in_the_full_layout_when_the_whole_backlog_does() -> None:
    d = build([info(1, "rds"), info(2, "oss")], keywords=["巡检"], waiting=2)

    assert "more" not in d.message.text
    assert "巡检内容：正常" in d.message.text   # full lines, not the compact ones


@pytest.mark.parametrize(("keywords", "title"), [
    pytest.param(["巡检"], "汇总 2 条", id="already-in-the-text"),
    pytest.param(["监控", "报警"], "【监控】汇总 2 条", id="prepended-when-missing"),
    pytest.param([], "汇总 2 条", id="no-keywords"),
])
def test_the_digest_holds_one_of_the_robots_keywords(keywords: list[str], title: str) -> None:
    d = build([info(1, "rds"), info(2, "oss")], keywords=keywords)

    assert d.message.title == title
    assert d.message.text.startswith(f"#### {title}\n")
    assert satisfies_keywords(d.message, keywords)


def test_text_messages_are_listed_by_their_content() -> None:
    d = build([stored(1, "监控报警: disk 91%", "监控报警: disk 91%", msgtype="text"),
               stored(2, "监控报警: cpu 99%", "监控报警: cpu 99%", msgtype="text")], keywords=["监控"])

    assert "- **监控报警: disk 91%**" in d.message.text
    assert json.loads(d.message.to_json())["msgtype"] == "markdown"


@pytest.mark.parametrize(("title", "text", "level"), [
    ("[巡检] 每天巡检异常", "", Level.ERROR),
    ("[告警] [FIRING:1] DiskFull", "**DiskFull** [CRITICAL]", Level.ERROR),
    ("[告警] [FIRING:1] HighLoad", "**HighLoad** [WARNING]", Level.WARNING),
    ("[告警] [RESOLVED:1] DiskFull", "**DiskFull** [CRITICAL]", Level.RESOLVED),
    ("[告警] [FIRING:1 RESOLVED:1] DiskFull", "[CRITICAL]", Level.ERROR),
    ("服务已恢复", "", Level.RESOLVED),
    ("[巡检] 每天巡检", "rds日志拉去正常", Level.INFO),
    ("deploy", "job failed", Level.ERROR),
])
def test_the_level_is_read_from_the_title_and_text(title: str, text: str, level: Level) -> None:
    assert level_of(title, text) is level


def test_a_digest_needs_a_message() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build([])
