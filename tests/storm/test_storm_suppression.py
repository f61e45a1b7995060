"""Through the real app, on SQLite and PostgreSQL: a repeat is judged against what the robot (or pool) last showed
for the same alert group, so firing, resolved, firing again are three cards and the same card twice is one,
counted; plain sources' repeats are all shown unless the source sets a window; digests count as shown."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, wait_until
from storm_helpers import one_alert, storm_config

from dingrelay.dingtalk import signing
from dingrelay.emulator import Emulator, Fault, Received

AM = {"Authorization": "Bearer am-token"}
CRON = {"Authorization": "Bearer cron-token"}
TOKEN, SECRET = "7" * 64, "SEC" + "8" * 64
TEXT = {"msgtype": "text", "text": {"content": "告警: backup failed"}}
SOURCES: dict[str, Any] = {"am": {"token": "am-token", "robots": ["ops"]},
                           "other": {"token": "other-token", "robots": ["ops"]}}

Start = Callable[..., tuple[InProcessGateway, Emulator]]


@pytest.fixture
def start(tmp_path: Path, store_url: str) -> Iterator[Start]:
    """``start(sources=…, pools=…, **delivery)``: the app and worker on ``store_url`` for robots "ops" and "ops2"
    (keywords 告警, 巡检); by default sources "am" and "other", both sending to "ops"."""
    started: list[InProcessGateway] = []
    robots = [RobotSpec("ops", keywords=["告警", "巡检"], token=TOKEN, secret=SECRET),
              RobotSpec("ops2", keywords=["告警", "巡检"])]
    emu = emulator_for(robots)

    def run(*, sources: dict[str, Any] | None = None, pools: dict[str, list[str]] | None = None,
            **delivery: Any) -> tuple[InProcessGateway, Emulator]:
        config = storm_config(tmp_path / "c.yaml", emulator_url=url, robots=robots, sources=sources or SOURCES,
                              storage_url=store_url, pools=pools, delivery=delivery)
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


def post_alert(gw: InProcessGateway, name: str, status: str = "firing") -> str:
    r = gw.http.post("/hooks/alertmanager/am", json=one_alert(name, status=status), headers=AM)
    assert r.status_code == 202, r.text
    [message_id] = r.json()["ids"]
    return str(message_id)


def get(gw: InProcessGateway, message_id: str, headers: dict[str, str] = AM) -> dict[str, Any]:
    r = gw.http.get(f"/api/v1/messages/{message_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def says(card: Received) -> str:
    """What an Alertmanager card tells the group: "firing" or "resolved" (its sections, as people read them)."""
    text = card.body["markdown"]["text"]
    firing, resolved = "告警中 FIRING (1)" in text, "已恢复 RESOLVED (1)" in text
    return {(True, False): "firing", (False, True): "resolved"}.get((firing, resolved), f"unclear: {text}")


def test_firing_resolved_firing_within_60_s_reaches_dingtalk_as_three_cards_in_that_order(start: Start) -> None:
    gw, emu = start()
    ids = [post_alert(gw, "DiskFull", status) for status in ("firing", "resolved", "firing")]

    cards = emu.wait_for(3, robot="ops", timeout=30)
    assert wait_until(lambda: idle(gw), 10)

    assert [says(c) for c in cards] == ["firing", "resolved", "firing"]
    assert [get(gw, i)["status"] for i in ids] == ["delivered"] * 3
    assert len(emu.messages()) == 3


def test_the_same_card_again_is_suppressed_and_counted_on_the_card_shown(start: Start) -> None:
    gw, emu = start()
    firing = post_alert(gw, "DiskFull")
    firing_again = post_alert(gw, "DiskFull")
    resolved = post_alert(gw, "DiskFull", "resolved")
    resolved_again = post_alert(gw, "DiskFull", "resolved")
    other = post_alert(gw, "HighCPU")

    cards = emu.wait_for(3, timeout=30)
    assert wait_until(lambda: idle(gw), 10)

    assert [(get(gw, i)["status"], get(gw, i)["duplicate_of"]) for i in (firing_again, resolved_again)] == [
        ("suppressed", firing), ("suppressed", resolved)]
    assert [get(gw, i)["duplicates"] for i in (firing, resolved, other)] == [1, 1, 0]
    assert [says(c) for c in cards] == ["firing", "resolved", "firing"]
    assert "HighCPU" in cards[2].body["markdown"]["text"]
    assert len(emu.messages()) == 3


def test_a_repeat_to_a_pool_is_suppressed_though_the_pool_picks_another_member_for_it(start: Start) -> None:
    gw, emu = start(sources={"am": {"token": "am-token", "robots": ["ops_pool"]}}, pools={"ops_pool": ["ops", "ops2"]})
    first = post_alert(gw, "DiskFull")
    again = post_alert(gw, "DiskFull")

    emu.wait_for(1, timeout=30)
    assert wait_until(lambda: idle(gw), 10)
    shown, repeat = get(gw, first), get(gw, again)

    assert {shown["robot"], repeat["robot"]} == {"ops", "ops2"}   # the pool took turns: the repeat went elsewhere
    assert (repeat["status"], repeat["duplicate_of"], shown["duplicates"]) == ("suppressed", first, 1)
    resolved = post_alert(gw, "DiskFull", "resolved")              # what the pool has not shown yet is sent
    assert wait_until(lambda: get(gw, resolved)["status"] == "delivered", 30)
    assert [says(c) for c in emu.messages()] == ["firing", "resolved"]


def test_cards_carried_by_a_digest_count_as_shown_with_their_states(start: Start) -> None:
    gw, emu = start(digest_after_seconds=1)
    emu.inject(Fault(kind="latency", latency_seconds=5.0, count=1))   # the first send is slow: a backlog builds
    slow = post_alert(gw, "Slow")
    assert wait_until(lambda: get(gw, slow)["status"] == "sending", 10)
    ids = [post_alert(gw, "DiskFull", status) for status in ("firing", "resolved", "firing")]

    assert wait_until(lambda: idle(gw), 30)
    carried = [get(gw, i) for i in ids]
    assert [m["status"] for m in carried] == ["delivered"] * 3
    assert carried[0]["digest_id"] is not None and {m["digest_id"] for m in carried} == {carried[0]["digest_id"]}
    digest = get(gw, carried[0]["digest_id"])["message"]["markdown"]["text"]
    assert "DiskFull" in digest and "FIRING" in digest and "RESOLVED" in digest

    again = post_alert(gw, "DiskFull")                      # the digest's last word on DiskFull: firing
    resolved = post_alert(gw, "DiskFull", "resolved")
    assert wait_until(lambda: idle(gw) and get(gw, resolved)["status"] == "delivered", 30)
    assert (get(gw, again)["status"], get(gw, again)["duplicate_of"]) == ("suppressed", ids[2])
    assert says(emu.messages()[-1]) == "resolved"


@pytest.mark.parametrize(("endpoint", "window", "shown"), [
    pytest.param("/api/v1/messages", None, 3, id="api-every-repeat-shown-by-default"),
    pytest.param("/ding/send", None, 3, id="tutorial-every-repeat-shown-by-default"),
    pytest.param("/api/v1/messages", 300, 1, id="api-the-sources-window-suppresses"),
    pytest.param("/ding/send", 300, 1, id="tutorial-the-sources-window-suppresses"),
])
def test_a_plain_sources_repeats_are_all_shown_unless_it_sets_a_window(
        start: Start, endpoint: str, window: float | None, shown: int) -> None:
    cron: dict[str, Any] = {"token": "cron-token", "robots": ["ops"]}
    if window is not None:
        cron["suppress_window_seconds"] = window
    gw, emu = start(sources={"cron": cron})
    body = ({"message": TEXT} if endpoint == "/api/v1/messages" else
            {"title": "备份", "content": "backup failed", "level": "error"})
    ids = []
    for _ in range(3):   # a cron job reporting "backup failed" every minute, and its repeats
        r = gw.http.post(endpoint, json=body, headers=CRON)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])

    emu.wait_for(shown, timeout=30)
    assert wait_until(lambda: idle(gw), 10)

    assert len(emu.messages()) == shown
    assert gw.services.store.counts()["suppressed"] == 3 - shown
    assert get(gw, ids[0], CRON)["duplicates"] == 3 - shown


def test_a_tutorial_card_sent_again_a_second_later_is_still_a_repeat(start: Start) -> None:
    """The card's text carries the time it was rendered; its repeat is judged on what the sender sent."""
    gw, emu = start(sources={"cron": {"token": "cron-token", "robots": ["ops"], "suppress_window_seconds": 300}})
    body = {"title": "备份", "content": "backup failed", "level": "error"}
    first = gw.http.post("/ding/send", json=body, headers=CRON).json()["id"]
    emu.wait_for(1, timeout=30)
    time.sleep(1.1)   # the next card renders another time of day
    again = gw.http.post("/ding/send", json=body, headers=CRON).json()["id"]
    other = gw.http.post("/ding/send", json={**body, "content": "backup ok"}, headers=CRON).json()["id"]
    emu.wait_for(2, timeout=30)
    assert wait_until(lambda: idle(gw), 10)
    assert (get(gw, again, CRON)["status"], get(gw, again, CRON)["duplicate_of"]) == ("suppressed", first)
    assert get(gw, other, CRON)["status"] == "delivered"


