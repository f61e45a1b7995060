"""`dingrelay messages list|show|requeue` as real processes, on the database a gateway uses: a table newest first,
one message's attempts and why it was merged or suppressed, and dead messages back in their queue (audited), which
a running `dingrelay serve` then delivers to the emulator."""

from __future__ import annotations

import getpass
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_harness import KEYWORD, ROBOT, Creds, EmulatorProcess, Result, dingrelay, free_port
from gateway_harness import GatewayProcess, wait_until

from dingrelay.delivery.model import Claim, NewMessage, Sent, Status, StoredMessage
from dingrelay.delivery.sql import SqlStore

TOKEN = "heian-token"


def text(content: str) -> bytes:
    return json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode()


def new(content: str, *, robot: str = ROBOT, source: str = "heian", fingerprint: str | None = None) -> NewMessage:
    return NewMessage(queue=robot, robot=robot, payload=text(content), msgtype="text", title=content, source=source,
                      fingerprint=fingerprint)


@pytest.fixture
def config(tmp_path: Path, creds: Creds, emulator_port: int) -> Path:
    """Robot ``ops`` at the session emulator, a source, and a SQLite database of the test's own."""
    port = free_port()
    data = {"server": {"listen": f"127.0.0.1:{port}"},
            "storage": {"url": f"sqlite:///{tmp_path / 'dingrelay.db'}"},
            "robots": {ROBOT: {"webhook": creds.webhook(emulator_port), "secret": creds.secret,
                               "keywords": [KEYWORD]},
                       "dev": {"webhook": creds.webhook(emulator_port), "secret": creds.secret}},
            "sources": {"heian": {"token": TOKEN, "robots": [ROBOT, "dev"]}},
            "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0}}
    path = tmp_path / "dingrelay.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def store(config: Path) -> Iterator[SqlStore]:
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["storage"]["url"]
    s = SqlStore(url)
    yield s
    s.close()


def messages(config: Path, *args: str) -> Result:
    return dingrelay("messages", *args, "--config", str(config))


def kill(store: SqlStore, queue: str, now: float, *, errcode: int = 300001, errmsg: str = "token不存在") -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == queue]
    claim = store.claim(head, now=now, limit=20, window=60.0, lease=60.0)
    assert isinstance(claim, Claim)
    store.dead(claim, now=now, errcode=errcode, error=f"robot {queue}: the access_token does not exist "
               f"(errcode {errcode})", sent=Sent(now, 0.042, http_status=200, errmsg=errmsg))
    return claim


def ids_listed(result: Result) -> list[str]:
    return [line.split()[0] for line in result.stdout.splitlines()[1:] if not line.startswith("(")]


def test_list_is_a_table_newest_first_filtered_by_status_robot_source_and_time(
        config: Path, store: SqlStore) -> None:
    now = time.time()
    (dead,), _ = store.enqueue([new("监控 三小时前")], now=now - 3 * 3600)
    (first, second), _ = store.enqueue([new("监控 磁盘 91%"), new("监控 CPU 高")], now=now - 60)
    (other,), _ = store.enqueue([new("dev 部署", robot="dev", source="ci")], now=now - 30)
    kill(store, ROBOT, now - 50)

    everything = messages(config, "list")
    dead_ops = messages(config, "list", "--status", "dead", "--robot", ROBOT)
    recent = messages(config, "list", "--since", "2h")
    iso = messages(config, "list", "--since", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now - 4 * 3600)))
    by_source = messages(config, "list", "--source", "ci")
    nothing = messages(config, "list", "--status", "suppressed")

    assert everything.code == 0, everything.stderr
    assert everything.stdout.splitlines()[0].split() == ["ID", "STATUS", "ROBOT", "SOURCE", "ACCEPTED", "TRIES",
                                                         "TITLE"]
    assert ids_listed(everything) == [other.id, second.id, first.id, dead.id]
    assert f"{dead.id}  dead  " in everything.stdout and "监控 磁盘 91%" in everything.stdout
    assert ids_listed(dead_ops) == [dead.id]
    assert ids_listed(recent) == [other.id, second.id, first.id]
    assert ids_listed(iso) == [other.id, second.id, first.id, dead.id]
    assert ids_listed(by_source) == [other.id]
    assert (nothing.code, nothing.stdout) == (0, "no messages match\n")


def test_list_refuses_a_since_it_cannot_read(config: Path) -> None:
    result = messages(config, "list", "--since", "yesterday")

    assert result.code == 2
    assert "--since" in result.stderr and "2h" in result.stderr


def test_show_gives_the_attempts_timeline_why_and_the_dingtalk_json(config: Path, store: SqlStore) -> None:
    now = time.time()
    (original,), _ = store.enqueue([new("监控 磁盘 91%", fingerprint="disk")], now=now - 20)
    (repeat,), _ = store.enqueue([new("监控 磁盘 91%", fingerprint="disk")], now=now - 10, suppress_seconds=300)
    kill(store, ROBOT, now - 5)

    shown = messages(config, "show", original.id)
    suppressed = messages(config, "show", repeat.id)
    missing = messages(config, "show", "0" * 20)

    assert shown.code == 0, shown.stderr
    out = shown.stdout
    assert out.startswith(f"message {original.id}\n")
    assert "  status     dead\n" in out
    assert "1 later repeat(s) suppressed" in out
    [timeline] = [line for line in out.splitlines() if line.strip().startswith(time.strftime("%Y-"))]
    assert "dead" in timeline and "HTTP 200" in timeline and "errcode 300001" in timeline and "42 ms" in timeline
    assert "the access_token does not exist" in out
    assert json.loads(out.split("DingTalk JSON:\n", 1)[1]) == {"msgtype": "text", "text": {"content": "监控 磁盘 91%"}}
    assert suppressed.code == 0
    assert f"suppressed as a repeat of message {original.id}" in suppressed.stdout
    assert "attempts: none on record" in suppressed.stdout
    assert (missing.code, missing.stderr) == (1, f"error: no message {'0' * 20}\n")


