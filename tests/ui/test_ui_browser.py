"""The dashboard in a real Chromium against a real ``dingrelay serve`` and the DingTalk emulator, over HTTP:
sign in, the overview lists every robot, a dead message found by filter is requeued from its page and arrives,
and the template page previews a payload the Alertmanager hook really received. It also takes the README's
screenshots (``DINGRELAY_SCREENSHOTS=docs`` copies them there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import chromium, follow, screenshot
from gateway_harness import GatewayProcess, emulator_for, free_port, wait_until
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from ui_rig import AM_TOKEN, HEIAN_TOKEN, PASSWORD, USER, config, robots

from dingrelay.emulator import Emulator, Fault

pytestmark = pytest.mark.slow

DEAD_TITLE = "订单库巡检"
ALERT = "ReplicationLagHigh"
HELD = "SlowQueriesBurst"


def _alert(name: str, **labels: str) -> dict[str, object]:
    return {"status": "firing", "labels": {"alertname": name, "severity": "critical", "instance": "db-2:9104",
                                           "job": "mysql", **labels},
            "annotations": {"summary": f"{name}: 主从延迟 120 秒"}, "startsAt": "2024-05-01T02:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": f"fp-{name}"}


ALERTMANAGER_BODY = {
    "receiver": "dingrelay", "status": "firing", "version": "4", "groupKey": '{}:{job="mysql"}',
    "alerts": [_alert(ALERT, team="db"), _alert("DiskWillFillIn4h")],
    "groupLabels": {"job": "mysql"}, "commonLabels": {"job": "mysql"}, "commonAnnotations": {},
    "externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0,
}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Emulator, GatewayProcess]]:
    specs = robots()
    emu = emulator_for(specs)
    with emu.serve(host="127.0.0.1", port=0) as server:
        port = free_port()
        path = config(tmp_path / "dingrelay.yaml", emulator_url=server.url, specs=specs,
                      storage_url=f"sqlite:///{tmp_path / 'ui.db'}", server={"public_url": f"http://127.0.0.1:{port}"})
        gateway = GatewayProcess(path, port, tmp_path / "serve.log")
        gateway.start()
        try:
            yield emu, gateway
        finally:
            gateway.stop()


def _status(http: httpx.Client, message_id: str, token: str = HEIAN_TOKEN) -> dict[str, object]:
    r = http.get(f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {token}"})
    return dict(r.json())


def _traffic(emu: Emulator, http: httpx.Client) -> str:
    """A delivered message, a dead one (DingTalk's moderation refuses it), an Alertmanager group for both robots,
    and a second group held back because DingTalk rate-limited robot dba (paused for 10 minutes)."""
    ok = http.post("/ding/send", json={"source": HEIAN_TOKEN, "title": "每日巡检", "content": "全部正常"})
    assert ok.status_code == 202
    assert wait_until(lambda: _status(http, ok.json()["id"])["status"] == "delivered", 20)
    emu.inject(Fault(kind="errcode", errcode=430102, errmsg="含有不合适的文本", robot="ops", count=1))
    dead = http.post("/ding/send", json={"source": HEIAN_TOKEN, "title": DEAD_TITLE, "content": "慢查询 37 条"})
    assert dead.status_code == 202
    assert wait_until(lambda: _status(http, dead.json()["id"])["status"] == "dead", 20)
    hook = http.post(f"/hooks/alertmanager/am?token={AM_TOKEN}", json=ALERTMANAGER_BODY)
    assert hook.status_code == 202, hook.text
    assert wait_until(lambda: len(emu.messages()) >= 3, 20)
    emu.inject(Fault(kind="errcode", errcode=410100, errmsg="发送速度太快而限流", robot="dba", count=1))
    held = http.post(f"/hooks/alertmanager/am?token={AM_TOKEN}",
                     json={**ALERTMANAGER_BODY, "alerts": [_alert(HELD, team="db")]})
    assert held.status_code == 202, held.text
    assert wait_until(lambda: _status(http, held.json()["ids"][0], AM_TOKEN)["last_errcode"] == 410100, 20)
    return str(dead.json()["id"])


def _click(browser: WebDriver, text: str) -> None:
    """Press the button labelled ``text`` and wait for the page it leads to."""
    follow(browser, browser.find_element(By.XPATH, f"//button[normalize-space()='{text}']"))


def test_sign_in_overview_requeue_a_dead_message_and_preview_a_received_alert(
        running: tuple[Emulator, GatewayProcess], tmp_path: Path) -> None:
    emu, gateway = running
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        dead_id = _traffic(emu, http)
    received_before = len(emu.messages("ops"))

    with chromium(tmp_path) as browser:
        # 1. sign in: /ui/ without a session lands on the login form
        browser.get(f"{gateway.url}/ui/")
        assert "/ui/login" in browser.current_url
        browser.find_element(By.NAME, "username").send_keys(USER)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        _click(browser, "登录")
        assert browser.find_element(By.TAG_NAME, "h1").text == "机器人概览"

        # 2. the overview lists every robot
        rows = {row.get_attribute("id") for row in browser.find_elements(By.CSS_SELECTOR, "tr.robot")}
        assert rows == {"robot-ops", "robot-dba"}
        assert browser.find_element(By.CSS_SELECTOR, "#robot-ops a.bad").text == "1"     # dead in 24 h
        assert browser.find_element(By.CSS_SELECTOR, "#robot-dba td.num:nth-of-type(6)").text == "1"  # delivered
        paused = browser.find_element(By.CSS_SELECTOR, "tr.paused")
        assert paused.get_attribute("id") == "robot-dba" and "errcode 410100" in paused.text
        screenshot(browser, tmp_path, "dashboard-overview.png")

        # a paused robot resumes from the overview, and what it held back arrives
        _click(browser, "恢复发送")
        assert "机器人 dba 已恢复发送" in browser.find_element(By.CSS_SELECTOR, ".notice").text
        assert browser.find_elements(By.CSS_SELECTOR, "tr.paused") == []
        assert wait_until(lambda: any(HELD in m.text() for m in emu.messages("dba")), 20)

        # 3. filter for the dead message, requeue it from its page, and the emulator receives it
        follow(browser, browser.find_element(By.LINK_TEXT, "消息"))
        Select(browser.find_element(By.NAME, "status")).select_by_value("dead")
        _click(browser, "筛选")
        found = browser.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
        assert len(found) == 1 and DEAD_TITLE in found[0].find_element(By.CSS_SELECTOR, ".excerpt").text
        follow(browser, found[0].find_element(By.CSS_SELECTOR, "a.title"))
        assert dead_id in browser.current_url
        assert "含有不合适的文本" in browser.find_element(By.CSS_SELECTOR, "table.facts").text
        _click(browser, "重新排队")
        assert "已重新排队 1 条消息" in browser.find_element(By.CSS_SELECTOR, ".notice").text
        assert wait_until(lambda: any(DEAD_TITLE in m.text() for m in emu.messages("ops")[received_before:]), 20)
        assert wait_until(lambda: (browser.refresh(), "已送达" in browser.find_element(By.CSS_SELECTOR,
                                                                                       ".badge").text)[1], 20)
        assert "巡检标题" in browser.find_element(By.CSS_SELECTOR, ".dingtalk").text
        screenshot(browser, tmp_path, "dashboard-message.png")

        follow(browser, browser.find_element(By.LINK_TEXT, "操作记录"))
        audit = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")]
        assert len(audit) == 2
        assert USER in audit[0] and "重新排队" in audit[0] and dead_id in audit[0]
        assert USER in audit[1] and "恢复发送" in audit[1] and "dba" in audit[1]

        # 4. the template page previews the payload the Alertmanager hook received
        follow(browser, browser.find_element(By.LINK_TEXT, "模板预览"))
        samples = Select(browser.find_element(By.NAME, "sample"))
        received = [o for o in samples.options if o.text.startswith("alertmanager / am")]
        assert received, "the Alertmanager payload was not kept"
        samples.select_by_visible_text(received[-1].text)  # the oldest: the group with both alerts
        Select(browser.find_element(By.NAME, "template")).select_by_value("alertmanager")
        _click(browser, "预览")
        cards = browser.find_elements(By.CSS_SELECTOR, "section.card")
        assert [c.find_element(By.TAG_NAME, "h2").text for c in cards] == ["第 1 条：发往 dba", "第 2 条：发往 ops"]
        assert ALERT in cards[0].find_element(By.CSS_SELECTOR, ".dingtalk").text
        assert "DiskWillFillIn4h" in cards[1].find_element(By.CSS_SELECTOR, ".dingtalk").text
        assert "通过" in cards[0].find_element(By.CSS_SELECTOR, "table.keywords tr.addressed").text
        assert AM_TOKEN not in browser.page_source
        screenshot(browser, tmp_path, "dashboard-templates.png")
