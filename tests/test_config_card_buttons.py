"""The configuration of the alert cards' buttons: card kinds, the source's Alertmanager, public_url, link_secret."""

from __future__ import annotations

from typing import Any

import pytest

from dingrelay.config import ConfigError, parse_settings

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=" + "ab" * 32
SECRET = "0123456789abcdef" * 4


def config(source: dict[str, Any], server: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"server": server or {}, "robots": {"ops": {"webhook": WEBHOOK}},
            "sources": {"am": {"token": "t", "robots": ["ops"], **source}}}


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, env={})
    return {p.key: p.message for p in caught.value.problems}


BUTTONS = {"card": "actioncard", "alertmanager": {"url": "http://alertmanager:9093", "token": "am-secret"}}


def test_cards_are_markdown_unless_asked_and_a_route_may_say_otherwise() -> None:
    s = parse_settings(config({"routes": [{"matchers": ['severity="critical"'], "robots": ["ops"],
                                           "card": "actioncard"}]}), env={})
    assert s.sources["am"].card == "markdown" and s.sources["am"].alertmanager is None
    assert s.sources["am"].routes[0].card == "actioncard"


def test_silence_buttons_load_with_a_public_url_and_a_link_secret() -> None:
    s = parse_settings(config(BUTTONS, {"public_url": "https://relay.example.com", "link_secret": SECRET}), env={})
    am = s.sources["am"].alertmanager
    assert am is not None and am.url == "http://alertmanager:9093" and am.token is not None
    assert "am-secret" not in repr(s) and SECRET not in str(s.masked())


def test_silence_buttons_without_public_url_or_link_secret_name_both_keys() -> None:
    found = problems(config(BUTTONS))
    assert "server.public_url" in found and "server.link_secret" in found
    assert "am" in found["server.link_secret"] and "openssl rand -hex 32" in found["server.link_secret"]


def test_an_actioncard_without_an_alertmanager_needs_neither() -> None:
    s = parse_settings(config({"card": "actioncard"}), env={})
    assert s.server.link_secret is None


def test_a_route_asking_for_actioncard_on_a_source_with_an_alertmanager_needs_the_link_settings() -> None:
    source = {"alertmanager": BUTTONS["alertmanager"],
              "routes": [{"matchers": ['severity="critical"'], "robots": ["ops"], "card": "actioncard"}]}
    assert {"server.public_url", "server.link_secret"} <= set(problems(config(source)))


@pytest.mark.parametrize(("key", "value", "wanted"), [
    ("server.public_url", "relay.example.com", "http(s) URL"),
    ("server.public_url", "ftp://relay.example.com", "http(s) URL"),
    ("server.link_secret", "short", "at least 32 characters"),
    ("sources.am.alertmanager.url", "alertmanager:9093", "http(s) URL"),
    ("sources.am.card", "feedcard", "markdown"),
])
def test_bad_values_are_named_with_the_fix(key: str, value: str, wanted: str) -> None:
    data = config(dict(BUTTONS), {"public_url": "https://relay.example.com", "link_secret": SECRET})
    section, *path, last = key.split(".")
    node = data[section]
    for part in path:
        node[part] = dict(node[part])
        node = node[part]
    node[last] = value
    found = problems(data)
    assert wanted in found[key], found
