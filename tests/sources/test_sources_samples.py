"""Each built-in sample of the template page, posted over HTTP as its sender posts it, arrives at the emulator as
one card within DingTalk's 20,000 bytes carrying the robot's keyword; and the cards say what a user expects."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_harness import InProcessGateway
from sources_rig import KEYWORDS, ROBOT, card, fresh, post

from dingrelay.dashboard.samples import BUILTIN
from dingrelay.dashboard.source_samples import (
    GITLAB_MERGE_REQUEST,
    GITLAB_PIPELINE,
    GITLAB_PUSH,
    JENKINS_FAILURE,
    ZABBIX_PROBLEM,
    ZABBIX_RECOVERY,
)
from dingrelay.dingtalk.messages import MAX_BODY_BYTES, dumps
from dingrelay.emulator import Emulator

SAMPLES = [s for s in BUILTIN if s.kind in ("zabbix", "gitlab", "jenkins")]


def test_the_template_page_lists_a_sample_of_every_event_the_sources_notify_about() -> None:
    assert sorted(s.key for s in SAMPLES) == [
        "builtin:gitlab-merge-request", "builtin:gitlab-pipeline", "builtin:gitlab-push", "builtin:jenkins-failure",
        "builtin:jenkins-success", "builtin:zabbix-problem", "builtin:zabbix-recovery"]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.key for s in SAMPLES])
def test_a_sample_arrives_as_one_card_within_20000_bytes_carrying_the_robots_keyword(
        gateway: InProcessGateway, emu: Emulator, sample: Any) -> None:
    body = fresh(sample.body) if sample.kind == "zabbix" else sample.body

    r = post(gateway, sample.kind, body)

    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    [received] = emu.wait_for(1, robot=ROBOT[sample.kind], timeout=10)
    assert len(dumps(received.body)) <= MAX_BODY_BYTES
    title, text = card(received)
    assert KEYWORDS[sample.kind] in title and KEYWORDS[sample.kind] in text
    assert emu.rejections() == []


def test_a_zabbix_problem_is_red_with_its_severity_in_chinese_and_its_recovery_green(gateway: InProcessGateway,
                                                                                     emu: Emulator) -> None:
    problem = fresh(ZABBIX_PROBLEM)
    assert post(gateway, "zabbix", problem).status_code == 202
    assert post(gateway, "zabbix", {**ZABBIX_RECOVERY, "event_id": problem["event_id"]}).status_code == 202

    first, second = emu.wait_for(2, robot="ops", timeout=10)
    title, text = card(first)
    assert title == "[告警] 问题 严重：web-01 上 CPU 使用率超过 90%"
    assert "<font color=#FF4500>Zabbix 告警 问题" in text and "- 级别：<font color=#FF4500>严重</font>" in text
    assert "- 主机：web-01 (10.0.0.11)" in text and "- 监控项：CPU utilization：97.3 %" in text
    assert "- 标签：service=shop, env=prod" in text and "恢复时间" not in text
    assert f"tr_events.php?triggerid=20512&eventid={problem['event_id']}" in text
    title, text = card(second)
    assert title.startswith("[告警] 已恢复") and "<font color=#008000>Zabbix 告警 已恢复" in text
    assert "- 恢复时间：2024.05.01 10:20:31" in text and "- 持续：20m 31s" in text


@pytest.mark.parametrize(("nseverity", "name", "shown"), [
    ("5", "Disaster", "灾难"), ("4", "High", "严重"), ("3", "Average", "一般严重"), ("2", "Warning", "警告"),
    ("1", "Information", "信息"), ("0", "Not classified", "未分类"), ("", "Disaster", "灾难"), ("", "严重", "严重"),
    ("", "自定义级别", "自定义级别"),
])
def test_zabbix_severities_show_in_chinese(gateway: InProcessGateway, emu: Emulator, nseverity: str, name: str,
                                           shown: str) -> None:
    body = fresh({**ZABBIX_PROBLEM, "event_nseverity": nseverity, "event_severity": name})

    assert post(gateway, "zabbix", body).status_code == 202

    title, text = card(emu.wait_for(1, robot="ops", timeout=10)[0])
    assert title.startswith(f"[告警] 问题 {shown}：") and "- 级别：<font color=#" in text and f">{shown}</font>" in text


def test_a_zabbix_retry_of_the_same_alert_is_shown_once(gateway: InProcessGateway, emu: Emulator) -> None:
    body = fresh(ZABBIX_PROBLEM)

    first = post(gateway, "zabbix", body)
    again = post(gateway, "zabbix", body)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["status"] == "suppressed"
    emu.wait_for(1, robot="ops", timeout=10)
    assert len(emu.messages("ops")) == 1


def test_macros_zabbix_could_not_resolve_are_left_out_of_the_card(gateway: InProcessGateway, emu: Emulator) -> None:
    body = fresh({**ZABBIX_PROBLEM, "host_ip": "{HOST.IP}", "item_value": "*UNKNOWN*",
                  "event_opdata": "{EVENT.OPDATA}", "event_tags": "{EVENT.TAGSJSON}"})

    assert post(gateway, "zabbix", body).status_code == 202

    _, text = card(emu.wait_for(1, robot="ops", timeout=10)[0])
    assert "{HOST.IP}" not in text and "{EVENT" not in text
    assert "- 主机：web-01\n" in text and "- 监控项：CPU utilization\n" in text and "UNKNOWN" not in text
    assert "标签" not in text and "操作数据" not in text


def test_a_zabbix_acknowledgement_is_an_update_card_naming_who_and_what(gateway: InProcessGateway,
                                                                        emu: Emulator) -> None:
    body = fresh({**ZABBIX_PROBLEM, "event_update_status": "1", "event_update_action": "acknowledged",
                  "event_update_message": "正在扩容", "event_update_user": "王五"})

    assert post(gateway, "zabbix", body).status_code == 202

    title, text = card(emu.wait_for(1, robot="ops", timeout=10)[0])
    assert title.startswith("[告警] 更新") and "- 操作：王五 acknowledged" in text and "- 说明：正在扩容" in text


def test_a_failed_gitlab_pipeline_names_the_failed_jobs_and_links_the_pipeline(gateway: InProcessGateway,
                                                                               emu: Emulator) -> None:
    assert post(gateway, "gitlab", GITLAB_PIPELINE).status_code == 202

    title, text = card(emu.wait_for(1, robot="dev", timeout=10)[0])
    assert title == "【发布】[GitLab] team/shop 流水线 #31 失败"
    assert "[#31](https://gitlab.example.com/team/shop/-/pipelines/31)" in text
    assert "- test / unit（script\\_failure）" in text and "lint" not in text   # only the failed job
    assert "- 耗时：3m1s" in text and "- 结束：2024-05-01 10:03:01" in text     # 02:03:01 UTC in Shanghai


def test_a_gitlab_merge_request_and_a_push_say_who_did_what(gateway: InProcessGateway, emu: Emulator) -> None:
    assert post(gateway, "gitlab", GITLAB_MERGE_REQUEST).status_code == 202
    assert post(gateway, "gitlab", GITLAB_PUSH).status_code == 202

    mr, push = sorted(emu.wait_for(2, robot="dev", timeout=10), key=lambda m: "合并请求" not in card(m)[0])
    title, text = card(mr)
    assert title == "【发布】[GitLab] 张三 创建了合并请求 !12 修复下单超时"
    assert "- 分支：fix/order-timeout → main" in text and "- 评审人：李四" in text
    title, text = card(push)
    assert title == "【发布】[GitLab] 张三 推送到分支 main（team/shop）"
    assert text.index("修复下单超时") < text.index("加了支付回调重试")   # newest first


def test_a_jenkins_failure_is_red_with_duration_changes_and_links(gateway: InProcessGateway, emu: Emulator) -> None:
    assert post(gateway, "jenkins", JENKINS_FAILURE).status_code == 202

    title, text = card(emu.wait_for(1, robot="dev", timeout=10)[0])
    assert title == "【发布】[Jenkins] shop/main #42 构建失败"
    assert "<font color=#FF0000>失败 FAILURE</font>" in text and "- 耗时：1m33s" in text
    assert "- da156088 修复下单超时（张三）" in text
    assert "[控制台输出](https://jenkins.example.com/job/shop/job/main/42/console)" in text


def test_a_chosen_template_needing_data_the_event_lacks_is_a_422_naming_it(gateway: InProcessGateway,
                                                                           emu: Emulator) -> None:
    r = post(gateway, "jenkins", JENKINS_FAILURE, template="text")   # the built-in text template: {{ content }}

    assert r.status_code == 422
    assert r.json()["error"] == {"code": "template_variable_missing", "field": "data.content",
                                 "message": "template 'text' needs content, which the data lacks"}
    assert emu.messages() == []
