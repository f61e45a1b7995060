"""On SQLite and PostgreSQL alike: each source's card is stored and delivered, and a Zabbix alert retried with the
same state is stored suppressed (shown once), while its recovery is a card of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_harness import InProcessGateway, emulator_for, write_config
from sources_rig import SOURCES, card, fresh, post, source_robots

from dingrelay.dashboard.source_samples import GITLAB_PUSH, JENKINS_SUCCESS, ZABBIX_PROBLEM, ZABBIX_RECOVERY
from dingrelay.emulator import Emulator


@pytest.fixture
def stored(tmp_path: Path, store_url: str) -> Iterator[tuple[InProcessGateway, Emulator]]:
    robots = source_robots()
    emu = emulator_for(robots)
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "dingrelay.yaml", emulator_url=server.url, robots=robots, sources=SOURCES,
                              storage_url=store_url)
        gw = InProcessGateway(config)
        yield gw, emu
        gw.close()


def test_each_sources_card_is_delivered_and_a_zabbix_retry_is_shown_once(
        stored: tuple[InProcessGateway, Emulator]) -> None:
    gateway, emu = stored
    problem = fresh(ZABBIX_PROBLEM)

    answers = [post(gateway, "zabbix", problem), post(gateway, "zabbix", problem),
               post(gateway, "zabbix", {**ZABBIX_RECOVERY, "event_id": problem["event_id"]}),
               post(gateway, "gitlab", GITLAB_PUSH), post(gateway, "jenkins", JENKINS_SUCCESS)]

    assert [r.status_code for r in answers] == [202] * 5
    assert [r.json()["status"] for r in answers] == ["queued", "suppressed", "queued", "queued", "queued"]
    zabbix = emu.wait_for(2, robot="ops", timeout=10)
    assert [card(m)[0].split("：")[0] for m in zabbix] == ["[告警] 问题 严重", "[告警] 已恢复 严重"]
    assert len(emu.wait_for(2, robot="dev", timeout=10)) == 2
    message = gateway.http.get(f"/api/v1/messages/{answers[1].json()['id']}",
                               headers={"Authorization": f"Bearer {SOURCES['zabbix']['token']}"}).json()
    assert message["status"] == "suppressed" and message["duplicate_of"] == answers[0].json()["id"]
