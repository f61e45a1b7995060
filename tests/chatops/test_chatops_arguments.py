"""What people type after a ChatOps command word: matchers in three forms, durations, and the replies to bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dingrelay.chatops.arguments import ArgumentError, parse_filter, parse_id_prefix, parse_number, parse_silence
from dingrelay.chatops.durations import parse_duration, say

SILENCES = [
    ('alertname=DiskFull instance=~"web-.*" 2h 扩容中',
     ['alertname="DiskFull"', 'instance=~"web-.*"'], timedelta(hours=2), "扩容中"),
    ('alertname=DiskFull, instance=~"web-.*" 30m',
     ['alertname="DiskFull"', 'instance=~"web-.*"'], timedelta(minutes=30), ""),
    ('{alertname="DiskFull", instance=~"web-.*"} 1d 周末 扩容',
     ['alertname="DiskFull"', 'instance=~"web-.*"'], timedelta(days=1), "周末 扩容"),
    ('job="node exporter" team!~"a|b" 1h30m 换盘，约 1 小时 ',
     ['job="node exporter"', 'team!~"a|b"'], timedelta(hours=1, minutes=30), "换盘，约 1 小时"),
    ('msg="say \\"hi\\" now" 1w x=y 是备注',
     ['msg="say \\"hi\\" now"'], timedelta(weeks=1), "x=y 是备注"),
]


@pytest.mark.parametrize(("args", "matchers", "duration", "comment"), SILENCES, ids=[s[0] for s in SILENCES])
def test_silence_reads_matchers_spaced_comma_or_braced_then_the_duration_then_the_comment(
        args: str, matchers: list[str], duration: timedelta, comment: str) -> None:
    request = parse_silence(args)
    assert [str(m) for m in request.matchers] == matchers
    assert (request.duration, request.comment) == (duration, comment)


BAD_SILENCES = [
    ("", "缺少匹配条件"),
    ("2h 扩容中", "缺少匹配条件"),
    ("alertname=DiskFull", "缺少时长"),
    ("DiskFull 2h", "「DiskFull」不是匹配条件"),
    ("alertname=DiskFull 两小时", "「两小时」不是匹配条件，也不是时长"),
    ("alertname=DiskFull 30s", "时长 30s 太短，至少 1分"),
    ("alertname=DiskFull 31d", "时长 31d 太长，最多 30天"),
    ("alertname=DiskFull 2x", "「2x」不是时长"),
    ("alertname=DiskFull 5w", "太长"),
    ('alertname=DiskFull instance=~"(a)\\\\1" 2h', "正则表达式无效（RE2 语法"),
    ('instance=~"(?=web).*" 2h', "不支持反向引用和环视"),
    ('alertname="DiskFull 2h', "引号不成对"),   # the open quote takes the rest of the line
    ('alertname="Disk"Full" 2h', "引号不成对"),
    ('instance=~".*" 2h', "能匹配所有告警"),
    ('team="" job=~".*" 1h', "能匹配所有告警"),
]


@pytest.mark.parametrize(("args", "says"), BAD_SILENCES, ids=[b[0] or "empty" for b in BAD_SILENCES])
def test_bad_silence_arguments_get_one_chinese_line_saying_what_is_wrong(args: str, says: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        parse_silence(args)
    reply = str(caught.value)
    assert says in reply
    assert "\n" not in reply


@pytest.mark.parametrize(("text", "span"), [
    ("1m", timedelta(minutes=1)), ("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)), ("1h30m", timedelta(minutes=90)), ("1w", timedelta(weeks=1)),
    ("30d", timedelta(days=30)), ("1w2d", timedelta(days=9)), ("90s", timedelta(seconds=90)),
])
def test_durations_are_alertmanagers(text: str, span: timedelta) -> None:
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "2", "h", "2H", "30m1h", "1.5h", "-1h", "2 h", "1h1h"])
def test_what_is_not_an_alertmanager_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="不是时长"):
        parse_duration(text)


@pytest.mark.parametrize(("span", "said"), [
    (timedelta(seconds=20), "不到1分"), (timedelta(minutes=5), "5分"), (timedelta(hours=2, minutes=5), "2小时5分"),
    (timedelta(hours=3), "3小时"), (timedelta(days=3, hours=2, minutes=7), "3天2小时"),
])
def test_spans_are_said_in_chinese(span: timedelta, said: str) -> None:
    assert say(span) == said


def test_alerts_takes_only_matchers() -> None:
    assert [str(m) for m in parse_filter('severity=critical instance=~"web-.*"')] == [
        'severity="critical"', 'instance=~"web-.*"']
    assert parse_filter("") == []
    with pytest.raises(ArgumentError, match="「critical」不是匹配条件"):
        parse_filter("critical")


@pytest.mark.parametrize(("args", "ok"), [("1", 1), (" 12 ", 12), ("0", None), ("x", None), ("1 2", None),
                                          ("", None)])
def test_ack_takes_one_alert_number(args: str, ok: int | None) -> None:
    if ok is None:
        with pytest.raises(ArgumentError, match="ack 1"):
            parse_number(args)
    else:
        assert parse_number(args) == ok


FULL_ID = "6e1b6c4a-0e5f-4b7a-9b61-2b1f2f6e8a00"


@pytest.mark.parametrize(("args", "ok"), [("1a2B3c4d", "1a2b3c4d"), ("0f6a", "0f6a"), (FULL_ID, FULL_ID),
                                          ("", None), ("xyz", None), ("ab cd", None)])
def test_unsilence_takes_an_id_or_its_start(args: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(ArgumentError, match="unsilence 1a2b3c4d"):
            parse_id_prefix(args)
    else:
        assert parse_id_prefix(args) == ok
