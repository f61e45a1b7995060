"""The samples the template page previews with: built-in bodies (the tutorial's ``/ding/send`` body, an
Alertmanager group, a Grafana alert, Zabbix, GitLab and Jenkins events) and the payloads the hooks really received.

A received payload is masked before it is stored: values under secret-looking keys (``token``, ``password``, …),
the configured tokens and secrets wherever they appear, and secret query parameters in URLs. The store keeps the
newest 20 per hook and source; :class:`SampleRecorder` writes at most one a second per hook and source (a storm
of webhooks costs no extra commit per request) and skips bodies over 256 KiB. Recording never fails a hook.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..delivery.browse import Dashboard, HookSample
from .masking import MASK, mask_all
from .source_samples import SOURCE_SAMPLES

log = logging.getLogger("dingrelay.dashboard")

HOOKS = ("alertmanager", "grafana", "generic", "zabbix", "gitlab", "jenkins")
#: The hooks whose payloads have a built-in template of their name.
BUILTIN_TEMPLATE_HOOKS = ("alertmanager", "grafana", "zabbix", "gitlab", "jenkins")
#: Newest payloads kept per hook and source.
KEEP = 20
MAX_SAMPLE_CHARS = 256 * 1024
MIN_INTERVAL_SECONDS = 1.0
#: Keys whose values are masked wherever they appear in a payload.
SECRET_KEY = re.compile(r"token|secret|passw|authorization|api[_-]?key|credential|cookie|signature", re.I)
#: Configured secrets shorter than this are not searched for (they would mask ordinary words).
MIN_SECRET_CHARS = 6


@dataclass(frozen=True)
class Sample:
    """A body to preview a template with, and how it reaches the template (``kind``: as the tutorial's
    ``/ding/send`` fields, an Alertmanager or Grafana group, a Zabbix, GitLab or Jenkins event, or a generic hook's
    JSON)."""

    key: str            # builtin:<name> or received:<id>
    label: str
    kind: str           # tutorial | alertmanager | grafana | generic | zabbix | gitlab | jenkins
    source: str
    body: Any
    template: str       # the template that path uses by default


def _alert(name: str, severity: str, summary: str, *, status: str = "firing", ends: str = "0001-01-01T00:00:00Z",
           **extra: Any) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": name, "severity": severity, "instance": "db-1:9100",
                                         "job": "node"},
            "annotations": {"summary": summary}, "startsAt": "2024-05-01T02:00:00Z", "endsAt": ends,
            "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={name}", "fingerprint": f"fp-{name}",
            **extra}


def _group(*alerts: dict[str, Any], version: str = "4", **extra: Any) -> dict[str, Any]:
    return {"receiver": "dingrelay", "status": "firing", "alerts": list(alerts), "groupLabels": {"job": "node"},
            "commonLabels": {"job": "node"}, "commonAnnotations": {}, "externalURL": "http://alertmanager.example:9093",
            "version": version, "groupKey": '{}:{job="node"}', "truncatedAlerts": 0, **extra}


BUILTIN: tuple[Sample, ...] = (
    Sample("builtin:tutorial", "内置：巡检（/ding/send 教程请求体）", "tutorial", "heian",
           {"title": "rds日志拉去", "content": "rds日志拉去正常", "level": "info", "author": "巡检机器人"}, "info"),
    Sample("builtin:alertmanager", "内置：Alertmanager 告警组", "alertmanager", "alertmanager",
           _group(_alert("DiskFull", "critical", "/data 使用率 95%"),
                  _alert("HighLoad", "warning", "load 12", status="resolved", ends="2024-05-01T02:30:00Z")),
           "alertmanager"),
    Sample("builtin:grafana", "内置：Grafana 告警", "grafana", "grafana",
           _group(_alert("CPU", "warning", "CPU 使用率 92%", silenceURL="https://grafana.example/alerting/silence/new",
                         dashboardURL="https://grafana.example/d/abc", values={"B": 92.1}),
                  version="1", orgId=1, title="[FIRING:1] (node)", state="alerting",
                  externalURL="https://grafana.example/", message="**Firing**"),
           "grafana"),
    *(Sample(f"builtin:{key}", label, kind, kind, body, kind) for key, label, kind, body in SOURCE_SAMPLES),
)


def received(sample: HookSample) -> Sample:
    """A stored payload as a sample: it reaches the template as its hook passed it."""
    default = sample.hook if sample.hook in BUILTIN_TEMPLATE_HOOKS else "markdown"
    return Sample(f"received:{sample.id}", f"{sample.hook}/{sample.source} #{sample.id}", sample.hook,
                  sample.source, json.loads(sample.body or "null"), default)


def mask_payload(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (JSON data) with secrets masked (see the module docstring)."""
    known = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
    return _mask(value, known)


def _mask(value: Any, known: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and SECRET_KEY.search(k) and isinstance(v, str | int) and v != ""
                else _mask(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, known) for v in value]
    if isinstance(value, str):
        return mask_all(value, known)
    return value


class SampleRecorder:
    """Keeps what the hooks receive, masked, for the template page (see the module docstring)."""

    def __init__(self, dashboard: Dashboard, secrets: Iterable[str], *, clock: Callable[[], float] = time.time,
                 min_interval: float = MIN_INTERVAL_SECONDS) -> None:
        self.dashboard = dashboard
        self.secrets = [s for s in secrets if len(s) >= MIN_SECRET_CHARS]
        self.clock = clock
        self.min_interval = min_interval
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def record(self, hook: str, source: str, body: Any) -> bool:
        """Store ``body`` as ``hook``'s latest from ``source``; False when skipped or when storing failed."""
        now = self.clock()
        with self._lock:
            last = self._last.get((hook, source))
            if last is not None and now - last < self.min_interval:
                return False
            self._last[(hook, source)] = now
        text = json.dumps(mask_payload(body, self.secrets), ensure_ascii=False, indent=2)
        if len(text) > MAX_SAMPLE_CHARS:
            return False
        try:
            self.dashboard.record_sample(hook, source, text, now=now, keep=KEEP)
        except Exception as exc:  # a sample is a convenience: the hook goes on
            log.warning("could not keep the %s payload of %s for the template page (%s)", hook, source,
                        type(exc).__name__)
            return False
        return True
