"""Requests the hooks refuse: 401 for the wrong token, 4xx JSON for a bad payload (Alertmanager does not resend
those), 503 when the card cannot be stored (Alertmanager retries). Nothing reaches DingTalk."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_harness import InProcessGateway
from hooks_payloads import am_alert, am_payload, grafana_alert, grafana_payload

from dingrelay.emulator import Emulator

Refusing = tuple[InProcessGateway, Emulator]
GOOD = am_payload(am_alert("DiskFull"))
HOOKS = ["/hooks/alertmanager/am", "/hooks/grafana/grafana", "/hooks/generic/generic?template=text"]


def assert_error(r: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err: dict[str, Any] = r.json()["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert err["message"] and "Traceback" not in err["message"]
    return err


AUTH_CASES = [
    pytest.param({}, "missing token", id="no-token"),
    pytest.param({"headers": {"Authorization": "Bearer wrong-token"}}, "unknown token", id="unknown-bearer"),
    pytest.param({"params": {"token": "wrong-token"}}, "unknown token", id="unknown-query-token"),
    pytest.param({"headers": {"Authorization": "Basic YW06YW0tdG9rZW4="}}, "missing token", id="basic-auth"),
]


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize(("auth", "says"), AUTH_CASES)
def test_a_request_without_a_valid_token_gets_401(refusing: Refusing, path: str,
                                                  auth: dict[str, Any], says: str) -> None:
    gateway, emu = refusing
    r = gateway.http.post(path, json=GOOD, **auth)

    err = assert_error(r, 401, "unauthorized", "token")
    assert says in err["message"]
    assert emu.messages() == []


@pytest.mark.parametrize("path", HOOKS)
def test_another_sources_token_gets_401_even_though_it_is_valid(refusing: Refusing,
                                                                path: str) -> None:
    gateway, emu = refusing
    r = gateway.http.post(path, json=GOOD, headers={"Authorization": "Bearer strict-token"})

    err = assert_error(r, 401, "unauthorized", "token")
    assert "strict" not in err["message"]  # the token's own source is not revealed
    assert emu.messages() == []


def test_an_unknown_source_in_the_path_gets_401(refusing: Refusing) -> None:
    gateway, emu = refusing
    r = gateway.http.post("/hooks/alertmanager/nope", json=GOOD, headers={"Authorization": "Bearer am-token"})
    assert_error(r, 401, "unauthorized", "token")
    assert emu.messages() == []


BAD_ALERTMANAGER = [
    pytest.param({**GOOD, "version": "3"}, 422, "unsupported_version", "version", "version \"4\"", id="version-3"),
    pytest.param({k: v for k, v in GOOD.items() if k != "version"}, 422, "unsupported_version", "version",
                 "no version", id="no-version"),
    pytest.param(grafana_payload(grafana_alert("DiskFull")), 422, "unsupported_version", "version", "Grafana",
                 id="grafana-payload"),
    pytest.param({**GOOD, "alerts": []}, 422, "invalid_payload", "alerts", "at least 1", id="no-alerts"),
    pytest.param({k: v for k, v in GOOD.items() if k != "alerts"}, 422, "invalid_payload", "alerts", "required",
                 id="alerts-missing"),
    pytest.param({**GOOD, "alerts": [{**am_alert("X"), "status": "pending"}]}, 422, "invalid_payload",
                 "alerts.0.status", "firing", id="unknown-status"),
    pytest.param({**GOOD, "alerts": [{**am_alert("X"), "startsAt": "yesterday"}]}, 422, "invalid_payload",
                 "alerts.0.startsAt", "datetime", id="bad-time"),
    pytest.param({**GOOD, "alerts": [{**am_alert("X"), "labels": {"alertname": 1}}]}, 422, "invalid_payload",
                 "alerts.0.labels.alertname", "string", id="label-not-a-string"),
]


@pytest.mark.parametrize(("payload", "status", "code", "field", "says"), BAD_ALERTMANAGER)
def test_a_bad_alertmanager_payload_gets_4xx_naming_the_field(refusing: Refusing,
                                                              payload: dict[str, Any], status: int, code: str,
                                                              field: str, says: str) -> None:
    gateway, emu = refusing
    r = gateway.http.post("/hooks/alertmanager/am", json=payload, headers={"Authorization": "Bearer am-token"})

    err = assert_error(r, status, code, field)
    assert says in err["message"]
    assert emu.messages() == []


BAD_BODIES = [
    pytest.param({"content": b'{"version": "4", ', "headers": {"Content-Type": "application/json"}}, 400,
                 "invalid_json", id="invalid-json"),
    pytest.param({"content": b"version=4", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
                 415, "unsupported_media_type", id="form"),
    pytest.param({"json": [GOOD]}, 400, "invalid_json", id="json-array"),
]


@pytest.mark.parametrize("path", ["/hooks/alertmanager/am", "/hooks/grafana/grafana"])
@pytest.mark.parametrize(("kwargs", "status", "code"), BAD_BODIES)
def test_a_body_that_is_not_a_json_object_gets_4xx(refusing: Refusing, path: str, kwargs: dict[str, Any],
                                                  status: int, code: str) -> None:
    gateway, emu = refusing
    token = path.rsplit("/", 1)[1] + "-token"
    headers = {"Authorization": f"Bearer {token}", **kwargs.get("headers", {})}
    r = gateway.http.post(path, headers=headers, **{k: v for k, v in kwargs.items() if k != "headers"})
    assert_error(r, status, code, None)
    assert emu.messages() == []


def test_an_alert_body_over_one_mebibyte_gets_413_with_a_max_alerts_hint(refusing: Refusing) -> None:
    gateway, emu = refusing
    alerts = [am_alert(f"Alert{i}", description="x" * 2000) for i in range(600)]

    r = gateway.http.post("/hooks/alertmanager/am", json=am_payload(*alerts),
                          headers={"Authorization": "Bearer am-token"})

    err = assert_error(r, 413, "too_large", None)
    assert "1048576" in err["message"] and "max_alerts" in err["message"]
    assert emu.messages() == []


def test_an_alert_group_that_cannot_be_stored_gets_503_so_alertmanager_retries(gateway: InProcessGateway,
                                                                              emu: Emulator) -> None:
    with gateway.services.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE dr_messages")

    r = gateway.http.post("/hooks/alertmanager/am", json=GOOD, headers={"Authorization": "Bearer am-token"})

    assert_error(r, 503, "storage_unavailable", None)
    assert emu.messages() == []
