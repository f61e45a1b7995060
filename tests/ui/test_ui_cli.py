"""``dingrelay passwd`` prints a hash the dashboard accepts; ``dingrelay demo`` makes a demo user, prints its
password, and that password signs in to the demo's dashboard."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
from gateway_harness import free_port
from ui_rig import csrf

from dingrelay.dashboard.passwords import verify


def passwd(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dingrelay", "passwd"], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)


def test_passwd_reads_a_password_on_stdin_and_prints_only_its_hash() -> None:
    done = passwd("a long passphrase 密码\n")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert verify("a long passphrase 密码", line) and not verify("a long passphrase", line)
    assert "passphrase" not in done.stdout + done.stderr


@pytest.mark.parametrize(("stdin", "why"), [("", "no password on stdin"), ("short\n", "shorter than 8")])
def test_passwd_refuses_an_empty_or_short_password_in_one_line(stdin: str, why: str) -> None:
    done = passwd(stdin)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and why in done.stderr


@pytest.mark.slow
def test_the_demo_prints_a_demo_users_password_that_signs_in(tmp_path: Path) -> None:
    gateway, emulator = free_port(), free_port()
    sample = (files("dingrelay") / "examples" / "dingrelay.yaml").read_text(encoding="utf-8")
    config = tmp_path / "dingrelay.yaml"
    config.write_text(sample.replace("127.0.0.1:8080", f"127.0.0.1:{gateway}")
                      .replace("127.0.0.1:8089", f"127.0.0.1:{emulator}"), encoding="utf-8")
    out = tmp_path / "demo.out"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DINGRELAY_")} | {"PYTHONUNBUFFERED": "1",
                                                                                     "TMPDIR": str(temp)}
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "dingrelay", "demo", "--config", str(config), "--no-samples"],
                                cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{gateway}"
        deadline = time.monotonic() + 90
        found = None
        with httpx.Client(base_url=base, timeout=5) as http:
            while time.monotonic() < deadline and proc.poll() is None:
                found = found or re.search(r"dashboard: (\S+)/ui/ +user demo +password (\S+)", out.read_text())
                try:
                    if found and http.get("/-/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            assert found, out.read_text()[-2000:]
            assert found.group(1) == base
            login = http.get("/ui/login")
            signed = http.post("/ui/login", data={"username": "demo", "password": found.group(2),
                                                  "csrf_token": csrf(login.text)})
            assert signed.status_code == 303 and signed.headers["Location"] == "/ui/"
            assert "机器人概览" in http.get("/ui/").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in out.read_text()
    assert list(temp.iterdir()) == []          # the configuration copy with the demo user is gone
