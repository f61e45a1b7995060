"""The robot client under many sending threads, over real HTTP: a few threads per connection pool, keep-alive
connections reused, one SSL context, everything closed at the end."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from anywhere import anywhere

from dingrelay.dingtalk import Robot, RobotClient, Text
from dingrelay.dingtalk import shards as shards_module
from dingrelay.dingtalk.shards import THREADS_PER_SHARD, ShardedHttp


def test_many_threads_sending_at_once_all_deliver_over_reused_connections() -> None:
    threads, rounds = 32, 6
    with anywhere() as robot_server, RobotClient(max_connections=64) as client:
        peers = robot_server.peers
        robot = Robot(webhook=f"{robot_server.url}/robot/send?access_token=tok", secret="SECxyz", name="ops")

        def send_some(i: int) -> int:
            return sum(client.send(robot, Text(content=f"巡检 {i}/{n}")).errcode == 0 for n in range(rounds))

        with ThreadPoolExecutor(threads) as pool:
            delivered = sum(pool.map(send_some, range(threads)))
    assert delivered == threads * rounds == len(peers)
    # Each thread keeps to its pool: its keep-alive connection carries its next send, so there are at most as many
    # connections as threads, not one per send.
    assert len(set(peers)) <= threads


def test_threads_spread_over_shards_and_keep_theirs() -> None:
    http = ShardedHttp(transport=None, timeout=5.0, headers={}, max_connections=8 * THREADS_PER_SHARD)
    try:
        assert http.shards == 8
        seen: list[tuple[int, int]] = []
        barrier = threading.Barrier(16)

        def pick() -> None:
            barrier.wait()
            first = http.client()
            seen.append((id(first), id(http.client())))

        workers = [threading.Thread(target=pick) for _ in range(16)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert all(a == b for a, b in seen)        # a thread keeps its client
        per_client: dict[int, int] = {}
        for a, _ in seen:
            per_client[a] = per_client.get(a, 0) + 1
        assert sorted(per_client.values()) == [2] * 8   # 16 threads over 8 clients, two each
    finally:
        http.close()


def test_the_shards_share_one_ssl_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real = httpx.create_ssl_context

    def counting(*args: object, **kwargs: object) -> object:
        made.append(object())
        return real()

    monkeypatch.setattr(shards_module.httpx, "create_ssl_context", counting)
    http = ShardedHttp(transport=None, timeout=5.0, headers={}, max_connections=64)
    try:
        clients = []
        for _ in range(http.shards):
            t = threading.Thread(target=lambda: clients.append(http.client()))
            t.start()
            t.join()
        assert len({id(c) for c in clients}) == http.shards == 16
        assert len(made) == 1
    finally:
        http.close()


def test_an_injected_transport_gets_one_client_and_close_closes_every_client() -> None:
    http = ShardedHttp(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"errcode": 0})),
                       timeout=5.0, headers={}, max_connections=64)
    assert http.shards == 1
    assert http.post("https://oapi.dingtalk.com/robot/send").json() == {"errcode": 0}
    client = http.client()
    http.close()
    assert client.is_closed
    with pytest.raises(RuntimeError):
        http.post("https://oapi.dingtalk.com/robot/send")
