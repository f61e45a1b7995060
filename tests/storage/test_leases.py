"""Lease recovery that tells the truth: a send goes back to its queue at once when the process holding its lease is
gone — exited, a zombie, its pid reused by another process, or a container restarted with the same hostname and
pid — and never while that process runs and its lease lasts. Recovering nothing is one indexed read, which takes
no write lock (every worker calls it every few seconds)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gateway_harness import wait_until
from sqlalchemy import update

from dingrelay.delivery import owner
from dingrelay.delivery.model import Claim, NewMessage, Status
from dingrelay.delivery.owner import Owner, proc_stat
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.tables import messages

T0 = 1_700_000_000.0
LEASE = 60.0
PRINT_OWNER = "from dingrelay.delivery import owner; print(owner.current(), flush=True)"


def _child(*extra: str) -> subprocess.Popen[str]:
    """A Python process that prints its lease owner, then runs ``extra`` statements."""
    return subprocess.Popen([sys.executable, "-c", "; ".join([PRINT_OWNER, *extra])], stdout=subprocess.PIPE,
                            text=True)


def _exited() -> str:
    p = _child()
    out, _ = p.communicate(timeout=30)
    return out.strip()


@contextlib.contextmanager
def _zombie() -> Iterator[str]:
    p = _child()   # exits at once; not reaped while we hold it
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    try:
        assert wait_until(lambda: (proc_stat(p.pid) or ("?", 0))[0] == "Z", 30)
        yield line
    finally:
        p.wait(30)
        p.stdout.close()


@contextlib.contextmanager
def _running() -> Iterator[str]:
    p = _child("import time", "time.sleep(120)")
    assert p.stdout is not None
    try:
        yield p.stdout.readline().strip()
    finally:
        p.kill()
        p.wait(30)
        p.stdout.close()


def _earlier(o: Owner, *, ticks_before: int) -> str:
    """The owner an earlier process with ``o``'s pid wrote (same host and boot, started earlier)."""
    boot, _, started = o.incarnation.partition("-")
    return str(Owner(o.host, o.pid, f"{boot}-{int(started) - ticks_before}"))


@contextlib.contextmanager
def _reused_pid() -> Iterator[str]:
    with _running() as live:   # this pid now belongs to another process than the one that held the lease
        parsed = Owner.parse(live)
        assert parsed is not None
        yield _earlier(parsed, ticks_before=1)


@contextlib.contextmanager
def _restarted_container() -> Iterator[str]:
    yield _earlier(owner.current(), ticks_before=500)   # our hostname and pid, an earlier start


@contextlib.contextmanager
def _before_a_reboot() -> Iterator[str]:
    me = owner.current()
    yield str(Owner(me.host, 1, "00000000-" + me.incarnation.partition("-")[2]))


GONE: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
    "exited": lambda: contextlib.nullcontext(_exited()),
    "zombie": _zombie,
    "pid-reused": _reused_pid,
    "container-restarted-same-hostname-and-pid": _restarted_container,
    "before-a-reboot": _before_a_reboot,
    "exited-written-before-incarnations": lambda: contextlib.nullcontext(_exited().rsplit(":", 1)[0]),
    "our-pid-written-before-incarnations": lambda: contextlib.nullcontext(f"{socket.gethostname()}:{os.getpid()}"),
}


@pytest.fixture(params=list(GONE))
def gone_owner(request: pytest.FixtureRequest) -> Iterator[str]:
    with GONE[request.param]() as text:
        yield text


def test_an_owner_is_gone_when_its_process_no_longer_runs(gone_owner: str) -> None:
    assert owner.is_gone(gone_owner) is True


def test_a_running_process_this_process_and_another_hosts_process_are_not_gone() -> None:
    with _running() as live:
        assert owner.is_gone(live) is False
        assert owner.is_gone(live.rsplit(":", 1)[0]) is False   # written before incarnations: its pid runs
    assert owner.is_gone(str(owner.current())) is False
    assert owner.is_gone(f"another-host:{os.getpid()}:00000000-1") is False
    assert owner.is_gone(None) is False
    assert owner.is_gone("not an owner") is False


def test_the_owner_is_recomputed_in_a_forked_child() -> None:
    parent = owner.current()   # cached in the parent before the fork
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads: the child only writes a pipe
        pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.write(w, str(owner.current()).encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 300).decode()
    os.close(r)
    os.waitpid(pid, 0)
    parsed = Owner.parse(child)
    assert parsed is not None and parsed.pid == pid and parsed.incarnation != parent.incarnation
    assert owner.is_gone(child) is True
    assert owner.is_gone(str(parent)) is False


