"""A real gateway with two-way bots, served over HTTP with its worker, and an emulator acting as DingTalk."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import bot_handlers
import pytest
import yaml
from bot_rig import BotRig
from gateway_harness import InProcessGateway, RobotSpec, emulator_for

from dingrelay.emulator.http import SESSION_PATH

WEATHER = """{% set title %}{{ city }}天气{% endset %}
#### {{ city }}天气
{{ sender_nick }}，{{ city }}今天晴，25°C。
"""

RULES = [
    {"match": r"^天气\s*(?P<city>\S+)", "template": "weather"},
    {"match": "^值班", "text": "今天值班: {{ oncall }}（{{ sender_nick }} 问的）"},
]




@pytest.fixture
def ops() -> RobotSpec:
    return RobotSpec("ops", keywords=["巡检"])


@pytest.fixture
def handlers() -> Iterator[None]:
    bot_handlers.reset()
    yield
    bot_handlers.RELEASE.set()  # never leave a slow handler blocking the pool's shutdown


@pytest.fixture
def bot_extra(request: pytest.FixtureRequest) -> dict:
    """More keys for ``bots.helper`` (``@pytest.mark.parametrize("bot_extra", [{...}], indirect=True)``)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def rig(tmp_path: Path, store_url: str, ops: RobotSpec, handlers: None, bot_extra: dict) -> Iterator[BotRig]:
    emu = emulator_for([ops])
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "weather.j2").write_text(WEATHER, encoding="utf-8")
    secret = secrets.token_urlsafe(32)
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = {
            "server": {"listen": "127.0.0.1:0"},
            "storage": {"url": store_url},
            "robots": {ops.name: {"webhook": f"{server.url}/robot/send?access_token={ops.token}",
                                  "secret": ops.secret, "keywords": ops.keywords}},
            "sources": {"heian": {"token": "heian-token", "robots": [ops.name]}},
            "templates": {"dir": str(templates)},
            "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0},
            "bots": {"helper": {"app_secret": secret, "replies": RULES, "handlers": "bot_handlers",
                                "vars": {"oncall": "王五"}, "reply_budget_seconds": 1.0,
                                "session_webhook_prefixes": [f"{server.url}{SESSION_PATH}"], **bot_extra}},
        }
        path = tmp_path / "dingrelay.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        gw = InProcessGateway(path)
        try:
            yield BotRig(gw, emu, secret)
        finally:
            bot_handlers.RELEASE.set()
            gw.close()
