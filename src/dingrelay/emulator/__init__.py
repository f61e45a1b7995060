"""A faithful local emulator of DingTalk's custom-robot webhook (PROTOCOL.md §1), stdlib HTTP only.

::

    emu = Emulator([EmulatorRobot(name="ops", token="…", secret="SEC…", keywords=["监控"])])
    with emu.serve() as server:
        url = emu.webhook_url("ops")
        ...
        emu.wait_for(1, robot="ops")
"""

from .console import format_received
from .core import Emulator
from .faults import Fault
from .http import EmulatorServer
from .records import Received, Rejection
from .robots import EmulatorRobot

__all__ = [
    "Emulator",
    "EmulatorRobot",
    "EmulatorServer",
    "Fault",
    "Received",
    "Rejection",
    "format_received",
]
