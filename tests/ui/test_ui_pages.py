"""What the dashboard's pages show and what their actions do, through Flask's test client with the real store and
the emulator over HTTP: the overview, filters and pages of messages, a message's page, the actions and the audit
log, the template page and the samples the hooks keep."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from ui_rig import AM_TOKEN, HEIAN_TOKEN, USER, Rig, csrf, sign_in

from dingrelay.delivery.model import Claim, NewMessage, Status
from dingrelay.emulator import Fault


@pytest.fixture
def ui(sqlite_rig: Rig) -> Iterator[FlaskClient]:
    client = sqlite_rig.client()
    assert sign_in(client).status_code == 303
    yield client


def send(rig: Rig, title: str, content: str = "正常", **extra: object) -> str:
    r = rig.app.test_client().post("/ding/send", json={"source": HEIAN_TOKEN, "title": title, "content": content,
                                                       **extra})
    assert r.status_code == 202, r.get_data(as_text=True)
    return str(r.json["id"])  # type: ignore[index]


def text(client: FlaskClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return r.get_data(as_text=True)


def post(client: FlaskClient, path: str, page: str, **data: str) -> str:
    """Press a button of ``page`` (with its CSRF token) and follow the redirect."""
    r = client.post(path, data={"csrf_token": csrf(text(client, page)), **data})
    assert r.status_code == 303, r.get_data(as_text=True)
    return text(client, r.headers["Location"])


def status(rig: Rig, message_id: str) -> Status:
    m = rig.services.store.get(message_id)
    assert m is not None
    return m.status


def row(html: str, robot: str) -> str:
    found = re.search(rf'<tr id="robot-{robot}".*?</tr>', html, re.S)
    assert found, f"no row for {robot}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0)))


# -- overview -----------------------------------------------------------------------------------------------------


def test_the_overview_shows_each_robots_queue_budget_pause_storm_and_last_day(sqlite_rig: Rig,
                                                                             ui: FlaskClient) -> None:
    send(sqlite_rig, "送达的")
    sqlite_rig.deliver()
    for i in range(50):                       # 50 at 20 a minute: 150 s to drain, past digest_after_seconds
        send(sqlite_rig, f"积压 {i}", content=f"积压 {i}")
    html = text(ui, "/ui/")
    ops, dba = row(html, "ops"), row(html, "dba")
    assert '<meta http-equiv="refresh" content="15">' in html
    assert "50" in ops.split()[1:2] and "风暴：合并为汇总发送" in ops and "1 / 20" in ops
    assert "dba 0 — 0 / 20" in dba and "正常" in dba
    assert html.count("<polyline") == 2


def test_a_paused_robot_says_until_when_and_why_and_resumes_from_the_overview(sqlite_rig: Rig,
                                                                             ui: FlaskClient) -> None:
    sqlite_rig.emulator.inject(Fault(kind="errcode", errcode=410100, errmsg="发送速度太快而限流", robot="ops",
                                     count=1))
    held = send(sqlite_rig, "被限流")
    sqlite_rig.deliver()
    paused = row(text(ui, "/ui/"), "ops")
    assert "暂停至" in paused and "errcode 410100" in paused and "恢复发送" in paused
    after = post(ui, "/ui/robots/ops/resume", "/ui/")
    assert "机器人 ops 已恢复发送" in after and "暂停至" not in row(after, "ops")
    sqlite_rig.deliver()
    assert status(sqlite_rig, held) == Status.DELIVERED
    assert ui.post("/ui/robots/nobody/resume", data={"csrf_token": csrf(after)}).status_code == 404


# -- messages -----------------------------------------------------------------------------------------------------


def test_the_message_list_filters_and_pages_newest_first(sqlite_rig: Rig, ui: FlaskClient) -> None:
    ids = [send(sqlite_rig, f"第{i}条", content=f"内容{i}") for i in range(55)]
    html = text(ui, "/ui/messages")
    listed = re.findall(r'href="/ui/messages/([0-9a-f]+)"', html)
    assert listed == ids[::-1][:50]
    older = re.search(r'rel="next" href="([^"]+)"', html)
    assert older
    rest = re.findall(r'href="/ui/messages/([0-9a-f]+)"', text(ui, older.group(1).replace("&amp;", "&")))
    assert rest == ids[::-1][50:]
    assert re.findall(r'href="/ui/messages/([0-9a-f]+)"', text(ui, "/ui/messages?status=dead")) == []
    assert len(re.findall(r'class="title"', text(ui, "/ui/messages?robot=ops&source=heian&status=queued"))) == 50
    bad = text(ui, "/ui/messages?since=yesterday")
    assert "开始时间格式不对" in bad and len(re.findall(r'class="title"', bad)) == 50


def test_a_dead_message_is_found_by_filter_and_requeued_from_its_page(sqlite_rig: Rig, ui: FlaskClient) -> None:
    send(sqlite_rig, "好的")
    sqlite_rig.deliver()
    sqlite_rig.emulator.inject(Fault(kind="errcode", errcode=430102, errmsg="含有不合适的文本", robot="ops", count=1))
    dead = send(sqlite_rig, "坏的", content="慢查询")
    sqlite_rig.deliver()
    listed = re.findall(r'href="/ui/messages/([0-9a-f]+)"', text(ui, "/ui/messages?status=dead"))
    assert listed == [dead]
    page = text(ui, f"/ui/messages/{dead}")
    assert "重新排队" in page and "含有不合适的文本" in page and "errcode 430102" in page
    after = post(ui, f"/ui/messages/{dead}/requeue", f"/ui/messages/{dead}")
    assert "已重新排队 1 条消息" in after
    sqlite_rig.deliver()
    assert status(sqlite_rig, dead) == Status.DELIVERED
    assert any("慢查询" in m.text() for m in sqlite_rig.emulator.messages("ops"))
    audit = text(ui, "/ui/audit")
    assert USER in audit and dead in audit and "重新排队" in audit


def test_every_dead_message_a_filter_matches_is_requeued_at_once(sqlite_rig: Rig, ui: FlaskClient) -> None:
    sqlite_rig.emulator.inject(Fault(kind="errcode", errcode=430102, robot="ops", count=3))
    dead = [send(sqlite_rig, f"坏{i}") for i in range(3)]
    for _ in dead:
        sqlite_rig.deliver()
    assert [status(sqlite_rig, d) for d in dead] == [Status.DEAD] * 3
    refused = post(ui, "/ui/messages/requeue", "/ui/messages?status=dead", status="dead", since="soon")
    assert "没有重新排队：开始时间格式不对" in refused                   # never widened by an unreadable field
    assert [status(sqlite_rig, d) for d in dead] == [Status.DEAD] * 3
    after = post(ui, "/ui/messages/requeue", "/ui/messages?status=dead", status="dead", robot="ops")
    assert "已把 3 条匹配的失败消息重新排队" in after
    assert [status(sqlite_rig, d) for d in dead] == [Status.QUEUED] * 3
    assert "status=dead robot=ops" in text(ui, "/ui/audit")


def test_retry_now_and_cancel_from_a_waiting_messages_page(sqlite_rig: Rig, ui: FlaskClient) -> None:
    sqlite_rig.emulator.inject(Fault(kind="errcode", errcode=-1, errmsg="系统繁忙", robot="ops", count=1))
    first = send(sqlite_rig, "重试的")
    second = send(sqlite_rig, "取消的")
    sqlite_rig.services.worker.run_once(sqlite_rig.services.gateway.clock())
    m = sqlite_rig.services.store.get(first)
    assert m is not None and m.status == Status.RETRYING
    page = text(ui, f"/ui/messages/{first}")
    assert "立即重试" in page and "取消发送" in page and "系统繁忙" in page
    post(ui, f"/ui/messages/{first}/retry", f"/ui/messages/{first}")
    assert sqlite_rig.services.store.get(first).next_attempt_at <= sqlite_rig.services.gateway.clock()  # type: ignore[union-attr]
    after = post(ui, f"/ui/messages/{second}/cancel", f"/ui/messages/{second}")
    assert "已取消 1 条消息" in after and "cancelled in the dashboard by admin" in after
    assert status(sqlite_rig, second) == Status.DEAD
    sqlite_rig.deliver()
    assert status(sqlite_rig, first) == Status.DELIVERED
    assert [t for t in ("立即重试", "取消") if t in text(ui, "/ui/audit")] == ["立即重试", "取消"]


def test_the_message_page_lists_every_attempt_with_what_dingtalk_answered(sqlite_rig: Rig, ui: FlaskClient) -> None:
    sqlite_rig.emulator.inject(Fault(kind="errcode", errcode=-1, errmsg="系统繁忙", robot="ops", count=1))
    first = send(sqlite_rig, "先失败后送达")
    clock = sqlite_rig.services.gateway.clock
    sqlite_rig.services.worker.run_once(clock())
    post(ui, f"/ui/messages/{first}/retry", f"/ui/messages/{first}")
    sqlite_rig.deliver()
    assert status(sqlite_rig, first) == Status.DELIVERED
    page = re.sub(r"<[^>]+>", " ", text(ui, f"/ui/messages/{first}"))
    failed = page.index("第 1 次尝试：发送失败，稍后重试")
    assert "HTTP 200，errcode -1" in page[failed:] and "系统繁忙" in page[failed:]
    assert page.index("第 2 次尝试：发送成功") > failed


def test_a_message_page_shows_it_as_dingtalk_does_its_json_and_its_suppressed_repeats(sqlite_rig: Rig,
                                                                                    ui: FlaskClient) -> None:
    original = send(sqlite_rig, "重复", content="<script>alert(1)</script> **粗体**")
    repeat = send(sqlite_rig, "重复", content="<script>alert(1)</script> **粗体**")
    assert status(sqlite_rig, repeat) == Status.SUPPRESSED
    page = text(ui, f"/ui/messages/{original}")
    shown = page.split('class="dingtalk">', 1)[1].split("</div>", 1)[0]
    assert "<strong>粗体</strong>" in shown and "<script" not in shown
    assert "因与本消息重复而被抑制的消息：1 条" in page
    payload = sqlite_rig.services.store.get(original).payload.decode()  # type: ignore[union-attr]
    assert json.loads(payload)["markdown"]["title"] in page
    assert f"{len(payload.encode())} / 20000 字节" in page
    assert f'href="/ui/messages/{original}"' in text(ui, f"/ui/messages/{repeat}")


def test_a_digest_and_the_messages_it_carried_point_at_each_other(sqlite_rig: Rig, ui: FlaskClient) -> None:
    ids = [send(sqlite_rig, f"风暴 {i}") for i in range(3)]
    store = sqlite_rig.services.store
    now = sqlite_rig.services.gateway.clock()
    [head] = store.due_heads(now)
    claim = store.claim(head, now=now, limit=20, window=60.0, lease=60.0)
    assert isinstance(claim, Claim)
    digest = NewMessage(queue="ops", robot="ops", msgtype="text", title="汇总 3 条",
                        payload=json.dumps({"msgtype": "text", "text": {"content": "巡检 汇总"}}).encode())
    dclaim = store.claim_digest(claim, digest, [claim.message, *store.following(claim, limit=10)], now=now,
                                lease=60.0)
    store.delivered(dclaim, now=now)
    digest_page = text(ui, f"/ui/messages/{dclaim.message.id}")
    assert "合并了 3 条消息" in digest_page and all(f'href="/ui/messages/{i}"' in digest_page for i in ids)
    carried = text(ui, f"/ui/messages/{ids[1]}")
    assert "在汇总消息" in carried and f'href="/ui/messages/{dclaim.message.id}"' in carried


# -- templates and samples ----------------------------------------------------------------------------------------


def test_the_template_page_renders_checks_keywords_and_sizes(ui: FlaskClient) -> None:
    tutorial = text(ui, "/ui/templates")
    assert "巡检标题" in tutorial and "/ 20000 字节" in tutorial
    checks = dict(re.findall(r"<tr class=\"[^\"]*\"><td>(\w+).*?<td class=\"(ok|bad)\">", tutorial, re.S))
    assert checks == {"dba": "bad", "ops": "ok"}          # dba wants 告警, the 巡检 card lacks it
    alerts = text(ui, "/ui/templates?sample=builtin:alertmanager&template=alertmanager")
    assert "DiskFull" in alerts and "HighLoad" in alerts and "（该来源未配置" in alerts
    wrong = text(ui, "/ui/templates?sample=builtin:alertmanager&template=info")
    assert "渲染失败" in wrong and "info" in wrong
    assert "没有这个样例" in text(ui, "/ui/templates?sample=received:999")


def test_the_hooks_keep_what_they_received_masked_for_the_template_page(sqlite_rig: Rig, ui: FlaskClient) -> None:
    api = sqlite_rig.app.test_client()
    body = {"receiver": "x", "status": "firing", "version": "4", "externalURL": f"http://am.example/?token={AM_TOKEN}",
            "alerts": [{"status": "firing", "labels": {"alertname": "Lag", "team": "db", "password": "hunter22"},
                        "annotations": {"summary": "主从延迟"}, "startsAt": "2024-05-01T02:00:00Z"}]}
    assert api.post("/hooks/alertmanager/am", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.post(f"/hooks/alertmanager/am?token={AM_TOKEN}", json=body).status_code == 202
    [kept] = sqlite_rig.services.store.dashboard.samples()
    assert (kept.hook, kept.source) == ("alertmanager", "am")
    stored = sqlite_rig.services.store.dashboard.sample(kept.id).body or ""  # type: ignore[union-attr]
    assert AM_TOKEN not in stored and "hunter22" not in stored and "Lag" in stored
    page = text(ui, f"/ui/templates?sample=received:{kept.id}")
    assert "Lag" in page and "发往 dba" in page
