"""Through the real app: a repeated alert is suppressed and counted, and a digest can be looked up by its senders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, wait_until
from storm_helpers import one_alert, storm_config

from dingrelay.dingtalk import signing
from dingrelay.emulator import Emulator, Fault

AM = {"Authorization": "Bearer am-token"}
TOKEN, SECRET = "7" * 64, "SEC" + "8" * 64
TEXT = {"msgtype": "text", "text": {"content": "告警: backup done"}}


Start = Callable[..., tuple[InProcessGateway, Emulator]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """``start(**delivery)``: the app and worker for robot "ops" (keyword 告警), sources "am" and "other"."""
    started: list[InProcessGateway] = []
    robot = RobotSpec("ops", keywords=["告警"], token=TOKEN, secret=SECRET)
    emu = emulator_for([robot])

    def run(**delivery: Any) -> tuple[InProcessGateway, Emulator]:
        config = storm_config(tmp_path / "c.yaml", emulator_url=url, robots=[robot],
                              sources={"am": {"token": "am-token", "robots": ["ops"]},
                                       "other": {"token": "other-token", "robots": ["ops"]}},
                              storage_url=f"sqlite:///{tmp_path / 'q.db'}", delivery=delivery)
        started.append(InProcessGateway(config))
        return started[-1], emu

    with emu.serve(host="127.0.0.1", port=0) as server:
        url = server.url
        yield run
        for gw in started:
            gw.close()


def idle(gw: InProcessGateway) -> bool:
    counts = gw.services.store.counts()
    return counts["queued"] + counts["retrying"] + counts["sending"] == 0


def test_the_same_alert_posted_again_is_suppressed_pointing_at_the_first_and_sent_once(start: Start) -> None:
    gw, emu = start()
    first = gw.http.post("/hooks/alertmanager/am", json=one_alert("DiskFull"), headers=AM).json()
    again = gw.http.post("/hooks/alertmanager/am", json=one_alert("DiskFull"), headers=AM).json()
    other = gw.http.post("/hooks/alertmanager/am", json=one_alert("HighCPU"), headers=AM).json()

    emu.wait_for(2, timeout=10)
    assert wait_until(lambda: idle(gw), 10)
    [repeat_id] = again["ids"]
    repeat = gw.http.get(f"/api/v1/messages/{repeat_id}", headers=AM).json()
    original = gw.http.get(f"/api/v1/messages/{first['ids'][0]}", headers=AM).json()

    assert (repeat["status"], repeat["duplicate_of"]) == ("suppressed", first["ids"][0])
    assert original["duplicates"] == 1
    assert other["ids"] != first["ids"]
    assert len(emu.messages()) == 2


def test_a_digest_can_be_looked_up_by_a_source_whose_messages_it_carries_and_no_other(start: Start) -> None:
    gw, emu = start(digest_after_seconds=1)
    emu.inject(Fault(kind="latency", latency_seconds=2.0, count=1))   # the first send is slow: a backlog builds
    ids = [gw.http.post("/hooks/alertmanager/am", json=one_alert(f"Alert{i}"), headers=AM).json()["ids"][0]
           for i in range(6)]

    assert wait_until(lambda: idle(gw), 15)
    digest_id = gw.http.get(f"/api/v1/messages/{ids[-1]}", headers=AM).json()["digest_id"]
    digest = gw.http.get(f"/api/v1/messages/{digest_id}", headers=AM)
    refused = gw.http.get(f"/api/v1/messages/{digest_id}", headers={"Authorization": "Bearer other-token"})

    assert digest.status_code == 200
    assert digest.json()["status"] == "delivered"
    assert "Alert5" in digest.json()["message"]["markdown"]["text"]
    assert refused.status_code == 404
    assert len(emu.messages()) == 2   # the slow one alone, then one digest of the five behind it


@pytest.mark.parametrize(("endpoint", "suppressed"), [
    pytest.param("/api/v1/messages", True, id="a-source-repeating-itself"),
    pytest.param("/robot/send", False, id="the-drop-in-keeps-dingtalks-semantics"),
])
def test_the_same_text_twice_is_suppressed_for_sources_but_not_through_the_drop_in(
        start: Start, endpoint: str, suppressed: bool) -> None:
    gw, emu = start()
    for _ in range(2):
        if endpoint == "/robot/send":
            params = {"access_token": TOKEN, **signing.sign_query(SECRET, signing.now_ms())}
            assert gw.http.post(endpoint, params=params, json=TEXT).json()["errcode"] == 0
        else:
            assert gw.http.post(endpoint, json={"message": TEXT}, headers=AM).status_code == 202

    assert wait_until(lambda: idle(gw), 10)
    assert gw.services.store.counts()["suppressed"] == (1 if suppressed else 0)
    assert len(emu.messages()) == (1 if suppressed else 2)
