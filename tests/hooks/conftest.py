from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, write_config

from dingrelay.emulator import Emulator

ALERT_KEYWORD = "告警"
ROUTED = [{"matchers": ['severity="critical"'], "robots": ["oncall"]}]

SOURCES: dict[str, Any] = {
    "am": {"token": "am-token", "robots": ["ops"], "routes": ROUTED, "mention_label": "owner",
           "mentions": {"team": {"dba": ["13700000000"]}}},
    "grafana": {"token": "grafana-token", "robots": ["ops"],
                "routes": [{"matchers": ['team=~"db|dba"'], "robots": ["oncall"]}]},
    "generic": {"token": "generic-token", "robots": ["ops"]},
    "strict": {"token": "strict-token", "robots": ["audit"]},
}

EVENTS_TEMPLATE = """\
{% set msgtype = "markdown" %}
{% set title = "[告警] " ~ args.get("env", "?") %}
{{ body | length }} 条事件 ({{ args.get("env", "?") }}): {{ body | map(attribute="name") | join(", ") }}
"""

ALERTS_SHORT_TEMPLATE = """\
{% set msgtype = "text" %}
告警 {{ firing_count }} firing: {{ firing | map(attribute="alertname") | join(", ") }}
"""


def hook_robots() -> list[RobotSpec]:
    return [RobotSpec("ops", keywords=[ALERT_KEYWORD]), RobotSpec("oncall", keywords=[ALERT_KEYWORD]),
            RobotSpec("audit", keywords=["巡检"])]


def start_gateway(folder: Path, emulator_url: str, robots: list[RobotSpec], storage_url: str) -> InProcessGateway:
    """The real app and worker on ``storage_url``, with the sources above and a user template dir."""
    templates = folder / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "events.j2").write_text(EVENTS_TEMPLATE, encoding="utf-8")
    (templates / "alerts_short.j2").write_text(ALERTS_SHORT_TEMPLATE, encoding="utf-8")
    config = write_config(folder / "dingrelay.yaml", emulator_url=emulator_url, robots=robots,
                          sources=SOURCES, storage_url=storage_url)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["templates"] = {"dir": str(templates)}
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return InProcessGateway(config)


@pytest.fixture
def robots() -> list[RobotSpec]:
    return hook_robots()


@pytest.fixture
def emulator(robots: list[RobotSpec]) -> Iterator[tuple[Emulator, str]]:
    emu = emulator_for(robots)
    with emu.serve(host="127.0.0.1", port=0) as server:
        yield emu, server.url


@pytest.fixture
def emu(emulator: tuple[Emulator, str]) -> Emulator:
    return emulator[0]


@pytest.fixture
def make_gateway(tmp_path: Path, emulator: tuple[Emulator, str], robots: list[RobotSpec]
                 ) -> Iterator[Callable[[str], InProcessGateway]]:
    started: list[InProcessGateway] = []

    def start(storage_url: str) -> InProcessGateway:
        started.append(start_gateway(tmp_path, emulator[1], robots, storage_url))
        return started[-1]

    yield start
    for gw in started:
        gw.close()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessGateway, Emulator]]:
    """One gateway and emulator for a whole module of requests that must all be refused (nothing is stored)."""
    robots = hook_robots()
    emu = emulator_for(robots)
    folder = tmp_path_factory.mktemp("refusing")
    with emu.serve(host="127.0.0.1", port=0) as server:
        gw = start_gateway(folder, server.url, robots, f"sqlite:///{folder / 'dingrelay.db'}")
        yield gw, emu
        gw.close()


@pytest.fixture
def gateway(make_gateway: Callable[[str], InProcessGateway], tmp_path: Path) -> InProcessGateway:
    """On SQLite: for what does not depend on the store."""
    return make_gateway(f"sqlite:///{tmp_path / 'dingrelay.db'}")
