"""A gateway with the dashboard, for the UI tests: robots ``ops`` and ``dba`` on the emulator, sources ``heian``
(the tutorial) and ``am`` (Alertmanager), one dashboard user; and helpers to sign in and read forms."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from flask.testing import FlaskClient
from gateway_harness import RobotSpec, write_config

from dingrelay.config import load_settings
from dingrelay.dashboard.passwords import hash_password
from dingrelay.emulator import Emulator
from dingrelay.web import create_app
from dingrelay.wiring import Services, build

USER = "admin"
PASSWORD = "correct horse battery staple"
HEIAN_TOKEN = "heian-token-0123456789"
AM_TOKEN = "am-token-abcdefghijkl"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def robots() -> list[RobotSpec]:
    return [RobotSpec("ops", keywords=["巡检", "告警"]), RobotSpec("dba", keywords=["告警"])]


def config(path: Path, *, emulator_url: str, specs: list[RobotSpec], storage_url: str, users: bool = True,
           server: dict[str, Any] | None = None) -> Path:
    write_config(path, emulator_url=emulator_url, robots=specs, storage_url=storage_url, server=server,
                 sources={"heian": {"token": HEIAN_TOKEN, "robots": ["ops"], "suppress_window_seconds": 300},
                          "am": {"token": AM_TOKEN, "robots": ["ops"],
                                 "routes": [{"matchers": ['team="db"'], "robots": ["dba"]}]}},
                 delivery={"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0})
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if users:
        data["dashboard"] = {"users": {USER: {"password_hash": password_hash()}}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class Rig:
    emulator: Emulator
    specs: list[RobotSpec]
    services: Services
    app: Flask

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def deliver(self) -> None:
        """One pass of the delivery worker (inline sends, real HTTP to the emulator)."""
        self.services.worker.run_once()

    def close(self) -> None:
        self.services.close()


def make_rig(tmp_path: Path, emulator: Emulator, emulator_url: str, specs: list[RobotSpec], storage_url: str,
             **kwargs: Any) -> Rig:
    path = config(tmp_path / "dingrelay.yaml", emulator_url=emulator_url, specs=specs, storage_url=storage_url,
                  **kwargs)
    services = build(load_settings(path), threads=None)
    app = create_app(services.gateway, dashboard=services.store.dashboard)
    return Rig(emulator, specs, services, app)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, password: str = PASSWORD, username: str = USER) -> Any:
    page = client.get("/ui/login")
    return client.post("/ui/login", data={"username": username, "password": password,
                                          "csrf_token": csrf(page.get_data(as_text=True))})
