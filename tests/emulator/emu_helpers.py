"""Helpers shared by the emulator tests (imported by name; the test directory has no __init__)."""

from __future__ import annotations

from typing import Any

import httpx

from dingrelay.emulator import EmulatorRobot

TOKEN = "0123456789abcdef" * 4
OTHER_TOKEN = "fedcba9876543210" * 4
SECRET = "SEC0123456789abcdef"
VECTOR_TS = 1_700_000_000_000
VECTOR_SIGN = "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
VECTOR_SIGN_ENCODED = "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"


class FakeClock:
    """Seconds since the epoch, moved only by the test."""

    def __init__(self, now: float = VECTOR_TS / 1000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def robot(name: str = "ops", token: str = TOKEN, **kwargs: Any) -> EmulatorRobot:
    return EmulatorRobot(name=name, token=token, **kwargs)


def text(content: str = "监控报警: disk 91%") -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def post(client: httpx.Client, url: str, body: Any, **kwargs: Any) -> dict[str, Any]:
    """POST ``body`` as JSON; return DingTalk's ``{"errcode", "errmsg"}`` answer (HTTP 200 checked)."""
    response = client.post(url, json=body, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def answer(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


OK = answer(0, "ok")
