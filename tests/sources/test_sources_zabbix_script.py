"""The Zabbix media-type script users paste into Zabbix (``examples/zabbix-dingrelay.js``), run under node as
Zabbix runs it (the parameters as the JSON string ``value``; Zabbix's HttpRequest, or the CurlHttpRequest of Zabbix
5.0), posting over real HTTP to the gateway: the alert arrives at the emulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import InProcessGateway
from sources_rig import TOKENS, card

from dingrelay.emulator import Emulator

SCRIPT = Path(__file__).resolve().parents[2] / "src" / "dingrelay" / "examples" / "zabbix-dingrelay.js"
RUNNER = Path(__file__).with_name("zabbix_runner.js")
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None and os.environ.get("CI") != "true",
                                reason="node (Debian's nodejs) runs the media-type script; scripts/test installs it")

#: The media type's parameters, as Zabbix expands them for a problem: every value a string, macros that have no
#: value here left unexpanded.
PROBLEM = {
    "event_id": "31337", "event_name": "web-01 上 CPU 使用率超过 90%", "event_value": "1",
    "event_status": "PROBLEM", "event_update_status": "0", "event_severity": "High", "event_nseverity": "4",
    "event_source": "0", "event_date": "2024.05.01", "event_time": "10:00:00",
    "event_recovery_date": "{EVENT.RECOVERY.DATE}", "event_recovery_time": "{EVENT.RECOVERY.TIME}",
    "event_duration": "5m 12s",
    "event_opdata": "", "event_tags": '[{"tag":"service","value":"shop"},{"tag":"env","value":"prod"}]',
    "event_update_action": "{EVENT.UPDATE.ACTION}", "event_update_message": "{EVENT.UPDATE.MESSAGE}",
    "event_update_user": "{USER.FULLNAME}", "host_name": "web-01", "host_ip": "10.0.0.11",
    "item_name": "CPU utilization", "item_value": "*UNKNOWN*", "trigger_id": "20512", "trigger_url": "",
    "zabbix_url": "{$ZABBIX.URL}", "http_proxy": "",
}


def run(params: dict[str, Any], *, api: str = "HttpRequest") -> dict[str, Any]:
    assert NODE is not None, "node is needed to run the media-type script"
    out = subprocess.run([NODE, str(RUNNER), str(SCRIPT)], input=json.dumps(params), capture_output=True,
                         text=True, timeout=60, env={**os.environ, "API": api}, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("api", ["HttpRequest", "CurlHttpRequest"])
def test_the_media_type_script_posts_the_alert_and_zabbix_sees_ok(gateway: InProcessGateway, emu: Emulator,
                                                                  api: str) -> None:
    params = {**PROBLEM, "event_id": f"9{len(api)}01", "url": f"{gateway.url}/hooks/zabbix/zabbix",
              "token": TOKENS["zabbix"]}

    outcome = run(params, api=api)

    assert outcome == {"ok": True, "result": "OK", "logs": []}
    title, text = card(emu.wait_for(1, robot="ops", timeout=10)[0])
    assert title == "[告警] 问题 严重：web-01 上 CPU 使用率超过 90%"
    assert "- 标签：service=shop, env=prod" in text                 # {EVENT.TAGSJSON} read as JSON
    assert "- 监控项：CPU utilization\n" in text and "UNKNOWN" not in text   # unresolved: left out
    assert "{EVENT" not in text and "{$ZABBIX" not in text and "查看事件" not in text


def test_a_refused_alert_fails_in_zabbix_with_dingrelays_reason_and_no_token(gateway: InProcessGateway,
                                                                             emu: Emulator) -> None:
    params = {**PROBLEM, "event_id": "9999", "url": f"{gateway.url}/hooks/zabbix/zabbix", "token": "wrong-token"}

    outcome = run(params)

    assert outcome["ok"] is False
    assert "dingrelay answered HTTP 401" in outcome["error"] and "unknown token" in outcome["error"]
    assert outcome["logs"] and "wrong-token" not in outcome["error"] + "".join(outcome["logs"])
    assert emu.messages() == []


@pytest.mark.parametrize(("missing", "says"), [("url", "the parameter url"), ("token", "the parameter token")])
def test_the_script_names_a_parameter_left_empty(gateway: InProcessGateway, missing: str, says: str) -> None:
    params = {**PROBLEM, "url": f"{gateway.url}/hooks/zabbix/zabbix", "token": TOKENS["zabbix"], missing: ""}

    outcome = run(params)

    assert outcome["ok"] is False and says in outcome["error"]
