"""Helpers for the storm tests: Alertmanager bodies of one alert each, a config with pools, window counting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from gateway_harness import RobotSpec, write_config

from dingrelay.emulator import Received


def one_alert(name: str, *, severity: str = "critical", status: str = "firing") -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for a group of one alert named ``name``, firing or resolved."""
    return {
        "version": "4", "status": status, "receiver": "dingrelay", "groupKey": f'{{}}:{{alertname="{name}"}}',
        "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status, "labels": {"alertname": name, "severity": severity, "instance": "web-1:9100"},
            "annotations": {"summary": f"{name} on web-1"}, "startsAt": "2024-05-01T02:00:00Z",
            "endsAt": "2024-05-01T02:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={name}", "fingerprint": f"fp-{name}",
        }],
    }


def storm_config(path: Path, *, emulator_url: str, robots: list[RobotSpec], sources: dict[str, Any],
                 storage_url: str, pools: dict[str, list[str]] | None = None,
                 delivery: dict[str, Any] | None = None) -> Path:
    config = write_config(path, emulator_url=emulator_url, robots=robots, sources=sources, storage_url=storage_url,
                          delivery={"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0, **(delivery or {})})
    if pools:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["pools"] = pools
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


def max_in_any_window(received: list[Received], window: float) -> int:
    """The most messages in any half-open interval [t, t + window), as DingTalk's limiter counts."""
    times = sorted(r.received_at for r in received)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best
