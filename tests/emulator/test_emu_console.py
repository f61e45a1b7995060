"""format_received: the line a person watching the emulator console reads."""

from __future__ import annotations

import time

from emu_helpers import SECRET, TOKEN, VECTOR_TS

from dingrelay.emulator import Received, format_received

AT = VECTOR_TS / 1000


def _received(body, robot="ops"):
    return Received(robot=robot, body=body, msgtype=body["msgtype"], received_at=AT, signed=True,
                    timestamp_ms=VECTOR_TS)


def test_markdown_shows_time_robot_type_title_and_first_line():
    body = {"msgtype": "markdown", "markdown": {"title": "[巡检] 每天巡检", "text": "#### 巡检完成\n- web-1 正常"}}

    first, second = format_received(_received(body)).splitlines()

    clock = time.strftime("%H:%M:%S", time.localtime(AT))
    assert first == f"[{clock}] ops  markdown  「[巡检] 每天巡检」 #### 巡检完成"
    assert second.strip() == "- web-1 正常"


def test_text_message_is_one_line():
    r = _received({"msgtype": "text", "text": {"content": "监控报警: disk 91% on web-1"}})

    assert format_received(r).endswith("ops  text  监控报警: disk 91% on web-1")
    assert "\n" not in format_received(r)


def test_long_text_is_truncated():
    r = _received({"msgtype": "text", "text": {"content": "报警" * 500}})

    line = format_received(r, width=80)

    assert len(line) == 80
    assert line.endswith("…")


def test_mentions_and_buttons_are_shown():
    r = _received({
        "msgtype": "actionCard",
        "actionCard": {"title": "发布", "text": "Deploy v2?", "btns": [
            {"title": "Yes", "actionURL": "https://e.com/y"}, {"title": "No", "actionURL": "https://e.com/n"}]},
        "at": {"atMobiles": ["13800000000"], "isAtAll": True},
    })

    shown = format_received(r)

    assert "「发布」 Deploy v2?" in shown
    assert "[Yes] [No] @13800000000 @所有人" in shown


def test_feed_card_lists_titles():
    r = _received({"msgtype": "feedCard", "feedCard": {"links": [
        {"title": "第一条", "messageURL": "https://e.com/1", "picURL": "https://e.com/1.png"},
        {"title": "第二条", "messageURL": "https://e.com/2", "picURL": "https://e.com/2.png"}]}})

    assert format_received(r).splitlines()[0].endswith("feedCard  第一条")
    assert "第二条" in format_received(r)


def test_session_id_is_masked_and_no_secret_appears():
    session = "76da36b48f59e8aa76da36b48f59e8aa"
    r = _received({"msgtype": "text", "text": {"content": f"hi {TOKEN[:4]}"}}, robot=f"session:{session}")

    shown = format_received(r)

    assert "session:76da****" in shown
    for secret in (session, TOKEN, SECRET):
        assert secret not in shown
    assert session not in str(r.to_json()["robot"])
