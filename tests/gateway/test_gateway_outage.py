"""A long DingTalk outage costs no message: retries last for a time horizon (a day), not a count of attempts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, free_port, wait_until, write_config

OUTAGE_SECONDS = 180.0
MESSAGES = 50   # 50 at 20 per 60 s would take 150 s to drain one by one: more than digest_after_seconds


@pytest.mark.slow
def test_three_minutes_of_dingtalk_down_kill_nothing_and_the_backlog_drains_within_budget(tmp_path: Path) -> None:
    ops = RobotSpec("ops", keywords=["巡检"], rate_limit=20, rate_window_seconds=60.0)
    emu = emulator_for([ops])
    emu_port = free_port()
    config = write_config(tmp_path / "c.yaml", emulator_url=f"http://127.0.0.1:{emu_port}", robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}},
                          storage_url=f"sqlite:///{tmp_path / 'q.db'}",
                          delivery={"backoff_base_seconds": 1.0, "backoff_max_seconds": 5.0})
    gw = InProcessGateway(config)
    try:
        titles = [f"outage {i:02d}" for i in range(MESSAGES)]
        for title in titles:   # DingTalk is down: nothing listens on its port
            assert gw.http.post("/ding/send", json={"source": "heian-token", "title": title,
                                                    "content": "巡检"}).status_code == 202
        time.sleep(OUTAGE_SECONDS)
        counts = gw.services.store.counts()
        assert counts.get("dead", 0) == 0
        assert counts.get("delivered", 0) == 0
        with emu.serve(host="127.0.0.1", port=emu_port):
            assert wait_until(lambda: all(any(t in json.dumps(r.body, ensure_ascii=False) for r in emu.messages())
                                          for t in titles), 90)
            received = emu.messages()
            rejected = emu.rejections()
        counts = gw.services.store.counts()
    finally:
        gw.close()

    assert counts.get("dead", 0) == 0
    assert rejected == []
    assert len(received) < MESSAGES   # the backlog went out as digests, inside the robot's budget
    assert len(received) <= ops.rate_limit
