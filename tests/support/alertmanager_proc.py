"""A real Alertmanager process for end-to-end tests (Debian's ``prometheus-alertmanager``).

Without the binary, tests that need it are skipped locally and fail under ``CI=true``: ``scripts/test`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway_harness import free_port
from processes import stop_process

BINARIES = ("prometheus-alertmanager", "alertmanager")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def alertmanager_binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    reason = "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
    if _in_ci():
        pytest.fail(f"{reason}. CI=true: the real Alertmanager test must run.", pytrace=False)
    pytest.skip(reason)


class Alertmanager:
    """One Alertmanager process on a free port, with its own config and storage, clustering off."""

    def __init__(self, binary: str, folder: Path, webhook_url: str = "http://127.0.0.1:9/unused") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {
            "route": {"receiver": "dingrelay", "group_by": ["job"], "group_wait": "1s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "dingrelay",
                           "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
        }
        (folder / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        (folder / "data").mkdir()
        self.log_path = folder / "alertmanager.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={folder / 'alertmanager.yml'}", f"--storage.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             f"--web.external-url={self.url}", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.http = httpx.Client(base_url=self.url, timeout=5)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited {self.proc.returncode}: {self.log()}")
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"alertmanager did not become ready: {self.log()}")

    def fire(self, *, minutes_ago: float = 5, resolved: bool = False, summary: str = "", **labels: str) -> None:
        """Post one alert, as Prometheus would: firing since ``minutes_ago``, or ``resolved`` a moment ago."""
        now = datetime.now(UTC)
        alert: dict[str, Any] = {"labels": labels, "startsAt": (now - timedelta(minutes=minutes_ago)).isoformat()}
        if summary:
            alert["annotations"] = {"summary": summary}
        if resolved:
            alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
        self.http.post("/api/v2/alerts", json=[alert]).raise_for_status()

    def silences(self) -> list[dict[str, Any]]:
        """Every silence Alertmanager's own API lists, any state."""
        response = self.http.get("/api/v2/silences")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)
        self._log.close()
