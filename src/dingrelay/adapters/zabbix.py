"""Zabbix's webhook media type: the JSON that ``contrib/zabbix/dingrelay.js`` posts, one alert per request.

The media type's parameters map Zabbix macros to the keys below (README "Zabbix"); the script posts them as they
are, so a macro Zabbix could not resolve arrives unexpanded (``{EVENT.RECOVERY.DATE}`` in a problem message) or as
``*UNKNOWN*``, and is taken as empty here. A problem (``event_value`` 1) is red by severity, a recovery
(``event_value`` 0, or ``event_status`` RESOLVED) green, an update operation (``event_update_status`` 1: an
acknowledgement, a comment, a severity change) blue. Severities show in Chinese, from ``event_nseverity`` (0-5)
or the name in ``event_severity`` (English or Chinese); a custom name shows as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from .errors import PayloadInvalid, from_validation
from .events import Model, Text

#: Zabbix's severities 0-5, in Chinese, and the colour a problem of that severity is shown in.
SEVERITIES = (("未分类", "#808080"), ("信息", "#1E90FF"), ("警告", "#FFA500"), ("一般严重", "#FF8C00"),
              ("严重", "#FF4500"), ("灾难", "#FF0000"))
_SEVERITY_NAMES = {name.lower(): i for i, name in enumerate(
    ("Not classified", "Information", "Warning", "Average", "High", "Disaster"))}
_SEVERITY_NAMES |= {name: i for i, (name, _) in enumerate(SEVERITIES)}
#: A macro Zabbix left as it is, or could not resolve.
_UNRESOLVED = re.compile(r"^(\{[A-Z0-9_.$#:\"]+\}|\*UNKNOWN\*)$")
_TAG = re.compile(r"\s*([^:,]+?)\s*(?::\s*([^,]*?)\s*)?(?:,|$)")


def _resolved(value: Any) -> Any:
    return "" if isinstance(value, str) and _UNRESOLVED.match(value.strip()) else value


class Tag(Model):
    tag: Text
    value: Text = ""


class ZabbixEvent(Model):
    event_id: Text = Field(min_length=1)
    event_name: Text = Field(min_length=1)
    event_value: Text = ""           # {EVENT.VALUE}: 1 problem, 0 recovery
    event_status: Text = ""          # {EVENT.STATUS}: PROBLEM / RESOLVED
    event_update_status: Text = ""   # {EVENT.UPDATE.STATUS}: 1 for an update operation
    event_severity: Text = ""        # {EVENT.SEVERITY}
    event_nseverity: Text = ""       # {EVENT.NSEVERITY}: 0-5
    event_source: Text = ""          # {EVENT.SOURCE}: 0 triggers
    event_date: Text = ""
    event_time: Text = ""
    event_recovery_date: Text = ""
    event_recovery_time: Text = ""
    event_duration: Text = ""        # {EVENT.DURATION}, e.g. "1h 2m 3s"
    event_opdata: Text = ""          # {EVENT.OPDATA}
    event_tags: list[Tag] = Field(default_factory=list)   # {EVENT.TAGSJSON}, or {EVENT.TAGS}: "k:v, k2:v2"
    event_update_action: Text = ""
    event_update_message: Text = ""
    event_update_user: Text = ""
    host_name: Text = ""
    host_ip: Text = ""
    item_name: Text = ""
    item_value: Text = ""
    trigger_id: Text = ""
    trigger_url: Text = ""
    zabbix_url: Text = ""            # {$ZABBIX.URL}: the frontend, for a link to the event

    @model_validator(mode="before")
    @classmethod
    def _unexpanded_macros_are_empty(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: _resolved(v) for k, v in data.items()}
        return data

    @field_validator("event_tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [{"tag": m.group(1), "value": m.group(2) or ""} for m in _TAG.finditer(value) if m.group(1)]
        return value

    @field_validator("event_value", "event_update_status")
    @classmethod
    def _zero_or_one(cls, value: str) -> str:
        if value.strip() not in ("", "0", "1"):
            raise ValueError("must be 0 or 1 (map it to {EVENT.VALUE} / {EVENT.UPDATE.STATUS})")
        return value.strip()

    @field_validator("event_nseverity")
    @classmethod
    def _nseverity(cls, value: str) -> str:
        if value.strip() not in ("", "0", "1", "2", "3", "4", "5"):
            raise ValueError("must be a number from 0 to 5 (map it to {EVENT.NSEVERITY})")
        return value.strip()

    @property
    def status(self) -> str:
        """``problem``, ``resolved`` or ``update``."""
        if self.event_update_status == "1":
            return "update"
        if self.event_value:
            return "problem" if self.event_value == "1" else "resolved"
        return "problem" if self.event_status.strip().upper() == "PROBLEM" else "resolved"

    @property
    def severity_level(self) -> int | None:
        if self.event_nseverity:
            return int(self.event_nseverity)
        return _SEVERITY_NAMES.get(self.event_severity.strip().lower())

    @property
    def items(self) -> int:
        return len(self.event_tags)

    @property
    def firing(self) -> bool:
        return self.status == "problem"

    def route_labels(self) -> dict[str, str]:
        """The event's tags (the first value of a tag), then ``severity`` (in Chinese, as the card shows it),
        ``nseverity`` (0-5), ``host`` and ``status`` (problem, resolved, update), which win over tags so named."""
        labels: dict[str, str] = {}
        for t in self.event_tags:
            labels.setdefault(t.tag, t.value)
        level = self.severity_level
        labels["severity"] = SEVERITIES[level][0] if level is not None else (self.event_severity or "未分类")
        labels["nseverity"] = str(level) if level is not None else ""
        return {**labels, "host": self.host_name, "status": self.status}

    def event_url(self) -> str:
        if self.zabbix_url and self.trigger_id:
            return f"{self.zabbix_url.rstrip('/')}/tr_events.php?triggerid={self.trigger_id}&eventid={self.event_id}"
        return ""

    def card_data(self, shown: int) -> dict[str, Any]:
        level = self.severity_level
        name, color = SEVERITIES[level] if level is not None else (self.event_severity or "未分类", "#FF8C00")
        return {
            "status": self.status, "event_id": self.event_id, "name": self.event_name,
            "severity": name, "severity_color": color, "severity_level": level,
            "host": self.host_name, "host_ip": self.host_ip, "item": self.item_name, "value": self.item_value,
            "opdata": self.event_opdata,
            "started": " ".join(p for p in (self.event_date, self.event_time) if p),
            "recovered": " ".join(p for p in (self.event_recovery_date, self.event_recovery_time) if p),
            "duration": self.event_duration,
            "tags": [{"tag": t.tag, "value": t.value} for t in self.event_tags[:shown]],
            "more": max(0, len(self.event_tags) - shown),
            "update_action": self.event_update_action, "update_message": self.event_update_message,
            "update_user": self.event_update_user,
            "trigger_url": self.trigger_url, "event_url": self.event_url(),
        }

    def subject(self) -> str:
        return f"zabbix:event:{self.event_id}"

    def state(self) -> str:
        if self.status == "update":
            return f"update:{self.event_update_action}:{self.event_update_message}"
        return self.status


def parse_zabbix(payload: Any) -> ZabbixEvent:
    """The event in a body of the dingrelay media type; :class:`PayloadInvalid` naming the field otherwise."""
    if not isinstance(payload, Mapping):
        raise PayloadInvalid("the body must be a JSON object: the parameters of the dingrelay Zabbix media type")
    try:
        event = ZabbixEvent.model_validate(payload)
    except ValidationError as exc:
        raise from_validation("Zabbix", exc) from None
    if not event.event_value and event.event_status.strip().upper() not in ("PROBLEM", "RESOLVED", "OK"):
        raise PayloadInvalid("not a valid Zabbix payload: event_value is required (map it to {EVENT.VALUE}: 1 for a "
                             "problem, 0 for a recovery), or event_status ({EVENT.STATUS}: PROBLEM or RESOLVED)",
                             field="event_value")
    return event
