"""The :class:`Emulator`: a local stand-in for DingTalk's custom-robot webhook, and the app-robot OpenAPI.

::

    emu = Emulator([EmulatorRobot(name="ops", token="…", secret="SEC…", keywords=["监控"])])
    with emu.serve() as server:
        url = emu.webhook_url("ops")
        ...
        emu.wait_for(1, robot="ops")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial

from .faults import Fault
from .http import EmulatorServer, session_url, webhook_url
from .openapi import BATCH_PATH, GROUP_PATH, TOKEN_PATH, EmulatorApp, OpenApiHub, OpenApiMessage
from .records import Received, Rejection
from .robots import EmulatorRobot
from .state import Clock, EmulatorState
from .stream import OPEN_PATH, StreamHub


class Emulator:
    """Robots, what they received, and the rules DingTalk applies (PROTOCOL.md §1).

    ``serve()`` exposes it over real HTTP; everything else works on the shared state directly.
    """

    def __init__(
        self,
        robots: Iterable[EmulatorRobot] = (),
        *,
        rate_limit_errcode: int = 410100,
        bad_token_errcode: int = 300005,
        penalty_seconds: float = 600.0,
        clock: Clock = time.time,
        max_body_bytes: int = 20000,
    ) -> None:
        self.state = EmulatorState(
            robots,
            rate_limit_errcode=rate_limit_errcode,
            bad_token_errcode=bad_token_errcode,
            penalty_seconds=penalty_seconds,
            clock=clock,
            max_body_bytes=max_body_bytes,
        )
        self._server: EmulatorServer | None = None
        #: Stream mode's server side (PROTOCOL.md §3): apps, pushes, ACKs; its WebSocket lives with ``serve()``.
        self.stream = StreamHub(clock=clock)
        #: The app-robot OpenAPI (PROTOCOL.md §4): tokens, group and 1:1 sends, served on the same HTTP server.
        self.openapi = OpenApiHub(clock=clock)

    # -- serving ---------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """Start the HTTP server on a daemon thread (port 0 picks a free port)."""
        if self._server is not None:
            raise RuntimeError(f"the emulator is already serving at {self._server.url}; stop it first")
        api = self.openapi
        self._server = EmulatorServer(
            self.state, host, port, on_stop=self._forget_server,
            routes={OPEN_PATH: {"POST": partial(self.stream.open_connection, host=host)},
                    TOKEN_PATH: {"POST": api.access_token},
                    "/_emulator/openapi/messages": {"GET": lambda _: (200, {"messages": [
                        m.to_json() for m in api.messages()]})},
                    "/_emulator/openapi/tokens": {
                        "GET": lambda _: (200, {"token_requests": api.token_requests()}),
                        "DELETE": lambda _: (200, {"expired": api.expire_tokens()})}},
            header_routes={GROUP_PATH: {"POST": api.group_send}, BATCH_PATH: {"POST": api.batch_send}})
        return self._server

    def _forget_server(self, server: EmulatorServer) -> None:
        if self._server is server:
            self._server = None
            self.stream.stop()

    @property
    def server(self) -> EmulatorServer | None:
        return self._server

    def _base_url(self, what: str) -> str:
        if self._server is None:
            raise RuntimeError(f"{what} needs a running server: call emulator.serve() first")
        return self._server.url

    def webhook_url(self, robot: str) -> str:
        """The robot's full webhook URL (with its access token) on the running server."""
        base = self._base_url("webhook_url()")
        return webhook_url(base, self.state.robot(robot).token)

    def create_session(self, expires_at_ms: int | None = None) -> str:
        """A new sessionWebhook URL on the running server; expires at ``expires_at_ms`` (default +90 min)."""
        base = self._base_url("create_session()")
        return session_url(base, self.state.create_session(expires_at_ms))

    def expire_sessions(self) -> int:
        """End every sessionWebhook now, as DingTalk does ~90 minutes after the message; returns how many."""
        return self.state.expire_sessions()

    # -- robots and faults -----------------------------------------------------------------------

    def add_robot(self, robot: EmulatorRobot) -> None:
        self.state.add_robot(robot)

    def add_app(self, app: EmulatorApp) -> None:
        """An app whose robot sends through the OpenAPI (``api`` of an app robot: the server's URL)."""
        self.openapi.add_app(app)

    def openapi_messages(self) -> list[OpenApiMessage]:
        return self.openapi.messages()

    def add_stream_app(self, client_id: str, client_secret: str) -> None:
        """An app that may open stream connections (``connections/open`` checks its id and secret)."""
        self.stream.add_app(client_id, client_secret)

    @property
    def robots(self) -> list[EmulatorRobot]:
        return self.state.robots()

    def inject(self, fault: Fault) -> None:
        self.state.inject(fault)

    def clear_faults(self) -> None:
        self.state.clear_faults()

    # -- what happened ---------------------------------------------------------------------------

    @property
    def on_message(self) -> Callable[[Received], None] | None:
        return self.state.on_message

    @on_message.setter
    def on_message(self, callback: Callable[[Received], None] | None) -> None:
        self.state.on_message = callback
        self.openapi.on_message = callback

    def messages(self, robot: str | None = None) -> list[Received]:
        return self.state.messages(robot)

    def rejections(self, robot: str | None = None) -> list[Rejection]:
        return self.state.rejections(robot)

    def wait_for(self, count: int, robot: str | None = None, timeout: float = 10.0) -> list[Received]:
        return self.state.wait_for(count, robot, timeout)

    def reset(self) -> None:
        self.state.reset()
        self.openapi.reset()
