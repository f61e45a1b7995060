"""``dingrelay serve`` keeps its supervisor small: after checking the configuration the process becomes a fresh
interpreter running only granian (same pid), and the app with its libraries lives in the worker it forks."""

from __future__ import annotations

import os
from pathlib import Path

from gateway_harness import GatewayProcess, RobotSpec, emulator_for, free_port, write_config

from dingrelay.supervisor import environment


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _children(pid: int) -> list[int]:
    return [int(c) for t in os.listdir(f"/proc/{pid}/task")
            for c in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]


def test_the_serve_supervisor_holds_granian_alone_and_its_worker_the_app(tmp_path: Path) -> None:
    robot = RobotSpec("ops", keywords=["巡检"])
    emu = emulator_for([robot])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=[robot],
                              sources={"heian": {"token": "heian-token", "robots": ["ops"]}},
                              storage_url=f"sqlite:///{tmp_path / 'q.db'}")
        gateway = GatewayProcess(config, free_port(), tmp_path / "serve.log")
        gateway.start()
        try:
            assert gateway.proc is not None
            supervisor = _mapped(gateway.proc.pid)
            workers = _children(gateway.proc.pid)
            assert len(workers) == 1
            worker = _mapped(workers[0])
            environ = Path(f"/proc/{workers[0]}/environ").read_bytes().split(b"\0")
        finally:
            gateway.stop()
    assert "granian" in supervisor
    for library in ("pydantic_core", "sqlalchemy", "_cffi_backend", "yaml"):
        assert library not in supervisor, library
    assert "pydantic_core" in worker and "sqlalchemy" in worker
    assert b"MALLOC_ARENA_MAX=2" in environ   # glibc's arenas capped in the worker (memory, README)


def test_a_malloc_arena_count_the_user_set_is_kept() -> None:
    assert environment({"MALLOC_ARENA_MAX": "4", "PATH": "/bin"}) == {"MALLOC_ARENA_MAX": "4", "PATH": "/bin"}
    assert environment({"PATH": "/bin"}) == {"MALLOC_ARENA_MAX": "2", "PATH": "/bin"}
