"""Robot pools: several robots added to one group; each message goes to ONE of them, so the rate limit multiplies."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for
from storm_helpers import max_in_any_window, storm_config

from dingrelay.config import ConfigError, parse_settings
from dingrelay.delivery.sql import SqlStore
from dingrelay.gateway import Gateway
from dingrelay.rendering import Renderer
from dingrelay.wiring import gateway_tables

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token="


def settings_data(**extra: Any) -> dict[str, Any]:
    robots = {name: {"webhook": WEBHOOK + name * 8, "keywords": ["巡检"]} for name in ("ops1", "ops2", "ops3")}
    return {"robots": robots,
            "sources": {"heian": {"token": "heian-token", "robots": ["ops_pool"]}},
            "pools": {"ops_pool": ["ops1", "ops2", "ops3"]}, **extra}


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(data)
    return {p.key: p.message for p in info.value.problems}


def test_a_source_or_route_may_name_a_pool() -> None:
    data = settings_data()
    data["sources"]["am"] = {"token": "am-token", "robots": ["ops1"],
                             "routes": [{"matchers": ['severity="critical"'], "robots": ["ops_pool"]}]}

    s = parse_settings(data)

    assert s.pools == {"ops_pool": ["ops1", "ops2", "ops3"]}
    assert s.robots_of("ops_pool") == ["ops1", "ops2", "ops3"]
    assert s.robots_of("ops1") == ["ops1"]


@pytest.mark.parametrize(("pools", "key", "message"), [
    pytest.param({"ops_pool": ["ops1", "nope"]}, "pools.ops_pool.1", "no robot named 'nope'", id="unknown-robot"),
    pytest.param({"ops_pool": ["ops1", "ops1"]}, "pools.ops_pool.1", "listed twice", id="robot-twice"),
    pytest.param({"ops_pool": ["ops1"], "ops2": ["ops3"]}, "pools.ops2", "a robot has this name", id="robot-name"),
    pytest.param({"ops_pool": []}, "pools.ops_pool", "at least 1", id="empty"),
])
def test_a_bad_pool_fails_at_load_naming_its_key(pools: dict[str, list[str]], key: str, message: str) -> None:
    found = problems(settings_data(pools=pools))

    assert message in found[key]


def test_a_source_naming_neither_a_robot_nor_a_pool_fails_listing_both() -> None:
    data = settings_data()
    data["sources"]["heian"]["robots"] = ["opz_pool"]

    assert problems(data) == {"sources.heian.robots.0": "no robot or pool named 'opz_pool' "
                                                        "(robots: ops1, ops2, ops3; pools: ops_pool)"}


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    store = SqlStore(f"sqlite:///{tmp_path / 'q.db'}")
    return Gateway(gateway_tables(parse_settings(settings_data())), store, Renderer(None))


def accept(gw: Gateway, n: int, target: str = "ops_pool", title: str = "pool") -> list[str]:
    """Accept ``n`` distinct messages for ``target``; the robots they went to."""
    out = []
    for i in range(n):
        message = gw.render("info", {"title": f"{title} {i}", "content": "ok", "source": "heian"})
        out += [m.robot or "" for m in gw.accept("heian", message, [target]).messages]
    return out


def test_a_pool_spreads_messages_evenly_one_robot_each(gateway: Gateway) -> None:
    robots = accept(gateway, 9)

    assert len(robots) == 9
    assert {r: robots.count(r) for r in set(robots)} == {"ops1": 3, "ops2": 3, "ops3": 3}


def test_a_pool_prefers_the_robot_with_the_least_backlog(gateway: Gateway) -> None:
    accept(gateway, 4, target="ops1", title="before")

    robots = accept(gateway, 6)

    assert robots.count("ops1") == 0
    assert sorted(robots) == ["ops2"] * 3 + ["ops3"] * 3


@pytest.mark.slow
def test_120_messages_to_a_pool_of_3_robots_spread_over_all_three_each_within_its_limit(tmp_path: Path) -> None:
    robots = [RobotSpec(f"ops{i}", keywords=["巡检"], rate_limit=20, rate_window_seconds=4.0) for i in (1, 2, 3)]
    emu = emulator_for(robots)
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = storm_config(tmp_path / "c.yaml", emulator_url=server.url, robots=robots,
                              sources={"heian": {"token": "heian-token", "robots": ["ops_pool"]}},
                              storage_url=f"sqlite:///{tmp_path / 'q.db'}",
                              pools={"ops_pool": ["ops1", "ops2", "ops3"]})
        gw = InProcessGateway(config)
        try:
            with httpx.Client(base_url=gw.url, timeout=30) as http, ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(pool.map(lambda i: http.post("/ding/send", json={
                    "source": "heian-token", "title": f"pool {i:03d}", "content": "ok"}), range(120)))
            received = emu.wait_for(120, timeout=60)
        finally:
            gw.close()

    assert [a.status_code for a in answers] == [202] * 120
    assert len(received) == 120
    assert sorted(t for r in received for t in re.findall(r"pool \d{3}", r.text())) == [
        f"pool {i:03d}" for i in range(120)]   # one message each: no digests, nothing twice
    per_robot = {r.name: [m for m in received if m.robot == r.name] for r in robots}
    assert all(len(got) > 0 for got in per_robot.values())
    assert all(max_in_any_window(got, 4.0) <= 20 for got in per_robot.values())
    assert emu.rejections() == []


def test_storm_settings_default_to_digests_after_120_s_and_a_300_s_suppression_window() -> None:
    d = parse_settings({}).delivery

    assert (d.digest, d.digest_after_seconds, d.suppress_window_seconds) == (True, 120.0, 300.0)


@pytest.mark.parametrize(("delivery", "key"), [
    pytest.param({"digest_after_seconds": 0}, "delivery.digest_after_seconds", id="digest-after-zero"),
    pytest.param({"suppress_window_seconds": -1}, "delivery.suppress_window_seconds", id="negative-window"),
    pytest.param({"digests": True}, "delivery.digests", id="misspelt"),
])
def test_a_bad_storm_setting_names_its_key(delivery: dict[str, Any], key: str) -> None:
    assert key in problems({"delivery": delivery})


def test_a_bad_source_suppression_window_names_its_key() -> None:
    data = settings_data()
    data["sources"]["heian"]["suppress_window_seconds"] = -5

    assert "sources.heian.suppress_window_seconds" in problems(data)


@pytest.mark.parametrize(("own", "alert", "other"), [
    pytest.param(None, 300.0, 0.0, id="unset-alert-hooks-only"),
    pytest.param(60, 60.0, 60.0, id="set-everywhere"),
    pytest.param(0, 0.0, 0.0, id="zero-off-everywhere"),
])
def test_a_sources_suppression_window_is_resolved_into_the_tables(own: float | None, alert: float,
                                                                  other: float) -> None:
    data = settings_data()
    if own is not None:
        data["sources"]["heian"]["suppress_window_seconds"] = own

    tables = gateway_tables(parse_settings(data))

    assert tables.suppress_seconds("heian", alert=True) == alert
    assert tables.suppress_seconds("heian", alert=False) == other
    assert tables.suppress_seconds("robot:ops1", alert=True) == 0.0   # not a source: /robot/send never suppresses
