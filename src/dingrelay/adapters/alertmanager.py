"""Alertmanager's webhook payload, version 4 (``webhook_config``), as typed objects.

One payload is one alert group: every alert Alertmanager grouped together, firing and resolved. It becomes one
card per set of target robots (:mod:`.routing`), never one message per alert.

Field names follow the JSON (``startsAt``); the Python attributes are snake_case. Unknown fields are ignored, so a
newer Alertmanager that adds one still works. Go's zero time (``0001-01-01T00:00:00Z``, a firing alert's
``endsAt``) becomes ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import PayloadInvalid, from_validation

VERSION = "4"

#: Firing alerts are listed (and kept, when a card must be cut to fit) in this order; other severities come
#: between ``warning`` and ``info``.
SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 4}
_OTHER_SEVERITY = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Alert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is None or v.year <= 1:  # Go's zero time: not set
            return None
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)

    @field_validator("starts_at")
    @classmethod
    def _starts_set(cls, v: datetime | None) -> datetime:
        if v is None:
            raise ValueError("must be a real time, not Go's zero time")
        return v

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    def duration(self, now: datetime) -> float:
        """Seconds from start to end; a firing alert (or one without an end) runs until ``now``."""
        end = self.ends_at if not self.firing and self.ends_at is not None else now
        return max(0.0, (end - self.starts_at).total_seconds())

    def silence_url(self, external_url: str) -> str:
        """Alertmanager's "new silence" page with this alert's labels as the filter ("" without an external URL)."""
        if not external_url:
            return ""
        pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.labels.items()))
        return f"{external_url.rstrip('/')}/#/silences/new?filter={quote('{' + pairs + '}', safe='')}"

    def template_data(self, now: datetime, group: AlertGroup) -> dict[str, Any]:
        return {
            "status": self.status,
            "alertname": self.alertname,
            "severity": self.severity,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "summary": self.annotations.get("summary", ""),
            "description": self.annotations.get("description", ""),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "duration": self.duration(now),
            "generator_url": self.generator_url,
            "silence_url": self.silence_url(group.external_url),
            "fingerprint": self.fingerprint,
        }


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def severity_rank(alert: Alert) -> int:
    return SEVERITY_ORDER.get(alert.severity.lower(), _OTHER_SEVERITY)


def ordered(alerts: Sequence[Alert]) -> list[Alert]:
    """Firing before resolved; firing by severity, most severe first; otherwise as Alertmanager sent them."""
    firing = sorted((a for a in alerts if a.firing), key=severity_rank)
    return firing + [a for a in alerts if not a.firing]


class AlertGroup(_Model):
    version: str
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert] = Field(min_length=1)
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")

    def card_data(self, alerts: Sequence[Alert], *, shown: int, now: datetime,
                  at_mobiles: Sequence[str] = ()) -> dict[str, Any]:
        """What a card template sees: ``alerts`` (this card's) in order, the first ``shown`` of them in full.

        ``firing``/``resolved`` are the alerts shown; ``firing_count``/``resolved_count`` count all of the card's;
        ``more`` counts those left out, here or by Alertmanager (``max_alerts``).
        """
        in_order = ordered(alerts)
        visible = [a.template_data(now, self) for a in in_order[:shown]]
        return {
            "receiver": self.receiver,
            "status": "firing" if any(a.firing for a in alerts) else "resolved",
            "external_url": self.external_url,
            "group_labels": dict(self.group_labels),
            "common_labels": dict(self.common_labels),
            "common_annotations": dict(self.common_annotations),
            "firing": [a for a in visible if a["status"] == "firing"],
            "resolved": [a for a in visible if a["status"] == "resolved"],
            "firing_count": sum(a.firing for a in alerts),
            "resolved_count": sum(not a.firing for a in alerts),
            "more": len(in_order) - len(visible) + self.truncated_alerts,
            "at_mobiles": list(at_mobiles),
        }


def parse_alertmanager(payload: Any) -> AlertGroup:
    """The alert group in an Alertmanager webhook body; :class:`PayloadInvalid` if it is not version 4."""
    _check_version(payload)
    try:
        return AlertGroup.model_validate(payload)
    except ValidationError as exc:
        raise from_validation("Alertmanager", exc) from None


def _check_version(payload: Any) -> None:
    if not isinstance(payload, Mapping):
        raise PayloadInvalid("the body must be a JSON object: Alertmanager's webhook payload")
    version = payload.get("version")
    if version == VERSION:
        return
    if version is None:
        why = "it has no version field, so it is not Alertmanager's webhook payload"
    elif "orgId" in payload:
        why = f"version {version!r} with orgId is Grafana's webhook payload; post it to the Grafana hook instead"
    else:
        why = f"version {version!r} is not supported"
    raise PayloadInvalid(f"{why}; this endpoint takes Alertmanager's webhook payload, version \"4\"",
                         field="version", code="unsupported_version")
