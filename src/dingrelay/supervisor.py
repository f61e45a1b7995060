"""``dingrelay serve``'s supervisor: granian, which forks the worker process that runs the app and delivery.

``dingrelay serve`` validates the configuration, then replaces itself (``os.execv``, same pid, so signals and
process managers see no difference) with ``python -m dingrelay.supervisor``: a fresh interpreter that imports
granian and nothing of the product's. The supervisor only watches its worker, so it holds ~20 MB instead of the
~50 MB that the CLI, pydantic and httpx left behind; the worker it forks starts from that small image and imports the
app itself (``dingrelay.web.wsgi:create``). Imports only the standard library and granian.
"""

from __future__ import annotations

import math
import os
import sys

#: Beyond server.shutdown_seconds, how long granian waits for its worker to exit before killing it.
KILL_GRACE_SECONDS = 3

#: glibc gives threads that allocate at once malloc arenas of their own (up to 8 per core), and memory freed in an
#: arena stays with it. The worker runs 32 request threads and 64 send threads: with 2 arenas the 1,000-robot
#: fan-out peaked 142-144 MB instead of 147-152 MB, at the same speed (README, Performance). Read by glibc when a
#: process starts, so it is set for the interpreter ``serve`` becomes, and the worker inherits it.
MALLOC_ARENAS = "2"


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the supervisor's interpreter: ``env`` (default: this process's) with
    ``MALLOC_ARENA_MAX`` set to :data:`MALLOC_ARENAS`, unless ``env`` sets it already."""
    env = dict(os.environ if env is None else env)
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    return env


def serve(config_path: str, listen: str, threads: int, *, shutdown_seconds: float = 10.0,
          worker: bool = True) -> None:
    """Serve the API on granian (chosen by measurement: README, Performance) in the foreground."""
    from granian import Granian
    from granian.constants import Interfaces

    # httpx imports its command-line tool (httpx._main: click, rich, pygments) whenever those are installed, ~6 MB
    # in the worker, which never runs it. The worker is forked from here and inherits the block.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "no such module"
    os.environ["DINGRELAY_CONFIG"] = os.path.abspath(config_path)
    os.environ["DINGRELAY_SUPERVISED"] = "1"
    if not worker:
        os.environ["DINGRELAY_NO_WORKER"] = "1"
    host, _, port = listen.rpartition(":")
    Granian(
        "dingrelay.web.wsgi:create", factory=True, address=host.strip("[]"), port=int(port),
        interface=Interfaces.WSGI, workers=1, blocking_threads=threads, backlog=2048, log_access=False,
        workers_kill_timeout=math.ceil(shutdown_seconds) + KILL_GRACE_SECONDS,
    ).serve()


def argv(config_path: str, listen: str, threads: int, *, shutdown_seconds: float, worker: bool) -> list[str]:
    """The command line that runs :func:`serve` in a fresh interpreter (with this one's ``-X``/``-W`` flags)."""
    import subprocess

    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    return [sys.executable, *flags, "-m", __name__, os.path.abspath(config_path), listen, str(threads),
            repr(float(shutdown_seconds)), "worker" if worker else "no-worker"]


def main(args: list[str]) -> None:
    config_path, listen, threads, shutdown_seconds, worker = args
    serve(config_path, listen, int(threads), shutdown_seconds=float(shutdown_seconds), worker=worker == "worker")


if __name__ == "__main__":
    main(sys.argv[1:])
