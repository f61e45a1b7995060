"""A faithful local emulator of DingTalk (PROTOCOL.md): the custom-robot webhook, sessionWebhooks, stream mode and
the OpenAPI bits it needs, with faults, controls and a console printer, for tests, demos and CI (see
:class:`Emulator` in ``core``). It may import only the protocol core ``dingrelay.dingtalk`` of ours, plus the
standard library, httpx and websockets; of the product, only ``dingrelay.cli`` (the demo and emulator commands)
imports it."""

from .console import format_received
from .core import Emulator
from .faults import Fault
from .http import EmulatorServer
from .openapi import EmulatorApp, OpenApiMessage
from .ratelimit import max_in_window
from .records import Received, Rejection
from .robots import EmulatorRobot

__all__ = [
    "Emulator",
    "EmulatorApp",
    "EmulatorRobot",
    "EmulatorServer",
    "Fault",
    "OpenApiMessage",
    "Received",
    "Rejection",
    "format_received",
    "max_in_window",
]
