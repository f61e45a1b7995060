"""``dingrelay stream`` as a command: refuses a config without stream bots, and runs as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner
from stream_rig import write_config

from dingrelay.cli import main
from dingrelay.emulator import Emulator
from dingrelay.emulator.stream_user import say_over_stream


def test_a_config_without_a_stream_bot_is_refused_with_the_key_to_set(tmp_path: Path) -> None:
    config = tmp_path / "dingrelay.yaml"
    config.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
                                      "bots": {"helper": {"app_secret": "s3cret-value"}}}), encoding="utf-8")
    result = CliRunner().invoke(main, ["stream", "--config", str(config)])
    assert result.exit_code == 2
    assert "bots.<name>.client_id" in result.output


def test_dingrelay_stream_answers_a_message_and_stops_on_sigterm(tmp_path: Path) -> None:
    emu = Emulator()
    client_id, secret = "dingcliapp", "cli-app-secret-0123456789"
    emu.add_stream_app(client_id, secret)
    log = tmp_path / "stream.log"
    with emu.serve(host="127.0.0.1", port=0) as server, log.open("wb") as out:
        config = write_config(tmp_path / "dingrelay.yaml", api=server.url, client_id=client_id, secret=secret,
                              storage_url=f"sqlite:///{tmp_path / 'stream.db'}")
        proc = subprocess.Popen([sys.executable, "-m", "dingrelay", "stream", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)
        try:
            emu.stream.wait_connected(client_id, timeout=60)
            reply = say_over_stream(emu, client_id, " ping", timeout=30).reply()
            assert reply["text"]["content"].startswith("pong ")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
    assert code == 0
    output = log.read_text(encoding="utf-8")
    assert "dingrelay stream: bots helper" in output
    assert secret not in output
