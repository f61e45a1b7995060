"""Webhook bodies as Alertmanager (version 4) and Grafana (unified alerting) send them."""

from __future__ import annotations

from typing import Any

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
EXTERNAL_URL = "http://alertmanager.example:9093"


def am_alert(name: str, *, status: str = "firing", severity: str = "warning", summary: str | None = None,
             starts: str = "2024-05-01T02:00:00Z", ends: str = GO_ZERO_TIME, description: str | None = None,
             **labels: str) -> dict[str, Any]:
    annotations = {"summary": summary if summary is not None else f"{name} summary"}
    if description:
        annotations["description"] = description
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "instance": "db-1:9100", "job": "node", **labels},
        "annotations": annotations,
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={name}&g0.tab=1",
        "fingerprint": f"fp-{name}",
    }


def am_payload(*alerts: dict[str, Any], version: str = "4", truncated: int = 0) -> dict[str, Any]:
    return {
        "receiver": "dingrelay",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"job": "node"},
        "commonLabels": {"job": "node"},
        "commonAnnotations": {},
        "externalURL": EXTERNAL_URL,
        "version": version,
        "groupKey": '{}:{job="node"}',
        "truncatedAlerts": truncated,
    }


def grafana_alert(name: str, *, status: str = "firing", **labels: str) -> dict[str, Any]:
    alert = am_alert(name, status=status, **labels)
    alert.update({
        "generatorURL": f"https://grafana.example/alerting/{name}/edit",
        "silenceURL": f"https://grafana.example/alerting/silence/new?matchers=alertname%3D{name}",
        "dashboardURL": "https://grafana.example/d/abc",
        "panelURL": "https://grafana.example/d/abc?viewPanel=2",
        "values": {"B": 44.23943737541908, "C": 1},
    })
    return alert


def grafana_payload(*alerts: dict[str, Any], title: str = "[FIRING:1] (node)") -> dict[str, Any]:
    return {**am_payload(*alerts, version="1"), "orgId": 1, "title": title, "state": "alerting",
            "externalURL": "https://grafana.example/", "message": "**Firing**"}
