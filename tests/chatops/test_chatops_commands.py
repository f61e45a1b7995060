"""The ChatOps commands against a real Alertmanager: what the group reads, and what Alertmanager then holds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alertmanager_proc import Alertmanager as AlertmanagerProcess
from chatops_rig import Chat, chat
from gateway_harness import wait_until

from dingrelay.chatops.api import parse_time
from dingrelay.rendering import SHANGHAI


@pytest.fixture
def group(am_process: AlertmanagerProcess) -> Iterator[Chat]:
    with chat(am_process.url) as c:
        yield c


def fire_three(am: AlertmanagerProcess) -> None:
    am.fire(alertname="HighLatency", instance="web-1", severity="warning", minutes_ago=30, summary="延迟过高")
    am.fire(alertname="DiskFull", instance="db-1", severity="critical", minutes_ago=125, summary="磁盘将满")
    am.fire(alertname="DiskFull", instance="web-2", severity="info", minutes_ago=3)


def test_alerts_are_grouped_by_name_severity_first_numbered_with_how_long_they_fired(
        am_process: AlertmanagerProcess, group: Chat) -> None:
    fire_three(am_process)
    lines = group.text("alerts").splitlines()
    assert lines[0] == "正在告警 3 条："
    assert lines[1] == "【DiskFull】2 条"
    assert lines[2].startswith("1. [critical] instance=db-1 · 磁盘将满 · 已持续 2小时5分")
    assert lines[3].startswith("2. [info] instance=web-2 · 已持续 3分")
    assert lines[4] == "【HighLatency】1 条"
    assert lines[5].startswith("3. [warning] instance=web-1 · 延迟过高 · 已持续 30分")


def test_alerts_filters_by_matchers_and_says_when_nothing_fires(am_process: AlertmanagerProcess,
                                                                 group: Chat) -> None:
    assert group.text("alerts") == "当前没有正在告警的告警。"
    fire_three(am_process)
    text = group.text('alerts instance=~"web-.*"')
    assert text.splitlines()[0] == '正在告警 2 条（条件 instance=~"web-.*"）：'
    assert "db-1" not in text
    assert group.text("alerts severity=page") == '当前没有正在告警的告警（条件 severity="page"）。'


def test_a_long_list_stops_at_twenty_with_how_many_more(am_process: AlertmanagerProcess, group: Chat) -> None:
    for i in range(23):
        am_process.fire(alertname="NodeDown", instance=f"node-{i:02d}", severity="critical")
    lines = group.text("alerts").splitlines()
    assert [line.split(".")[0] for line in lines if line[0].isdigit()] == [str(n) for n in range(1, 21)]
    assert any(line.startswith("…另有 3 条") for line in lines)
    assert group.text("ack 21") == "最近一次 alerts 的列表只有 20 条，没有第 21 条；请重新发送 alerts。"


def test_silence_creates_the_silence_alertmanager_lists_with_the_sender_and_exactly_those_matchers(
        am_process: AlertmanagerProcess, group: Chat) -> None:
    reply = group.text('silence alertname=DiskFull instance=~"web-.*" 2h 扩容中')
    [held] = am_process.silences()
    assert held["createdBy"] == "张三 (manager1234)"
    assert held["comment"] == "扩容中"
    assert held["matchers"] == [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
                                {"name": "instance", "value": "web-.*", "isRegex": True, "isEqual": True}]
    ends = parse_time(held["endsAt"])
    assert ends is not None
    assert ends - datetime.now(UTC) == pytest.approx(timedelta(hours=2), abs=timedelta(minutes=1))
    shanghai = ends.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert reply == (f'已静默 alertname="DiskFull", instance=~"web-.*"，至 {shanghai}（北京时间）；id {held["id"]}，'
                     f"解除：unsilence {held['id'][:8]}")


def test_silences_lists_matchers_creator_time_left_and_id_prefix(am_process: AlertmanagerProcess,
                                                                  group: Chat) -> None:
    assert group.text("silences") == "当前没有生效中的静默。"
    group.text("silence alertname=DiskFull 2h 扩容中")
    [held] = am_process.silences()
    lines = group.text("silences").splitlines()
    assert lines[0] == "生效中的静默 1 条："
    assert lines[1] in (f'- {held["id"][:8]} · alertname="DiskFull" · 张三 (manager1234) · {left}后结束 · 扩容中'
                        for left in ("1小时59分", "2小时"))


def test_silence_without_a_comment_says_where_it_came_from(am_process: AlertmanagerProcess, group: Chat) -> None:
    group.text("silence alertname=DiskFull 30m", nick="李四", staff="lisi01")
    [held] = am_process.silences()
    assert (held["createdBy"], held["comment"]) == ("李四 (lisi01)", "李四 在钉钉群「测试群」创建")


def test_unsilence_expires_the_silence_by_its_id_prefix(am_process: AlertmanagerProcess, group: Chat) -> None:
    group.text("silence alertname=DiskFull 2h 扩容中")
    [held] = am_process.silences()
    reply = group.text(f"unsilence {held['id'][:8]}")
    assert reply == f'张三 已解除静默 {held["id"][:8]}（alertname="DiskFull"）。'
    [after] = am_process.silences()
    assert after["status"]["state"] == "expired"
    assert group.text(f"unsilence {held['id'][:8]}") == (f"没有 id 以 {held['id'][:8]} 开头的生效中静默；"
                                                        "发送 silences 查看现有静默。")


def test_ack_silences_exactly_the_labels_of_that_alert_and_names_who_took_it(
        am_process: AlertmanagerProcess, group: Chat) -> None:
    fire_three(am_process)
    group.text("alerts")
    payload = group.say("ack 1", nick="王五", staff="wangwu02")
    text = payload["text"]["content"]
    assert text.startswith("王五 @wangwu02 认领了告警 1：DiskFull（alertname=DiskFull, instance=db-1, "
                           "severity=critical），已静默至 ")
    assert payload["at"]["atUserIds"] == ["wangwu02"]
    [held] = am_process.silences()
    assert held["createdBy"] == "王五 (wangwu02)"
    assert sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in held["matchers"]) == [
        ("alertname", "DiskFull", False, True), ("instance", "db-1", False, True),
        ("severity", "critical", False, True)]
    ends = parse_time(held["endsAt"])
    assert ends is not None
    assert ends - datetime.now(UTC) == pytest.approx(timedelta(hours=24), abs=timedelta(minutes=1))
    # the acknowledged alert leaves the list of firing alerts; the others stay
    assert "db-1" not in group.text("alerts") and "web-2" in group.text("alerts")


def test_ack_uses_the_list_of_its_own_conversation(am_process: AlertmanagerProcess, group: Chat) -> None:
    fire_three(am_process)
    group.text("alerts", conversation="cidA")
    assert group.text("ack 1", conversation="cidB") == "这个会话还没有告警列表；先发送 alerts，再用 ack 编号 认领。"
    assert am_process.silences() == []


def test_an_ack_silence_is_expired_once_its_alert_resolves(am_process: AlertmanagerProcess, group: Chat) -> None:
    fire_three(am_process)
    group.text("alerts")
    group.text("ack 1")
    group.text("silence alertname=HighLatency 1h 别动")
    assert group.chatops.release_resolved() == 0          # still firing: the ack holds
    am_process.fire(alertname="DiskFull", instance="db-1", severity="critical", minutes_ago=125, resolved=True)
    assert group.chatops.release_resolved() == 1
    states = {s["comment"].split(" [")[0]: s["status"]["state"] for s in am_process.silences()}
    assert states == {"张三 在钉钉认领了告警 DiskFull": "expired", "别动": "active"}


def test_the_runtime_loop_releases_an_ack_once_its_alert_resolves(am_process: AlertmanagerProcess,
                                                                   group: Chat) -> None:
    fire_three(am_process)
    group.text("alerts")
    group.text("ack 2")
    stop = threading.Event()
    loop = threading.Thread(target=group.chatops.run_forever, args=(stop,), kwargs={"every": 0.05})
    loop.start()
    try:
        am_process.fire(alertname="DiskFull", instance="web-2", severity="info", resolved=True)
        assert wait_until(lambda: [s["status"]["state"] for s in am_process.silences()] == ["expired"], 10)
    finally:
        stop.set()
        loop.join(5)


def test_only_silencers_may_change_silences_and_everyone_may_read(am_process: AlertmanagerProcess) -> None:
    with chat(am_process.url, silencers=frozenset({"manager1234"})) as guarded:
        check_silencers(am_process, guarded)


def check_silencers(am_process: AlertmanagerProcess, guarded: Chat) -> None:
    fire_three(am_process)
    for command in ("silence alertname=DiskFull 2h 扩容中", "unsilence 1a2b3c4d", "ack 1"):
        reply = guarded.text(command, nick="路人甲", staff="visitor9")
        assert reply.startswith("抱歉，路人甲不在可静默告警的名单里"), command
    assert am_process.silences() == []
    assert guarded.text("alerts", nick="路人甲", staff="visitor9").startswith("正在告警 3 条")
    assert guarded.text("silences", nick="路人甲", staff="visitor9") == "当前没有生效中的静默。"
    assert guarded.text("silence alertname=DiskFull 2h 扩容中").startswith("已静默")


def test_help_lists_the_chatops_commands(group: Chat) -> None:
    text = group.text("help")
    for usage in ("- alerts: ", "- silences: ", "- silence: 创建静默", "- unsilence: ", "- ack: 认领"):
        assert usage in text
