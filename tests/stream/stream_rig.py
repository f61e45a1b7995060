"""The stream test rig: the emulator as DingTalk (connections/open + WebSocket), a stream runtime as dingrelay."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dingrelay.config import load_settings
from dingrelay.dingtalk.stream import Backoff, StreamClient
from dingrelay.emulator import Emulator
from dingrelay.emulator.http import SESSION_PATH
from dingrelay.emulator.stream_user import StreamConversation, say_over_stream
from dingrelay.runtime import Runtime
from dingrelay.wiring import Services, build

BOT = "helper"
RULES = [{"match": r"^echo\s+(?P<what>.+)", "text": "{{ sender_nick }}: {{ what }}"}]


def fast_backoff() -> Backoff:
    return Backoff(base=0.02, cap=0.5)


class RecordingBackoff(Backoff):
    """A backoff that remembers every delay it gave."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delays: list[float] = []

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.delays.append(delay)
        return delay


@dataclass
class StreamRig:
    emu: Emulator
    services: Services
    runtime: Runtime
    client_id: str
    secret: str

    @property
    def client(self) -> StreamClient:
        assert self.runtime.streams is not None
        return self.runtime.streams.clients[BOT]

    def say(self, text: str, **kwargs: Any) -> StreamConversation:
        return say_over_stream(self.emu, self.client_id, text, **kwargs)


def write_config(path: Path, *, api: str, client_id: str, secret: str, storage_url: str, **bot: Any) -> Path:
    """A stream bot registering at ``api`` (the emulator), whose replies may go to the emulator's sessions; ``bot``:
    more keys of ``bots.helper``."""
    config = {
        "storage": {"url": storage_url},
        "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0},
        "bots": {BOT: {"app_secret": secret, "client_id": client_id, "stream_api": api, "replies": RULES,
                       "session_webhook_prefixes": [api + SESSION_PATH], **bot}},
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@contextmanager
def stream_rig(tmp_path: Path, *, configured_secret: str | None = None,
               backoff: Backoff | None = None, connect: bool = True, bot: dict[str, Any] | None = None
               ) -> Iterator[StreamRig]:
    """A served emulator with the app registered, and a running stream :class:`Runtime` for bot ``helper``.

    ``configured_secret`` puts a different secret in dingrelay's config; ``connect`` waits for the first connection;
    ``bot`` holds more keys of ``bots.helper``.
    """
    emu = Emulator()
    client_id, secret = "ding" + secrets.token_hex(8), secrets.token_urlsafe(24)
    emu.add_stream_app(client_id, secret)
    with emu.serve(host="127.0.0.1", port=0) as server:
        path = write_config(tmp_path / "dingrelay.yaml", api=server.url, client_id=client_id,
                            secret=configured_secret or secret, storage_url=f"sqlite:///{tmp_path / 'stream.db'}",
                            **(bot or {}))
        services = build(load_settings(path))
        with Runtime(services, streams=True, backoff=(lambda: backoff) if backoff else fast_backoff) as runtime:
            if connect:
                emu.stream.wait_connected(client_id)
            yield StreamRig(emu, services, runtime, client_id, secret)