# -- the store ---------------------------------------------------------------------------------------------------


def _message(content: str) -> NewMessage:
    payload = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode()
    return NewMessage(queue="ops", robot="ops", payload=payload, msgtype="text", title=content)


def _claim_first(store: SqlStore) -> Claim:
    store.enqueue([_message("巡检 a"), _message("巡检 b")], now=T0)
    [head] = store.due_heads(T0)
    claim = store.claim(head, now=T0, limit=20, window=60.0, lease=LEASE)
    assert isinstance(claim, Claim)
    return claim


def _held_by(store: SqlStore, claim: Claim, lease_owner: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(messages).where(messages.c.id == claim.message.id).values(lease_owner=lease_owner))


def test_a_send_whose_owner_is_gone_is_requeued_at_once_within_its_lease(store_url: str, gone_owner: str) -> None:
    store = SqlStore(store_url)
    try:
        claim = _claim_first(store)
        _held_by(store, claim, gone_owner)

        assert store.recover(now=T0 + 1) == 1
        got = store.get(claim.message.id)
        assert got is not None and (got.status, got.next_attempt_at) == (Status.RETRYING, T0 + 1)
        assert [h.id for h in store.due_heads(T0 + 1)] == [claim.message.id]   # first again: order is kept
    finally:
        store.close()


@pytest.mark.parametrize("holder", ["this-process", "another-running-process", "another-host"])
def test_a_send_of_a_running_owner_stays_until_its_lease_runs_out(store_url: str, holder: str) -> None:
    store = SqlStore(store_url)
    try:
        with _running() as live:
            claim = _claim_first(store)
            if holder != "this-process":
                _held_by(store, claim, live if holder == "another-running-process" else "another-host:1:0-1")

            assert store.recover(now=T0 + LEASE - 1) == 0
            assert store.get(claim.message.id).status is Status.SENDING  # type: ignore[union-attr]
            assert store.recover(now=T0 + LEASE) == 1
    finally:
        store.close()


_IN_CONTAINER = """
import os, sys
from dingrelay.delivery import owner
from dingrelay.delivery.model import Claim
from dingrelay.delivery.sql import SqlStore
store = SqlStore(sys.argv[1])
if sys.argv[2] == "claim":
    [head] = store.due_heads(T0)
    assert isinstance(store.claim(head, now=T0, limit=20, window=60.0, lease=60.0), Claim)
    print(os.getpid(), owner.current(), flush=True)
    os._exit(0)   # gone mid-send, as a container that is killed
print(os.getpid(), store.recover(now=T0 + 1), flush=True)
""".replace("T0", repr(T0))


def _in_new_pid_namespace(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_container_restarted_with_the_same_hostname_and_pid_requeues_what_it_was_sending(
        store_url: str) -> None:
    """Two runs of one container: each is pid 1 of its own PID namespace, with this machine's hostname."""
    if _in_new_pid_namespace("true").returncode != 0:
        pytest.skip("needs unshare --pid (root, or user namespaces) to run processes as pid 1")
    store = SqlStore(store_url)
    store.enqueue([_message("巡检 a")], now=T0)
    store.close()

    first = _in_new_pid_namespace(sys.executable, "-c", _IN_CONTAINER, store_url, "claim")
    second = _in_new_pid_namespace(sys.executable, "-c", _IN_CONTAINER, store_url, "recover")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    pid, held_by = first.stdout.split()
    assert pid == "1" and held_by.startswith(f"{socket.gethostname()}:1:")
    assert second.stdout.split() == ["1", "1"]   # pid 1 again, and one message re-queued


def test_recovering_nothing_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock (a long write); a worker's periodic recover still returns."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    store = SqlStore(url)
    writer = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    try:
        _claim_first(store)
        writer.execute("BEGIN IMMEDIATE")
        result: list[int] = []
        t = threading.Thread(target=lambda: result.append(store.recover(now=T0 + 1)), daemon=True)
        t.start()
        t.join(10)   # SQLite's busy timeout is 30 s: a recover that wanted to write would still be waiting
        assert result == [0]
    finally:
        writer.rollback()
        writer.close()
        store.close()


def test_finding_the_sends_in_flight_is_an_index_search_on_status(tmp_path: Path) -> None:
    from dingrelay.delivery.sql.recovery import _IN_FLIGHT

    store = SqlStore(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        sql = str(_IN_FLIGHT.compile(store.engine, compile_kwargs={"literal_binds": True}))
        with store.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        store.close()
    assert "SEARCH dr_messages USING INDEX dr_messages_active (status=?)" in plan, plan