def test_an_alert_sources_own_window_replaces_the_alert_hooks_default(start: Start) -> None:
    gw, emu = start(sources={"am": {"token": "am-token", "robots": ["ops"], "suppress_window_seconds": 0}})
    post_alert(gw, "DiskFull")
    post_alert(gw, "DiskFull")

    emu.wait_for(2, timeout=30)
    assert wait_until(lambda: idle(gw), 10)
    assert gw.services.store.counts()["suppressed"] == 0


def test_the_drop_in_robot_send_sends_every_message_as_dingtalk_would(start: Start) -> None:
    gw, emu = start()
    for _ in range(2):
        params = {"access_token": TOKEN, **signing.sign_query(SECRET, signing.now_ms())}
        assert gw.http.post("/robot/send", params=params, json=TEXT).json()["errcode"] == 0

    emu.wait_for(2, timeout=30)
    assert wait_until(lambda: idle(gw), 10)
    assert gw.services.store.counts()["suppressed"] == 0


def test_a_digest_can_be_looked_up_by_a_source_whose_messages_it_carries_and_no_other(start: Start) -> None:
    gw, emu = start(digest_after_seconds=1)
    emu.inject(Fault(kind="latency", latency_seconds=4.0, count=1))   # the first send is slow: a backlog builds
    ids = [post_alert(gw, "Alert0")]
    assert wait_until(lambda: get(gw, ids[0])["status"] == "sending", 10)
    ids += [post_alert(gw, f"Alert{i}") for i in range(1, 6)]

    assert wait_until(lambda: idle(gw), 15)
    digest_id = get(gw, ids[-1])["digest_id"]
    digest = gw.http.get(f"/api/v1/messages/{digest_id}", headers=AM)
    refused = gw.http.get(f"/api/v1/messages/{digest_id}", headers={"Authorization": "Bearer other-token"})

    assert digest.status_code == 200
    assert digest.json()["status"] == "delivered"
    assert "Alert5" in digest.json()["message"]["markdown"]["text"]
    assert refused.status_code == 404
    assert len(emu.messages()) == 2   # the slow one alone, then one digest of the five behind it
