"""Issue #5, Storm acceptance: 2,000 alerts posted within 10 s to one robot limited to 20 per 10-second window.

Within 30 s every alert's name appears in messages at the emulator; no window exceeds 20; the emulator rejects
nothing; the statuses account for all 2,000.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, wait_until
from storm_helpers import max_in_any_window, one_alert, storm_config

from dingrelay.delivery.model import Status

ALERTS = 2000
NAME = re.compile(r"StormAlert\d{4}")


@pytest.mark.slow
def test_2000_alerts_in_10_s_reach_a_robot_limited_to_20_per_10_s_within_30_s_with_nothing_lost(
        tmp_path: Path) -> None:
    robot = RobotSpec("ops", keywords=["告警"], rate_limit=20, rate_window_seconds=10.0)
    emu = emulator_for([robot])
    names = [f"StormAlert{i:04d}" for i in range(ALERTS)]
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = storm_config(tmp_path / "c.yaml", emulator_url=server.url, robots=[robot],
                              sources={"am": {"token": "am-token", "robots": ["ops"]}},
                              storage_url=f"sqlite:///{tmp_path / 'q.db'}")
        gw = InProcessGateway(config)
        try:
            started = time.monotonic()
            with httpx.Client(base_url=gw.url, timeout=30, headers={"Authorization": "Bearer am-token"},
                              limits=httpx.Limits(max_connections=8)) as http, \
                    ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(lambda n: http.post("/hooks/alertmanager/am", json=one_alert(n)), names))

            def seen() -> set[str]:
                return {n for r in emu.messages() for n in NAME.findall(r.text())}

            all_seen = wait_until(lambda: len(seen()) == ALERTS, timeout=max(0.0, 30 - (time.monotonic() - started)))
            store = gw.services.store
            ids = [i for a in answers for i in a.json()["ids"]]
            settled = wait_until(lambda: store.counts()["sending"] == 0, timeout=10)
            stored = [store.get(i) for i in ids]
            received = emu.messages()
        finally:
            gw.close()

    assert [a.status_code for a in answers] == [202] * ALERTS
    assert all_seen, f"{ALERTS - len(seen())} alert names never reached the emulator within 30 s"
    assert max_in_any_window(received, 10.0) <= 20
    assert emu.rejections() == []
    assert settled
    assert len(ids) == ALERTS
    by_status = {s: [m for m in stored if m is not None and m.status is s] for s in Status}
    assert len(by_status[Status.DELIVERED]) + len(by_status[Status.SUPPRESSED]) == ALERTS
    via_digest = [m for m in by_status[Status.DELIVERED] if m.digest_id is not None]
    digests = {m.digest_id for m in via_digest}
    assert via_digest and len(received) == ALERTS - len(via_digest) + len(digests)
    assert all((d := store.get(i)) is not None and d.status is Status.DELIVERED for i in digests if i is not None)
