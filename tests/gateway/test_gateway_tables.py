"""The tables the wiring resolves from the configuration once at start: what the gateway, the hooks, /robot/send
and the bots look up instead of reading settings."""

from __future__ import annotations

from typing import Any

import pytest

from dingrelay.config import parse_settings
from dingrelay.wiring import bot_spec, gateway_tables

TOKEN = "heian-token-0123456789"
ACCESS = "a" * 64
SECRET = "SEC" + "b" * 64
APP_SECRET = "app-secret-0123456789"


def settings() -> Any:
    return parse_settings({
        "server": {"public_url": "https://relay.example.com/", "max_body_bytes": 4096},
        "robots": {"ops": {"webhook": f"https://oapi.dingtalk.com/robot/send?access_token={ACCESS}",
                           "secret": SECRET, "keywords": ["巡检"]},
                   "ops2": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=" + "c" * 64}},
        "pools": {"ops_pool": ["ops", "ops2"]},
        "sources": {"am": {"token": TOKEN, "robots": ["ops_pool"],
                           "routes": [{"matchers": ['severity="critical"'], "robots": ["ops2"]}],
                           "mention_label": "owner", "mentions": {"team": {"dba": [13800000000]}}}},
        "delivery": {"suppress_window_seconds": 30},
        "bots": {"helper": {"app_secret": APP_SECRET, "replies": [{"match": "^值班", "text": "王五"}],
                            "vars": {"oncall": "王五"}, "reply_budget_seconds": 2}},
    }, env={})


def test_the_tables_hold_what_the_configuration_resolves_to() -> None:
    tables = gateway_tables(settings())

    assert tables.robots_of("ops_pool") == ("ops", "ops2")
    assert tables.robots_of("ops") == ("ops",)
    assert tables.robots["ops"].keywords == ("巡检",)
    assert tables.robots["ops"].access_token.reveal() == ACCESS
    assert tables.robots["ops"].secret is not None and tables.robots["ops"].secret.reveal() == SECRET
    am = tables.sources["am"]
    assert am.token.reveal() == TOKEN and am.robots == ("ops_pool",)
    assert am.router.robots_for({"severity": "critical"}) == ("ops2",)
    assert am.router.robots_for({"severity": "info"}) == ("ops_pool",)
    assert am.mentions.mobiles_for({"owner": "13900000000", "team": "dba"}) == ["13900000000", "13800000000"]
    assert (tables.limits.max_body_bytes, tables.limits.alert_body_bytes) == (4096, 1024 * 1024)
    assert tables.suppress_window_seconds == 30
    assert tables.public_url == "https://relay.example.com"


def test_the_tables_cannot_be_changed_after_start() -> None:
    tables = gateway_tables(settings())

    with pytest.raises(TypeError):
        tables.sources["intruder"] = tables.sources["am"]  # type: ignore[index]
    with pytest.raises(TypeError):
        tables.pools["ops_pool"] += ("ops3",)  # type: ignore[index]
    with pytest.raises(AttributeError):
        tables.suppress_window_seconds = 0  # type: ignore[misc]


def test_no_token_or_secret_shows_in_the_tables_reprs() -> None:
    shown = repr(gateway_tables(settings())) + repr(bot_spec("helper", settings().bots["helper"]))

    for secret in (TOKEN, ACCESS, SECRET, APP_SECRET):
        assert secret not in shown


def test_a_bot_spec_carries_its_compiled_rules_vars_and_budget() -> None:
    spec = bot_spec("helper", settings().bots["helper"])

    assert spec.app_secret.reveal() == APP_SECRET
    assert [(r.index, r.regex.pattern, r.text) for r in spec.rules] == [(0, "^值班", "王五")]
    assert dict(spec.vars) == {"oncall": "王五"} and spec.reply_budget_seconds == 2
