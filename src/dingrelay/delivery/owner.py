"""Who holds a send's lease: one process incarnation, and whether it is gone.

A lease owner reads ``host:pid:incarnation``. The incarnation tells two processes with the same pid apart: on
Linux it is the boot (the first characters of ``/proc/sys/kernel/random/boot_id``) and the process's start time
(field 22 of ``/proc/<pid>/stat``, clock ticks since boot); elsewhere a random token of the process. So an owner
is gone when, on this host, its pid no longer exists, is a zombie, belongs to another process (a reused pid), or
is this very pid in a later incarnation (a container restarted with the same hostname and pid). A process of
another host is never judged here: only its lease can tell. So processes running at the same time with one
hostname must share a PID namespace (one machine, or one container); two containers given the same hostname at
once (``--network host`` containers take the machine's) would each take the other's sends for a dead process's.

The identity is computed in the process that asks, and recomputed after a fork (it is keyed by pid).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Owner:
    """One process incarnation: ``host:pid:incarnation`` (an owner written before incarnations has none)."""

    host: str
    pid: int
    incarnation: str = ""

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.incarnation}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        """``host:pid:incarnation``, or the older ``host:pid``; ``None`` for anything else."""
        if not text:
            return None
        parts = text.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit():
            return cls(parts[0], int(parts[1]), parts[2])
        host, _, pid = text.rpartition(":")
        if host and pid.isdigit():
            return cls(host, int(pid))
        return None


def proc_stat(pid: int, proc: Path = PROC) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of ``pid`` from ``/proc``; ``None`` if there is no such
    process (or no ``/proc``)."""
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) ", where comm may hold spaces and ")"
    return fields[0], int(fields[19])


def _boot(proc: Path = PROC) -> str | None:
    try:
        return (proc / "sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8]
    except OSError:
        return None


_cached: tuple[int, Owner] | None = None


def current() -> Owner:
    """This process, as it writes itself into a lease (recomputed when the pid changes, i.e. after a fork)."""
    global _cached
    pid = os.getpid()
    if _cached is None or _cached[0] != pid:
        _cached = (pid, _identify(pid))
    return _cached[1]


def _identify(pid: int) -> Owner:
    host = socket.gethostname()
    stat, boot = proc_stat(pid), _boot()
    if stat is not None and boot is not None:
        return Owner(host, pid, f"{boot}-{stat[1]}")
    return Owner(host, pid, "r" + secrets.token_hex(6))


def is_gone(text: str | None, *, me: Owner | None = None, proc: Path = PROC) -> bool:
    """True when the lease owner ``text`` names a process of this host that no longer runs.

    False for this very process, for another host's process, and whenever it cannot be told (an unreadable owner;
    an owner without incarnation whose pid is alive).
    """
    owner = Owner.parse(text)
    me = me or current()
    if owner is None or owner.host != me.host:
        return False
    if owner.pid == me.pid:
        return owner.incarnation != me.incarnation  # an earlier process that had our pid
    if not (proc / "self").exists():
        return not _alive_by_signal(owner.pid)
    stat = proc_stat(owner.pid, proc)
    if stat is None or stat[0] in ("Z", "X"):
        return True   # exited, or a zombie that will never finish its send
    boot, _, started = owner.incarnation.partition("-")
    if not started.isdigit():
        return False  # an owner without incarnation (or from a system without /proc): its pid is alive
    my_boot = me.incarnation.partition("-")[0]
    return boot != my_boot or int(started) != stat[1]


def _alive_by_signal(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
