"""Stream mode answers only through sessionWebhooks: a reply whose session is already over goes by the app robot's
OpenAPI (the stream bot's client_id and app_secret are its app credentials). Real WebSocket, real HTTP."""

from __future__ import annotations

from pathlib import Path

from stream_rig import stream_rig

from dingrelay.emulator import EmulatorApp


def test_a_stream_reply_whose_session_is_over_arrives_in_the_group_by_openapi(tmp_path: Path) -> None:
    with stream_rig(tmp_path) as rig:
        rig.emu.add_app(EmulatorApp(rig.client_id, rig.secret))   # robotCode = the client_id, as the SDKs do
        conv = rig.say(" echo 扩容完成", session_expires_at_ms=rig.emu.state.now_ms() - 1000)
        [got] = rig.emu.openapi.wait_for(1)
    assert got.open_conversation_id == conv.body["conversationId"] and got.robot_code == rig.client_id
    assert got.msg_key == "sampleText" and got.msg_param["content"].startswith("张三: 扩容完成")
    assert rig.emu.rejections() == [] and conv.session_replies() == []
    assert rig.emu.openapi.token_requests(granted=True) == 1
