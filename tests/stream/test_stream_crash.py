"""Issue #9, stream mode that loses nothing: a real `dingrelay stream` process killed with SIGKILL after it ACKed
a message and before it queued the reply; the next process answers that message, exactly once.

DingTalk never pushes a robot message again once its frame was ACKed, so the ACK must wait until the message is
recorded; the process that starts next finds the record left by a process that is gone and answers it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_harness import wait_until
from sqlalchemy import create_engine, text
from stream_rig import write_config

from dingrelay.emulator import Emulator
from dingrelay.emulator.stream_user import say_over_stream

HERE = Path(__file__).resolve().parent


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "dingrelay", "stream", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    return proc.wait(30)


def text_of(reply: dict) -> str:
    return reply["text"]["content"].split("\n@")[0]


@pytest.mark.slow
def test_kill_9_between_the_ack_and_the_reply_then_a_restart_sends_the_reply_exactly_once(tmp_path: Path) -> None:
    emu = Emulator()
    client_id, secret = "dingcrashapp", "crash-app-secret-0123456789"
    emu.add_stream_app(client_id, secret)
    gate = tmp_path / "gate"
    gate.mkdir()
    db = tmp_path / "stream.db"
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "dingrelay.yaml", api=server.url, client_id=client_id, secret=secret,
                              storage_url=f"sqlite:///{db}", handlers="stream_handlers",
                              vars={"gate_dir": str(gate)})
        first = start(config, tmp_path / "first.log")
        try:
            emu.stream.wait_connected(client_id, timeout=60)
            chat = say_over_stream(emu, client_id, "gate 一次", timeout=30)
            assert chat.ack()["code"] == 200      # DingTalk saw it ACKed: it will never push this message again
            assert wait_until(lambda: (gate / f"entered-{first.pid}").exists(), 30)  # its handler is running
        finally:
            killed = stop(first, signal.SIGKILL)
        assert killed == -signal.SIGKILL
        assert chat.session_replies() == []       # the first process never queued the reply

        (gate / "open").touch()                   # from now on the handler answers at once
        second = start(config, tmp_path / "second.log")
        try:
            [reply] = chat.wait_for_session_reply(1, timeout=60)
            assert text_of(reply.body) == "门开了：一次"
            # the conversation goes on; by the time its next reply arrives, the first one is still there only once
            emu.stream.wait_connected(client_id, tickets=2, timeout=60)
            emu.stream.wait_until(lambda hub: hub.live(client_id) == 1, 30, "the killed connection gone")
            then = say_over_stream(emu, client_id, "gate 然后", session_webhook=chat.session_webhook, timeout=30)
            assert then.ack()["code"] == 200
            replies = chat.wait_for_session_reply(2, timeout=60)
        finally:
            code = stop(second)
    assert code == 0
    assert [text_of(r.body) for r in replies] == ["门开了：一次", "门开了：然后"]
    assert [text_of(r.body) for r in chat.session_replies()] == ["门开了：一次", "门开了：然后"]
    assert (gate / f"entered-{second.pid}").exists()   # the second process ran the handler again
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            queued = conn.execute(text("SELECT count(*) FROM dr_messages WHERE source = 'bot:helper'")).scalar()
            claims = conn.execute(text("SELECT msg_id, status, via FROM dr_bot_replies")).all()
    finally:
        engine.dispose()
    assert queued == 2
    assert sorted((status, via) for _, status, via in claims) == [("done", "session"), ("done", "session")]
    log = (tmp_path / "second.log").read_text(encoding="utf-8")
    assert f"message {chat.msg_id} was left unanswered by a process that is gone; answering it now" in log
    assert secret not in log
