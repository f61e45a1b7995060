"""The handlers a `dingrelay stream` process of the crash tests loads (``handlers: stream_handlers``).

``gate <text>`` marks that it started (a file ``entered-<pid>`` in the bot's ``vars.gate_dir``), then waits for
the file ``open`` there before it answers: a test can kill the process while the handler is running, after the
frame was ACKed and before any reply was queued.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dingrelay.bot import Context, command

WAIT_SECONDS = 120.0


@command("gate", help="gate <文字>: 等门开了再回复")
def gate(ctx: Context) -> str:
    where = Path(ctx.vars["gate_dir"])
    (where / f"entered-{os.getpid()}").touch()
    deadline = time.monotonic() + WAIT_SECONDS
    while not (where / "open").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"门开了：{ctx.args}"