def test_requeue_by_id_and_by_filter_counts_what_it_requeued_and_is_audited(config: Path, store: SqlStore) -> None:
    now = time.time()
    ops, _ = store.enqueue([new(f"监控 {i}") for i in range(3)], now=now - 60)
    [dev], _ = store.enqueue([new("dev 1", robot="dev")], now=now - 60)
    for _ in range(3):
        kill(store, ROBOT, now - 50)
    kill(store, "dev", now - 50)

    one = messages(config, "requeue", ops[0].id)
    again = messages(config, "requeue", ops[0].id)
    rest = messages(config, "requeue", "--status", "dead", "--robot", ROBOT)

    assert (one.code, one.stdout) == (0, "requeued 1 message(s)\n")
    assert again.code == 1 and "is queued: only dead messages can be requeued" in again.stderr
    assert (rest.code, rest.stdout) == (0, "requeued 2 message(s)\n")
    assert [_status(store, m) for m in ops] == [Status.QUEUED] * 3
    assert _status(store, dev) is Status.DEAD
    assert [len(store.attempts(m.id)) for m in ops] == [1, 1, 1]   # the dead attempt stays on record
    log = store.audit_log()
    assert [(e.actor, e.action, e.target) for e in log] == [
        (f"cli:{getpass.getuser()}", "requeue", f"status=dead robot={ROBOT}"),
        (f"cli:{getpass.getuser()}", "requeue", ops[0].id)]


@pytest.mark.parametrize("args", [
    pytest.param([], id="nothing"),
    pytest.param(["--robot", ROBOT], id="a-filter-without-status-dead"),
    pytest.param(["0" * 20, "--status", "dead"], id="an-id-and-a-filter"),
])
def test_requeue_needs_an_id_or_status_dead(config: Path, args: list[str]) -> None:
    result = messages(config, "requeue", *args)

    assert result.code == 2
    assert result.stderr.startswith("error: give a message ID")


def test_a_database_behind_the_schema_is_named_not_upgraded(tmp_path: Path) -> None:
    config = tmp_path / "dingrelay.yaml"
    config.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path / 'empty.db'}"}}), encoding="utf-8")

    result = messages(config, "list")

    assert result.code == 1
    assert "no dingrelay tables yet" in result.stderr and "dingrelay db upgrade" in result.stderr
    with closing(sqlite3.connect(tmp_path / "empty.db")) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


@pytest.mark.slow
def test_a_message_that_died_requeued_from_the_cli_reaches_dingtalk(
        config: Path, store: SqlStore, emulator: EmulatorProcess, tmp_path: Path, creds: Creds) -> None:
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    port = int(settings["server"]["listen"].rsplit(":", 1)[1])
    emulator.http.post("/_emulator/faults", json={"kind": "errcode", "errcode": 400102, "errmsg": "机器人已停用",
                                                  "robot": ROBOT, "count": 1}).raise_for_status()
    gateway = GatewayProcess(config, port, tmp_path / "serve.log")
    try:
        gateway.start()
        sent = gateway_post(gateway, {"message": {"msgtype": "text", "text": {"content": "监控: 磁盘 91%"}},
                                      "robots": [ROBOT]})
        message_id = sent["id"]
        assert wait_until(lambda: _status_of(store, message_id) is Status.DEAD, 15)
        died = messages(config, "show", message_id)

        requeued = messages(config, "requeue", message_id)
        assert wait_until(lambda: len(emulator.messages()) == 1, 15)
        assert wait_until(lambda: _status_of(store, message_id) is Status.DELIVERED, 15)
        delivered = messages(config, "show", message_id)
    finally:
        gateway.stop()
        emulator.http.delete("/_emulator/faults")

    assert "  status     dead\n" in died.stdout and "errcode 400102" in died.stdout
    assert requeued.stdout == "requeued 1 message(s)\n"
    assert emulator.messages()[0]["body"]["text"]["content"] == "监控: 磁盘 91%"
    timeline = [line.split()[2] for line in delivered.stdout.split("attempts:\n", 1)[1].split("DingTalk JSON:")[0]
                .splitlines() if line.startswith("  2")]
    assert timeline == ["dead", "delivered"]
    assert creds.leaked_in(died.output + delivered.output) == []


def gateway_post(gateway: GatewayProcess, body: dict[str, Any]) -> dict[str, Any]:
    import httpx

    r = httpx.post(f"{gateway.url}/api/v1/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"},
                   timeout=10)
    assert r.status_code == 202, r.text
    return dict(r.json())


def _status(store: SqlStore, m: StoredMessage) -> Status:
    return _status_of(store, m.id)


def _status_of(store: SqlStore, message_id: str) -> Status | None:
    got = store.get(message_id)
    return None if got is None else got.status
