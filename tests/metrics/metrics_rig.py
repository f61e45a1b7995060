"""The /metrics test rig: a real gateway (two robots, a two-way bot) over HTTP with its worker, the emulator as
DingTalk, and prometheus-client's own parser."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from gateway_harness import InProcessGateway, RobotSpec, emulator_for
from prometheus_client.parser import text_string_to_metric_families

from dingrelay.emulator import Emulator

TOKEN = "heian-" + secrets.token_hex(16)        # source heian: robot ops
DBA_TOKEN = "slowlog-" + secrets.token_hex(16)   # source slowlog: robot dba


@dataclass
class MetricsRig:
    gateway: InProcessGateway
    emu: Emulator
    emulator_url: str
    robots: list[RobotSpec]
    app_secret: str
    config: dict[str, Any]

    def scrape(self, **headers: str) -> httpx.Response:
        return self.gateway.http.get("/metrics", headers=headers)

    def secrets(self) -> list[str]:
        """Every credential and URL of the configuration: none may appear in /metrics."""
        out = [TOKEN, DBA_TOKEN, self.app_secret, self.emulator_url, "access_token"]
        for r in self.robots:
            out += [r.token, r.secret, self.config["robots"][r.name]["webhook"]]
        if token := self.config.get("metrics", {}).get("token"):
            out.append(token)
        return out


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """(sample name, labels) -> value, parsed by prometheus-client's own parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(parsed: Samples, name: str, **labels: str) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


def make_rig(tmp_path: Path, store_url: str, *, metrics: dict[str, Any] | None = None,
             delivery: dict[str, Any] | None = None, ops_rate: tuple[int, float] = (20, 60.0),
             suppress_seconds: float = 0.0) -> Iterator[MetricsRig]:
    """The rig, served until the generator is closed. ``ops_rate``: robot ops' (rate_limit, rate_window_seconds);
    ``suppress_seconds``: source heian's window for repeats."""
    ops = RobotSpec("ops", keywords=["巡检"], rate_limit=ops_rate[0], rate_window_seconds=ops_rate[1])
    dba = RobotSpec("dba", keywords=[])
    emu = emulator_for([ops, dba])
    app_secret = secrets.token_urlsafe(32)
    with emu.serve(host="127.0.0.1", port=0) as server:
        config: dict[str, Any] = {
            "server": {"listen": "127.0.0.1:0"},
            "storage": {"url": store_url},
            "robots": {r.name: {"webhook": f"{server.url}/robot/send?access_token={r.token}", "secret": r.secret,
                                "keywords": r.keywords, "rate_limit": r.rate_limit,
                                "rate_window_seconds": r.rate_window_seconds} for r in (ops, dba)},
            "sources": {"heian": {"token": TOKEN, "robots": ["ops"], "suppress_window_seconds": suppress_seconds},
                        "slowlog": {"token": DBA_TOKEN, "robots": ["dba"]}},
            "delivery": delivery or {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0, "digest": False},
            "bots": {"helper": {"app_secret": app_secret, "replies": [{"match": "^ping", "text": "pong"}]}},
        }
        if metrics is not None:
            config["metrics"] = metrics
        path = tmp_path / "dingrelay.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        gw = InProcessGateway(path)
        try:
            yield MetricsRig(gw, emu, server.url, [ops, dba], app_secret, config)
        finally:
            gw.close()
