"""`dingrelay emulator` as a process: what it prints, and its --rate-limit-errcode option."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_harness import ROBOT, Creds, EmulatorProcess, dingrelay, free_port, write_config

STAMP = r"\[\d\d:\d\d:\d\d\]"


def new_output(emulator: EmulatorProcess, before: str) -> list[str]:
    out = emulator.stdout()
    assert out.startswith(before)
    return out[len(before):].splitlines()


def test_emulator_announces_its_address_and_robots(emulator: EmulatorProcess) -> None:
    first = emulator.stdout().splitlines()[0]

    assert first == f"DingTalk emulator on {emulator.url} for robots: {ROBOT}"


@pytest.mark.parametrize(("args", "shown"), [
    (["--text", "监控报警: disk 91% on web-1"], [rf"{STAMP} ops  text  监控报警: disk 91% on web-1"]),
    (["--markdown", "#### 监控 巡检完成\n- web-1 正常", "--title", "[巡检] 每天巡检"],
     [rf"{STAMP} ops  markdown  「\[巡检\] 每天巡检」 #### 监控 巡检完成", r"    - web-1 正常"]),
    (["--text", "监控 部署完成", "--at-mobile", "13800000000", "--at-all"],
     [rf"{STAMP} ops  text  监控 部署完成", r"    @13800000000 .*@所有人"]),
    (["--json", "-"], [rf"{STAMP} ops  actionCard  「监控报警 approve\?」 Deploy v2\?", r"    \[Yes\] \[No\]"]),
])
def test_emulator_prints_each_received_message_readably(emulator: EmulatorProcess, emulator_config: Path,
                                                        args: list[str], shown: list[str]) -> None:
    card = {"msgtype": "actionCard", "actionCard": {
        "title": "监控报警 approve?", "text": "Deploy v2?", "btnOrientation": "1",
        "btns": [{"title": "Yes", "actionURL": "https://example.com/y"},
                 {"title": "No", "actionURL": "https://example.com/n"}]}}
    before = emulator.stdout()

    result = dingrelay("send", "--config", str(emulator_config), "--robot", ROBOT, *args,
                       stdin=json.dumps(card, ensure_ascii=False))

    assert result.code == 0, result.stderr
    # The emulator prints a message before it answers, so the lines are there once `send` has exited.
    lines = new_output(emulator, before)
    assert len(lines) == len(shown), lines
    for line, pattern in zip(lines, shown, strict=True):
        assert re.fullmatch(pattern, line), line


def test_emulator_does_not_print_refused_messages(emulator: EmulatorProcess) -> None:
    before = emulator.stdout()
    webhook = f"{emulator.url}/robot/send?access_token={Creds().token}"

    result = dingrelay("send", "--webhook", webhook, "--text", "监控 unknown robot")

    assert result.code == 1
    assert "access_token does not exist" in result.stderr
    assert new_output(emulator, before) == []


def test_emulator_never_prints_the_token_or_the_secret(emulator: EmulatorProcess, emulator_config: Path,
                                                       creds: Creds) -> None:
    sent = dingrelay("send", "--config", str(emulator_config), "--robot", ROBOT, "--text", "监控 one")
    refused = dingrelay("send", "--webhook", creds.webhook(emulator.port), "--secret", creds.secret, "--text", "x")

    printed = emulator.stdout() + emulator.stderr()

    assert (sent.code, refused.code) == (0, 1)
    assert "监控 one" in printed
    assert creds.leaked_in(printed) == []
    assert creds.leaked_in(emulator.http.get("/_emulator/robots").text) == []


# -- --rate-limit-errcode -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_130101(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorProcess, Creds, Path]]:
    """A second emulator, started with ``--rate-limit-errcode 130101``, and its robot's config."""
    creds, port = Creds(), free_port()
    tmp = tmp_path_factory.mktemp("emulator-130101")
    config = write_config(tmp / "dingrelay.yaml", port, creds)
    emu = EmulatorProcess(config, port, tmp, "--rate-limit-errcode", "130101", "--quiet")
    yield emu, creds, config
    emu.stop()


def signed_url(creds: Creds, port: int) -> httpx.URL:
    """The webhook with a fresh 加签 signature (PROTOCOL.md §1.3), computed here independently of dingrelay."""
    timestamp = str(int(time.time() * 1000))
    key = creds.secret.encode()
    sign = base64.b64encode(hmac.new(key, f"{timestamp}\n{creds.secret}".encode(), hashlib.sha256).digest())
    return httpx.URL(creds.webhook(port)).copy_merge_params({"timestamp": timestamp, "sign": sign.decode()})


def test_rate_limit_errcode_option_sets_the_code_and_send_still_reports_rate_limited(
        emulator_130101: tuple[EmulatorProcess, Creds, Path]) -> None:
    emu, creds, config = emulator_130101
    emu.reset()
    body = {"msgtype": "text", "text": {"content": "监控 burst"}}
    with httpx.Client(timeout=10) as http:
        answers = [http.post(signed_url(creds, emu.port), json=body).json() for _ in range(21)]

    result = dingrelay("send", "--config", str(config), "--robot", ROBOT, "--text", "监控 after the burst")

    assert answers[:20] == [{"errcode": 0, "errmsg": "ok"}] * 20
    assert answers[20] == {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    assert result.code == 1
    [line] = result.stderr.splitlines()
    assert "rate-limited" in line and "errcode 130101" in line
    assert re.search(r"wait \d+s before sending again", line)
    assert emu.stdout().splitlines() == [f"DingTalk emulator on {emu.url} for robots: {ROBOT}"]  # --quiet


def test_bots_with_a_client_id_can_open_stream_connections_on_the_emulator(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    import yaml

    creds, port = Creds(), free_port()
    tmp = tmp_path_factory.mktemp("emulator-stream")
    config = write_config(tmp / "dingrelay.yaml", port, creds)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["bots"] = {"helper": {"app_secret": "stream-app-secret", "client_id": "dingstreamclient"}}
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    emu = EmulatorProcess(config, port, tmp, "--quiet")
    try:
        url = f"{emu.url}/v1.0/gateway/connections/open"
        subscriptions = [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]
        with httpx.Client(timeout=10) as http:
            good = http.post(url, json={"clientId": "dingstreamclient", "clientSecret": "stream-app-secret",
                                        "subscriptions": subscriptions})
            bad = http.post(url, json={"clientId": "dingstreamclient", "clientSecret": "wrong",
                                       "subscriptions": subscriptions})
    finally:
        emu.stop()
    assert good.status_code == 200
    assert good.json()["endpoint"].startswith("ws://") and good.json()["ticket"]
    assert bad.status_code == 401 and bad.json()["code"] == "authFailed"
