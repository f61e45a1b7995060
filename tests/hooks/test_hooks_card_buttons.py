"""The buttons of actionCard alert cards, end to end with a real Alertmanager (Debian's ``prometheus-alertmanager``).

Alerts go into Alertmanager; it posts the group to the gateway, whose source ``am`` has ``card: actioncard`` and an
``alertmanager``; the card arrives at the emulator with 静默 1h, 静默 4h and 查看. A button's link (at
``server.public_url``, reached here at the gateway's real address) shows a confirmation page and changes nothing;
the page's POST, with a name and the form's check, creates exactly the silence, records it in the audit log and
tells the group. A link used twice makes one silence; a changed or expired link is refused with a page in Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alertmanager_proc import Alertmanager, alertmanager_binary
from gateway_harness import InProcessGateway, RobotSpec, free_port, wait_until, write_config

from dingrelay.adapters.matchers import parse_matchers
from dingrelay.chatops.links import LinkSigner, derive_key
from dingrelay.emulator import Emulator, Received

PUBLIC_URL = "https://relay.example.com/dingrelay"
LINK_SECRET = "card-links-secret-for-tests-0123456789"
GENERATOR = "http://prometheus.example:9090/graph?g0.expr=disk"
LABELS = {"alertname": "DiskFull", "severity": "warning", "job": "node", "instance": "web-1:9100"}


@pytest.fixture
def gateway_port() -> int:
    return free_port()


@pytest.fixture
def alertmanager(tmp_path: Path, gateway_port: int) -> Iterator[Alertmanager]:
    folder = tmp_path / "alertmanager"
    folder.mkdir()
    am = Alertmanager(alertmanager_binary(), folder,
                      f"http://127.0.0.1:{gateway_port}/hooks/alertmanager/am?token=am-token")
    try:
        am.wait_ready()
        yield am
    finally:
        am.stop()


@pytest.fixture
def gateway(tmp_path: Path, emulator: tuple[Emulator, str], robots: list[RobotSpec], alertmanager: Alertmanager,
            gateway_port: int) -> Iterator[InProcessGateway]:
    sources: dict[str, Any] = {
        "am": {"token": "am-token", "robots": ["ops"], "card": "actioncard",
               "alertmanager": {"url": alertmanager.url},
               "routes": [{"matchers": ['severity="critical"'], "robots": ["oncall"], "card": "markdown"}]},
        "down": {"token": "down-token", "robots": ["ops"], "card": "actioncard",
                 "alertmanager": {"url": f"http://127.0.0.1:{free_port()}"}},   # nothing listens there
    }
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=emulator[1], robots=robots, sources=sources,
                          storage_url=f"sqlite:///{tmp_path / 'dingrelay.db'}",
                          server={"public_url": PUBLIC_URL, "link_secret": LINK_SECRET})
    gw = InProcessGateway(config, port=gateway_port)
    try:
        yield gw
    finally:
        gw.close()


def fire(am: Alertmanager, labels: dict[str, str] = LABELS) -> None:
    starts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    r = am.http.post("/api/v2/alerts", json=[{"labels": labels, "startsAt": starts, "generatorURL": GENERATOR,
                                              "annotations": {"summary": "/data 已用 95%"}}])
    assert r.status_code == 200, r.text


def silences(am: Alertmanager) -> list[dict[str, Any]]:
    r = am.http.get("/api/v2/silences")
    r.raise_for_status()
    found: list[dict[str, Any]] = r.json()
    return found


def buttons(card: Received) -> dict[str, str]:
    assert card.body["msgtype"] == "actionCard", card.body
    return {b["title"]: b["actionURL"] for b in card.body["actionCard"]["btns"]}


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC_URL + "/silence/"), url
    return url.removeprefix(PUBLIC_URL)


class Browser:
    """What DingTalk's in-app browser does with the page: keeps the cookies the page set, posts its form."""

    def __init__(self, gw: InProcessGateway) -> None:
        self.gw = gw
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _keep(self, r: httpx.Response) -> None:
        for header in r.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]

    def get(self, path: str) -> httpx.Response:
        r = self.gw.http.get(path, headers=self._headers())
        self._keep(r)
        return r

    def post(self, path: str, form: dict[str, str]) -> httpx.Response:
        r = self.gw.http.post(path, data=form, headers=self._headers())
        self._keep(r)
        return r

    def confirm(self, path: str, name: str) -> httpx.Response:
        page = self.get(path)
        assert page.status_code == 200, page.text
        return self.post(path, {"name": name, "check": check_of(page.text)})


