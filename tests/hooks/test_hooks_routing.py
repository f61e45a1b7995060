"""Label routes (first match wins, one card per set of robots), @mentions from labels, and their configuration."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_harness import InProcessGateway
from hooks_payloads import am_alert, am_payload

from dingrelay.adapters.alertmanager import Alert, parse_alertmanager
from dingrelay.adapters.routing import Mentions, Router, plan
from dingrelay.config import ConfigError, parse_settings
from dingrelay.wiring import mentions, router

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=abc"


def settings(**source: Any) -> Any:
    robots = {name: {"webhook": WEBHOOK} for name in ("ops", "oncall", "dba")}
    return parse_settings({"robots": robots, "sources": {"am": {"token": "t", "robots": ["ops"], **source}}}, env={})


def alerts(*specs: dict[str, Any]) -> list[Alert]:
    return parse_alertmanager(am_payload(*specs)).alerts


ROUTES = [
    {"matchers": ['severity="critical"', 'team="dba"'], "robots": ["dba", "oncall"]},
    {"matchers": ['severity="critical"'], "robots": ["oncall"]},
    {"matchers": ['{team=~"db|dba", severity!="info"}'], "robots": ["dba"]},
]


@pytest.mark.parametrize(("labels", "robots"), [
    ({"severity": "critical", "team": "dba"}, ("dba", "oncall")),   # the first route that matches wins
    ({"severity": "critical", "team": "web"}, ("oncall",)),
    ({"severity": "warning", "team": "db"}, ("dba",)),
    ({"severity": "info", "team": "db"}, ("ops",)),                 # no route: the source's robots
    ({"severity": "warning"}, ("ops",)),
])
def test_the_first_route_whose_matchers_all_match_decides_the_robots(labels: dict[str, str],
                                                                   robots: tuple[str, ...]) -> None:
    routes = router(settings(routes=ROUTES).sources["am"])
    assert routes.robots_for({"alertname": "X", **labels}) == robots


def test_a_group_becomes_one_card_per_set_of_robots_with_its_own_alerts() -> None:
    routes = router(settings(routes=ROUTES[1:2]).sources["am"])
    group = alerts(am_alert("A"), am_alert("B", severity="critical"), am_alert("C"),
                   am_alert("D", severity="critical", status="resolved"))

    cards = plan(group, routes, Mentions())

    assert [(c.robots, [a.alertname for a in c.alerts]) for c in cards] == [
        (("ops",), ["A", "C"]), (("oncall",), ["B", "D"])]


def test_robots_that_get_the_same_alerts_share_one_card() -> None:
    cards = plan(alerts(am_alert("A"), am_alert("B")), Router(default=("ops", "dba")), Mentions())
    assert [(c.robots, len(c.alerts)) for c in cards] == [(("ops", "dba"), 2)]


def test_mentions_come_from_the_owner_label_and_the_team_table_of_firing_alerts_only() -> None:
    source = settings(mention_label="owner", mentions={"team": {"dba": [13700000000, "+86-13600000000"]}})
    group = alerts(am_alert("A", owner="13800000000, 13900000000"), am_alert("B", team="dba"),
                   am_alert("C", owner="alice"), am_alert("D", team="web"),
                   am_alert("E", owner="13500000000", status="resolved", ends="2024-05-01T03:00:00Z"),
                   am_alert("F", owner="13800000000"))

    [card] = plan(group, Router(default=("ops",)), mentions(source.sources["am"]))

    assert card.mobiles == ("13800000000", "13900000000", "13700000000", "+86-13600000000")


def test_a_source_without_mentions_ats_nobody() -> None:
    [card] = plan(alerts(am_alert("A", owner="13800000000")), Router(default=("ops",)),
                  mentions(settings().sources["am"]))
    assert card.mobiles == ()


# -- configuration ------------------------------------------------------------------------------------------------


def problems(**source: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        settings(**source)
    return {p.key: p.message for p in caught.value.problems}


def test_routes_and_mentions_load_into_the_source_settings() -> None:
    source = settings(routes=ROUTES, mention_label="owner", mentions={"team": {"dba": [13700000000]}}).sources["am"]
    assert [r.robots for r in source.routes] == [["dba", "oncall"], ["oncall"], ["dba"]]
    assert source.mention_label == "owner"
    assert source.mentions == {"team": {"dba": ["13700000000"]}}


def test_a_bad_matcher_names_its_key() -> None:
    found = problems(routes=[{"matchers": ['severity="critical"'], "robots": ["oncall"]},
                             {"matchers": ['team="dba"', 'severity=="critical"'], "robots": ["dba"]}])
    assert list(found) == ["sources.am.routes.1.matchers.1"]
    assert "unescaped double quote" in found["sources.am.routes.1.matchers.1"]


def test_a_bad_route_regex_names_its_key() -> None:
    found = problems(routes=[{"matchers": ['instance=~"db-("'], "robots": ["oncall"]}])
    assert "not a valid regular expression" in found["sources.am.routes.0.matchers.0"]


@pytest.mark.parametrize("regex", [r"(db)-\\1", "(?!web).*", "(?<=db)-1"],
                         ids=["backreference", "lookahead", "lookbehind"])
def test_a_route_regex_that_re2_cannot_run_fails_the_config_naming_its_key(regex: str) -> None:
    found = problems(routes=[{"matchers": ['severity="critical"', f'instance=~"{regex}"'], "robots": ["oncall"]}])
    assert list(found) == ["sources.am.routes.0.matchers.1"]
    message = found["sources.am.routes.0.matchers.1"]
    assert "not a valid regular expression" in message and "RE2" in message and "lookahead" in message


def test_a_route_naming_an_unknown_robot_names_its_key() -> None:
    found = problems(routes=[{"matchers": ['severity="critical"'], "robots": ["oncall", "pager"]}])
    assert list(found) == ["sources.am.routes.0.robots.1"]
    assert "no robot named 'pager'" in found["sources.am.routes.0.robots.1"]


@pytest.mark.parametrize(("route", "key"), [
    ({"matchers": [], "robots": ["oncall"]}, "sources.am.routes.0.matchers"),
    ({"matchers": ['severity="critical"'], "robots": []}, "sources.am.routes.0.robots"),
    ({"robots": ["oncall"]}, "sources.am.routes.0.matchers"),
    ({"matchers": ['severity="critical"'], "robot": ["oncall"]}, "sources.am.routes.0.robot"),
])
def test_a_route_needs_matchers_and_robots(route: dict[str, Any], key: str) -> None:
    assert key in problems(routes=[route])


@pytest.mark.parametrize(("source", "key"), [
    ({"mention_label": "owner-name"}, "sources.am.mention_label"),
    ({"mentions": {"team": {"dba": ["alice"]}}}, "sources.am.mentions.team.dba.0"),
    ({"mentions": {"team": ["13700000000"]}}, "sources.am.mentions.team"),
])
def test_bad_mention_settings_name_their_key(source: dict[str, Any], key: str) -> None:
    assert key in problems(**source)


def test_a_group_split_across_robots_is_stored_all_or_nothing(gateway: InProcessGateway) -> None:
    """If storing fails, no card of the group is kept: Alertmanager's retry must not page a robot twice."""
    store = gateway.services.store
    with store.engine.begin() as conn:   # the database refuses the oncall card, as it would a full disk
        conn.exec_driver_sql("CREATE TRIGGER refuse_oncall BEFORE INSERT ON dr_messages WHEN NEW.robot = 'oncall' "
                             "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    try:
        r = gateway.http.post("/hooks/alertmanager/am", headers={"Authorization": "Bearer am-token"},
                              json=am_payload(am_alert("DiskFull", severity="warning"),
                                              am_alert("DatabaseDown", severity="critical")))
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse_oncall")
    assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable"
    assert gateway.services.store.counts()["queued"] == 0
    assert gateway.services.store.messages_for() == []
