"""Grafana's unified-alerting webhook payload (contact point type "Webhook", ``"version": "1"``).

It is Alertmanager's payload plus Grafana's own fields: ``orgId``, ``title``, ``state`` and ``message`` for the
group, and for each alert ``silenceURL``, ``dashboardURL``, ``panelURL``, ``imageURL`` and the query ``values``.
Grafana's legacy (pre-9) alerting payload, with ``ruleName`` and ``evalMatches``, is refused with a hint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError

from .alertmanager import Alert, AlertGroup
from .errors import PayloadInvalid, from_validation

VERSION = "1"


class GrafanaAlert(Alert):
    grafana_silence_url: str = Field(default="", alias="silenceURL")
    dashboard_url: str = Field(default="", alias="dashboardURL")
    panel_url: str = Field(default="", alias="panelURL")
    image_url: str = Field(default="", alias="imageURL")
    values: dict[str, float | None] | None = None
    value_string: str = Field(default="", alias="valueString")

    def silence_url(self, external_url: str) -> str:
        return self.grafana_silence_url or super().silence_url(external_url)

    def template_data(self, now: datetime, group: AlertGroup) -> dict[str, Any]:
        return {
            **super().template_data(now, group),
            "dashboard_url": self.dashboard_url,
            "panel_url": self.panel_url,
            "image_url": self.image_url,
            "values": dict(self.values or {}),
            "value_string": self.value_string,
        }


class GrafanaGroup(AlertGroup):
    # Narrower than AlertGroup's list[Alert]: sound here, since the models are frozen.
    alerts: list[GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]
    org_id: int | None = Field(default=None, alias="orgId")
    title: str = ""
    state: str = ""
    message: str = ""

    def card_data(self, alerts: Sequence[Alert], *, shown: int, now: datetime,
                  at_mobiles: Sequence[str] = ()) -> dict[str, Any]:
        data = super().card_data(alerts, shown=shown, now=now, at_mobiles=at_mobiles)
        whole = len(alerts) == len(self.alerts)  # Grafana's title counts the whole group
        return {**data, "title": self.title if whole else "", "state": self.state, "message": self.message,
                "org_id": self.org_id}


def parse_grafana(payload: Any) -> GrafanaGroup:
    """The alert group in a Grafana webhook body; :class:`PayloadInvalid` for legacy or foreign payloads."""
    if not isinstance(payload, Mapping):
        raise PayloadInvalid("the body must be a JSON object: Grafana's webhook payload")
    version = payload.get("version")
    if version != VERSION:
        if "ruleName" in payload or "evalMatches" in payload:
            why = "this is Grafana's legacy alerting payload; use Grafana's unified alerting (Grafana 9 or later)"
        elif version == "4":
            why = "version \"4\" is Alertmanager's webhook payload; post it to the Alertmanager hook instead"
        else:
            why = f"version {version!r} is not Grafana's unified-alerting webhook payload"
        raise PayloadInvalid(f"{why}; this endpoint takes Grafana's webhook payload, version \"1\"",
                             field="version", code="unsupported_version")
    try:
        return GrafanaGroup.model_validate(payload)
    except ValidationError as exc:
        raise from_validation("Grafana", exc) from None
