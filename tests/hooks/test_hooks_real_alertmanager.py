"""A real Alertmanager (Debian's ``prometheus-alertmanager``) posts its webhook to the gateway.

Alerts go into Alertmanager's own API; Alertmanager groups them and calls ``/hooks/alertmanager/am?token=…``; the
cards arrive at the emulator. Robot "ops" requires keyword 巡检, which the built-in card lacks: it arrives carrying
it. An alert that fires, resolves and fires again arrives as three cards, in that order. ``scripts/test`` installs
the package when it can. Without the binary these tests are skipped locally and fail under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from alertmanager_proc import Alertmanager, alertmanager_binary
from gateway_harness import InProcessGateway, RobotSpec

from dingrelay.emulator import Emulator, Received


@pytest.fixture
def robots() -> list[RobotSpec]:
    """As the other hook tests, but "ops" wants 巡检, a keyword the alertmanager template lacks."""
    return [RobotSpec("ops", keywords=["巡检"]), RobotSpec("oncall", keywords=["告警"]),
            RobotSpec("audit", keywords=["巡检"])]


@pytest.fixture
def alertmanager_bin() -> str:
    return alertmanager_binary()


@pytest.fixture
def alertmanager(alertmanager_bin: str, tmp_path: Path, gateway: InProcessGateway) -> Iterator[Alertmanager]:
    """Started after the check for the binary, so a missing binary skips before the gateway starts."""
    folder = tmp_path / "alertmanager"
    folder.mkdir()
    am = Alertmanager(alertmanager_bin, folder, f"{gateway.url}/hooks/alertmanager/am?token=am-token")
    try:
        am.wait_ready()
        yield am
    finally:
        am.stop()


def alert(name: str, severity: str, starts: datetime, ends: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": name, "severity": severity, "job": "node", "instance": "db-1:9100"},
        "annotations": {"summary": f"{name} 摘要"},
        "startsAt": starts.isoformat(),
        "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={name}",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


def test_alerts_posted_to_a_real_alertmanager_arrive_as_one_card_per_robot(
        alertmanager: Alertmanager, emu: Emulator) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    alerts = [
        alert("DiskFull", "warning", now - timedelta(minutes=10)),
        alert("DatabaseDown", "critical", now - timedelta(minutes=3)),
        alert("NodeDown", "warning", now - timedelta(hours=1), ends=now - timedelta(minutes=30)),
    ]

    r = alertmanager.http.post("/api/v2/alerts", json=alerts)
    assert r.status_code == 200, r.text

    [ops] = emu.wait_for(1, robot="ops", timeout=60)
    [oncall] = emu.wait_for(1, robot="oncall", timeout=60)
    ops_text, oncall_text = ops.body["markdown"]["text"], oncall.body["markdown"]["text"]
    assert "DiskFull" in ops_text and "DiskFull 摘要" in ops_text and "告警中 FIRING (1)" in ops_text
    assert "NodeDown" in ops_text and "已恢复 RESOLVED (1)" in ops_text
    assert "DatabaseDown" in oncall_text and "DatabaseDown" not in ops_text and "DiskFull" not in oncall_text
    started = (now - timedelta(minutes=10)).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert f"开始：{started}" in ops_text
    silence = oncall_text.split("[静默](", 1)[1].split(")", 1)[0]
    assert silence.startswith(f"{alertmanager.url}/#/silences/new?filter=")
    assert 'alertname="DatabaseDown"' in unquote(silence)
    assert ops.signed and oncall.signed and emu.rejections() == []
    assert ops.body["markdown"]["title"].startswith("【巡检】[告警]") and "【巡检】" in ops_text
    assert not oncall.body["markdown"]["title"].startswith("【")   # oncall's keyword 告警 is in the card


def says(card: Received) -> str:
    text = card.body["markdown"]["text"]
    firing, resolved = "告警中 FIRING (1)" in text, "已恢复 RESOLVED (1)" in text
    return {(True, False): "firing", (False, True): "resolved"}.get((firing, resolved), f"unclear: {text}")


def test_an_alert_firing_resolving_and_firing_again_arrives_as_three_cards_in_that_order(
        alertmanager: Alertmanager, emu: Emulator) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    steps = [alert("DiskFull", "warning", now - timedelta(minutes=5)),
             alert("DiskFull", "warning", now - timedelta(minutes=5), ends=now - timedelta(seconds=1)),
             alert("DiskFull", "warning", now)]

    for n, body in enumerate(steps, start=1):
        r = alertmanager.http.post("/api/v2/alerts", json=[body])
        assert r.status_code == 200, r.text
        emu.wait_for(n, robot="ops", timeout=60)   # Alertmanager notifies each change (group_interval 1s)

    cards = emu.messages("ops")
    assert [says(c) for c in cards] == ["firing", "resolved", "firing"]
    assert emu.rejections() == []