def check_of(html: str) -> str:
    m = re.search(r'name="check" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


@pytest.fixture
def card(alertmanager: Alertmanager, gateway: InProcessGateway, emu: Emulator) -> Received:
    fire(alertmanager)
    [received] = emu.wait_for(1, robot="ops", timeout=60)
    return received


def test_a_firing_alert_arrives_as_an_actioncard_with_two_silence_links_and_the_generator_url(
        card: Received, emu: Emulator) -> None:
    found = buttons(card)
    assert list(found) == ["静默 1h", "静默 4h", "查看"]
    assert found["查看"] == GENERATOR
    assert path_of(found["静默 1h"]) != path_of(found["静默 4h"])
    text = card.body["actionCard"]["text"]
    assert "DiskFull" in text and "/data 已用 95%" in text
    assert card.body["actionCard"]["title"].startswith("[告警]")   # the robot's keyword is in it
    assert emu.rejections() == []


def test_opening_a_silence_link_shows_the_alert_and_creates_nothing(
        card: Received, alertmanager: Alertmanager, gateway: InProcessGateway) -> None:
    page = Browser(gateway).get(path_of(buttons(card)["静默 1h"]))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for shown in ("DiskFull", "/data 已用 95%", 'instance=&#34;web-1:9100&#34;', "1小时", "你的姓名", 'method="post"'):
        assert shown in page.text
    assert "<script" not in page.text and page.headers["Cache-Control"] == "no-store"
    assert silences(alertmanager) == []
    assert [e for e in gateway.services.store.audit_log() if e.action == "silence"] == []


def test_confirming_creates_exactly_the_alerts_silence_tells_the_group_and_is_audited(
        card: Received, alertmanager: Alertmanager, gateway: InProcessGateway, emu: Emulator) -> None:
    browser = Browser(gateway)
    done = browser.confirm(path_of(buttons(card)["静默 1h"]), "张三")
    assert done.status_code == 200, done.text
    [held] = silences(alertmanager)
    assert held["id"] in done.text and "已静默 DiskFull 1小时" in done.text
    assert held["status"]["state"] == "active"
    assert held["createdBy"] == "张三 via DingTalk card" and "DiskFull" in held["comment"]
    assert sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in held["matchers"]) == sorted(
        (k, v, False, True) for k, v in LABELS.items())
    starts = datetime.fromisoformat(held["startsAt"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(held["endsAt"].replace("Z", "+00:00"))
    assert ends - starts == pytest.approx(timedelta(hours=1), abs=timedelta(seconds=1))

    _, notice = emu.wait_for(2, robot="ops", timeout=30)
    assert "张三 静默了 DiskFull 1小时" in notice.body["text"]["content"]
    assert held["id"][:8] in notice.body["text"]["content"]
    [entry] = [e for e in gateway.services.store.audit_log() if e.action == "silence"]
    assert entry.actor == "card:张三" and entry.target == "DiskFull"
    assert held["id"] in entry.detail and "1小时" in entry.detail and "127.0.0.1" in entry.detail
    assert "张三" in browser.cookies.get("dingrelay_silence_name", "") or "%E5%BC%A0" in browser.cookies[
        "dingrelay_silence_name"]   # remembered for the next card


def test_the_4h_button_silences_for_four_hours(card: Received, alertmanager: Alertmanager,
                                               gateway: InProcessGateway) -> None:
    assert Browser(gateway).confirm(path_of(buttons(card)["静默 4h"]), "李四").status_code == 200
    [held] = silences(alertmanager)
    starts = datetime.fromisoformat(held["startsAt"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(held["endsAt"].replace("Z", "+00:00"))
    assert ends - starts == pytest.approx(timedelta(hours=4), abs=timedelta(seconds=1))
    assert held["createdBy"] == "李四 via DingTalk card"


def test_posting_the_same_link_again_creates_no_second_silence_and_no_second_notice(
        card: Received, alertmanager: Alertmanager, gateway: InProcessGateway) -> None:
    browser = Browser(gateway)
    path = path_of(buttons(card)["静默 1h"])
    first = browser.confirm(path, "张三")
    again = browser.confirm(path, "王五")
    assert first.status_code == again.status_code == 200
    [held] = silences(alertmanager)
    assert held["id"] in again.text and "已经用过" in again.text
    assert len([e for e in gateway.services.store.audit_log() if e.action == "silence"]) == 1
    assert len(gateway.services.store.messages_for("ops")) == 2   # the card and one notice


def test_a_post_without_the_pages_check_or_a_name_creates_nothing(
        card: Received, alertmanager: Alertmanager, gateway: InProcessGateway) -> None:
    path = path_of(buttons(card)["静默 1h"])
    forged = Browser(gateway).post(path, {"name": "张三"})
    assert forged.status_code == 403 and "请求被拒绝" in forged.text
    browser = Browser(gateway)
    page = browser.get(path)
    unnamed = browser.post(path, {"name": "  ", "check": check_of(page.text)})
    assert unnamed.status_code == 422 and "请填写你的姓名" in unnamed.text
    assert silences(alertmanager) == []


def test_a_changed_or_cut_link_is_refused_and_creates_nothing(
        card: Received, alertmanager: Alertmanager, gateway: InProcessGateway) -> None:
    path = path_of(buttons(card)["静默 1h"])
    body, sig = path.removeprefix("/silence/").split(".")
    flipped = f"/silence/{body[:-3]}{'A' if body[-3] != 'A' else 'B'}{body[-2:]}.{sig}"
    browser = Browser(gateway)
    r = browser.get(flipped)
    assert r.status_code == 403 and "链接校验失败" in r.text
    assert browser.post(flipped, {"name": "张三", "check": "x"}).status_code == 403
    cut = browser.get(path[: len(path) - 10])
    assert cut.status_code in (400, 403) and "链接" in cut.text
    assert browser.get("/silence/not-a-link").status_code == 400
    assert silences(alertmanager) == []


def test_an_expired_link_is_refused_with_410(gateway: InProcessGateway, alertmanager: Alertmanager) -> None:
    yesterday = LinkSigner(derive_key(LINK_SECRET), clock=lambda: datetime.now(UTC).timestamp() - 25 * 3600)
    link = yesterday.new_link(source="am", matchers=parse_matchers('alertname="DiskFull"'), seconds=3600,
                              alertname="DiskFull", summary="", robots=["ops"])
    browser = Browser(gateway)
    r = browser.get(f"/silence/{yesterday.sign(link)}")
    assert r.status_code == 410 and "链接已过期" in r.text
    assert browser.post(f"/silence/{yesterday.sign(link)}", {"name": "张三", "check": "x"}).status_code == 410
    assert silences(alertmanager) == []


def test_an_unreachable_alertmanager_is_a_503_page_saying_what_to_do(gateway: InProcessGateway) -> None:
    signer = LinkSigner(derive_key(LINK_SECRET))
    link = signer.new_link(source="down", matchers=parse_matchers('alertname="DiskFull"'), seconds=3600,
                           alertname="DiskFull", summary="", robots=["ops"])
    r = Browser(gateway).confirm(f"/silence/{signer.sign(link)}", "张三")
    assert r.status_code == 503 and "没有创建静默" in r.text and "稍后" in r.text


def test_a_critical_alert_routed_to_a_markdown_route_stays_markdown(
        alertmanager: Alertmanager, gateway: InProcessGateway, emu: Emulator) -> None:
    fire(alertmanager, {**LABELS, "alertname": "DatabaseDown", "severity": "critical"})
    [received] = emu.wait_for(1, robot="oncall", timeout=60)
    assert received.body["msgtype"] == "markdown"
    assert "/silence/" not in received.body["markdown"]["text"]


def test_a_group_of_alerts_is_silenced_exactly_and_nothing_else(
        alertmanager: Alertmanager, gateway: InProcessGateway, emu: Emulator) -> None:
    starts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    group = [{"labels": {**LABELS, "instance": instance}, "startsAt": starts, "generatorURL": GENERATOR}
             for instance in ("web-1:9100", "web.2:9100")]
    assert alertmanager.http.post("/api/v2/alerts", json=group).status_code == 200

    def card_of_both() -> Received | None:   # Alertmanager may flush the first alert alone, the second later
        return next((r for r in emu.messages("ops") if "web.2:9100" in str(r.body) and "web-1:9100" in str(r.body)),
                    None)

    assert wait_until(lambda: card_of_both() is not None, 60), [r.body for r in emu.messages("ops")]
    received = card_of_both()
    assert received is not None
    assert Browser(gateway).confirm(path_of(buttons(received)["静默 1h"]), "张三").status_code == 200
    [held] = silences(alertmanager)
    assert sorted((m["name"], m["value"], m["isRegex"]) for m in held["matchers"]) == [
        ("alertname", "DiskFull", False), ("instance", "web-1:9100|web\\.2:9100", True), ("job", "node", False),
        ("severity", "warning", False)]
    fire(alertmanager, {**LABELS, "instance": "web-3:9100"})   # arrives after the silence: not held by it
    r = alertmanager.http.get("/api/v2/alerts")
    state = {a["labels"]["instance"]: a["status"]["silencedBy"] for a in r.json()}
    assert state == {"web-1:9100": [held["id"]], "web.2:9100": [held["id"]], "web-3:9100": []}


def test_a_form_over_4_kib_is_refused_with_a_413_page(card: Received, gateway: InProcessGateway,
                                                      alertmanager: Alertmanager) -> None:
    r = Browser(gateway).post(path_of(buttons(card)["静默 1h"]), {"name": "张" * 3000, "check": "x"})
    assert r.status_code == 413 and "表单过大" in r.text and r.headers["content-type"].startswith("text/html")
    assert silences(alertmanager) == []


def test_more_than_ten_posts_a_minute_from_one_address_are_refused_with_429(
        card: Received, gateway: InProcessGateway) -> None:
    path = path_of(buttons(card)["静默 1h"])
    answers = [Browser(gateway).post(path, {"name": "张三", "check": "x"}).status_code for _ in range(11)]
    assert answers == [403] * 10 + [429]


def test_a_silence_alertmanager_refuses_is_a_502_page_and_nothing_is_told(
        gateway: InProcessGateway, alertmanager: Alertmanager) -> None:
    signer = LinkSigner(derive_key(LINK_SECRET))   # a link the gateway could have made, for matchers AM refuses
    link = signer.new_link(source="am", matchers=parse_matchers('instance=~".*"'), seconds=3600,
                           alertname="DiskFull", summary="", robots=["ops"])
    r = Browser(gateway).confirm(f"/silence/{signer.sign(link)}", "张三")
    assert r.status_code == 502 and "Alertmanager 拒绝了静默" in r.text and "HTTP 400" in r.text
    assert alertmanager.url not in r.text   # the internal address stays in the log
    assert silences(alertmanager) == []
    assert gateway.services.store.messages_for("ops") == []
