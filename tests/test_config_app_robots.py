"""App robots in the configuration: ``app`` instead of ``webhook``, a group or up to 20 people, and errors that name
the key that does not fit the robot's kind."""

from __future__ import annotations

from typing import Any

import pytest

from dingrelay.config import ConfigError, parse_settings
from dingrelay.dingtalk import Secret

APP_SECRET = "app-secret-from-the-developer-console"
WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=" + "ab" * 32


def app_robot(**extra: Any) -> dict[str, Any]:
    return {"app": {"client_id": "dingoncall", "client_secret": "${ONCALL_APP_SECRET}", "robot_code": "dingrobot01"},
            **({"open_conversation_id": "cidAsXSBLnA=="} if not extra else {}), **extra}


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, env={"ONCALL_APP_SECRET": APP_SECRET})
    return {p.key: p.message for p in caught.value.problems}


def test_an_app_robot_loads_with_its_secret_masked() -> None:
    s = parse_settings({"robots": {"oncall_app": app_robot()},
                        "sources": {"am": {"token": "t", "robots": ["oncall_app"]}}},
                       env={"ONCALL_APP_SECRET": APP_SECRET})
    rs = s.robots["oncall_app"]
    assert rs.app is not None and rs.app.client_secret == Secret(APP_SECRET)
    assert rs.app.api == "https://api.dingtalk.com" and rs.webhook is None and rs.access_token is None
    assert APP_SECRET not in str(s.masked()) and APP_SECRET not in repr(s)
    assert s.masked()["robots"]["oncall_app"] == {
        "app": {"client_id": "dingoncall", "client_secret": "****", "robot_code": "dingrobot01",
                "api": "https://api.dingtalk.com"},
        "open_conversation_id": "cidAsXSBLnA==", "user_ids": [], "rate_limit": 20, "rate_window_seconds": 60.0}


@pytest.mark.parametrize(("robot", "key", "says"), [
    ({"webhook": WEBHOOK, **app_robot()}, "robots.r.app", "not both"),
    (app_robot(secret="SEC" + "0" * 64, open_conversation_id="cid1"), "robots.r.secret", "加签 is for webhook robots"),
    (app_robot(keywords=["监控"], open_conversation_id="cid1"), "robots.r.keywords", "for webhook robots"),
    ({"app": app_robot()["app"]}, "robots.r.open_conversation_id", "give exactly one"),
    (app_robot(open_conversation_id="cid1", user_ids=["manager1234"]), "robots.r.open_conversation_id",
     "give exactly one"),
    ({"webhook": WEBHOOK, "open_conversation_id": "cid1"}, "robots.r.open_conversation_id", "only app robots"),
    (app_robot(user_ids=[f"u{i}" for i in range(21)]), "robots.r.user_ids", "at most 20"),
])
def test_a_key_that_does_not_fit_the_robots_kind_is_named(robot: dict[str, Any], key: str, says: str) -> None:
    found = problems({"robots": {"r": robot}})
    assert key in found and says in found[key], found


def test_an_empty_client_secret_is_named() -> None:
    robot = app_robot()
    robot["app"] = {**robot["app"], "client_secret": ""}
    assert "robots.r.app.client_secret" in problems({"robots": {"r": robot}})


def test_user_ids_make_a_one_to_one_app_robot() -> None:
    s = parse_settings({"robots": {"people": app_robot(user_ids=["manager1234", "user5678"])}},
                       env={"ONCALL_APP_SECRET": APP_SECRET})
    assert s.robots["people"].user_ids == ["manager1234", "user5678"]
