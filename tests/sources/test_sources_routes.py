"""A source's ``routes`` and ``mentions`` work on these events as on alerts: a Zabbix event's tags, severity and
host, a Jenkins build's job, branch and result are its labels; only bad news (a problem, a failed build) @-s."""

from __future__ import annotations

from gateway_harness import InProcessGateway
from sources_rig import card, fresh, post

from dingrelay.dashboard.source_samples import JENKINS_FAILURE, JENKINS_SUCCESS, ZABBIX_PROBLEM, ZABBIX_RECOVERY
from dingrelay.emulator import Emulator

DBA_TAGS = [{"tag": "team", "value": "dba"}, {"tag": "owner", "value": "13900000000"},
            {"tag": "service", "value": "shop"}]


def test_a_zabbix_event_follows_the_route_its_tags_match_and_its_problem_ats_the_owners(
        gateway: InProcessGateway, emu: Emulator) -> None:
    problem = fresh({**ZABBIX_PROBLEM, "event_tags": DBA_TAGS})

    assert post(gateway, "zabbix", problem).status_code == 202
    assert post(gateway, "zabbix", {**ZABBIX_RECOVERY, "event_id": problem["event_id"],
                                    "event_tags": DBA_TAGS}).status_code == 202

    first, second = emu.wait_for(2, robot="oncall", timeout=10)
    assert emu.messages("ops") == []
    assert sorted(first.body["at"]["atMobiles"]) == ["13800000000", "13900000000"]
    assert card(first)[1].endswith("\n\n@13900000000 @13800000000")   # DingTalk @s only whom the text names
    assert card(first)[0].startswith("[告警] 问题") and card(second)[0].startswith("[告警] 已恢复")
    assert "at" not in second.body   # a recovery pages nobody


def test_an_event_no_route_matches_goes_to_the_sources_robots(gateway: InProcessGateway, emu: Emulator) -> None:
    assert post(gateway, "zabbix", fresh(ZABBIX_PROBLEM)).status_code == 202   # tags service=shop, env=prod

    [received] = emu.wait_for(1, robot="ops", timeout=10)
    assert received.body["at"]["atMobiles"] == ["13800000000"]
    assert emu.messages("oncall") == []


def test_a_failed_jenkins_build_ats_whom_the_jobs_mentions_name_and_a_success_nobody(
        gateway: InProcessGateway, emu: Emulator) -> None:
    assert post(gateway, "jenkins", JENKINS_FAILURE).status_code == 202
    assert post(gateway, "jenkins", JENKINS_SUCCESS).status_code == 202

    failed, passed = sorted(emu.wait_for(2, robot="dev", timeout=10), key=lambda m: "成功" in card(m)[0])
    assert failed.body["at"]["atMobiles"] == ["13700000000"] and card(failed)[1].endswith("@13700000000")
    assert "at" not in passed.body and "@" not in card(passed)[1]
