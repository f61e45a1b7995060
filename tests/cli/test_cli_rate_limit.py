"""DingTalk's 20 messages per minute, as `dingrelay send` users meet it: the 21st fails and says how long to wait."""

from __future__ import annotations

import re
from pathlib import Path

from cli_harness import ROBOT, Creds, EmulatorProcess, dingrelay


def test_the_21st_send_within_a_minute_fails_as_rate_limited_and_says_how_long_to_wait(
        emulator: EmulatorProcess, emulator_config: Path, webhook: str, creds: Creds) -> None:
    by_config = ["--config", str(emulator_config), "--robot", ROBOT]
    by_webhook = ["--webhook", webhook, "--secret", creds.secret]
    # Both forms address the same robot, so they share its 20-per-minute budget.
    codes = [dingrelay("send", *(by_config if i % 2 else by_webhook), "--text", f"监控 #{i}").code
             for i in range(1, 21)]

    result = dingrelay("send", *by_config, "--text", "监控 #21")

    assert codes == [0] * 20
    assert result.code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: robot {ROBOT}: rate-limited")
    assert re.search(r"wait \d+s before sending again", line)
    assert creds.leaked_in(result.output) == []
    assert len(emulator.messages()) == 20
    assert [r["errcode"] for r in emulator.rejections()] == [410100]
