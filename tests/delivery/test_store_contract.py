"""The storage contract: every backend (SQLite, PostgreSQL) must pass this same suite.

Time is always injected (``now=``), so nothing here sleeps or depends on the machine's clock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from delivery_helpers import T0, content_of, msg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from dingrelay.delivery.model import Claim, NewMessage, QueueState, Status, StoredMessage
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.tables import queue_state

LIMIT, WINDOW, LEASE = 20, 60.0, 60.0


def enqueue(store: SqlStore, *contents: str, queue: str = "ops", now: float = T0) -> list[StoredMessage]:
    stored, created = store.enqueue([msg(c, queue=queue) for c in contents], now=now)
    assert created
    return stored


def claim_head(store: SqlStore, queue: str, now: float, *, limit: int = LIMIT, window: float = WINDOW,
               lease: float = LEASE) -> Claim:
    """Claim ``queue``'s due head, as a worker would; fail the test if it cannot be claimed."""
    heads = [h for h in store.due_heads(now) if h.queue == queue]
    assert len(heads) == 1, f"{queue} has no due head at {now}"
    claim = store.claim(heads[0], now=now, limit=limit, window=window, lease=lease)
    assert isinstance(claim, Claim), f"claim of {queue}'s head returned {claim!r}"
    return claim


def due(store: SqlStore, now: float) -> list[str]:
    return [content_of(h.payload) for h in store.due_heads(now)]


# -- accepting -----------------------------------------------------------------------------------------------


def test_enqueue_then_get_returns_the_message_byte_for_byte(store: SqlStore) -> None:
    body = {"msgtype": "markdown", "markdown": {"title": "告警", "text": "### 磁盘 91% 🔥\n> 主机 web-1"}}
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    new = NewMessage(queue="ops", payload=payload, msgtype="markdown", title="告警: 磁盘", robot="ops",
                     source="alertmanager", fingerprint="f" * 64)

    [stored], created = store.enqueue([new], now=T0)
    got = store.get(stored.id)

    assert created is True
    assert got == stored
    assert got.payload == payload
    assert json.loads(got.payload)["markdown"]["text"] == "### 磁盘 91% 🔥\n> 主机 web-1"
    assert (got.queue, got.robot, got.source, got.msgtype, got.title) == ("ops", "ops", "alertmanager", "markdown",
                                                                          "告警: 磁盘")
    assert (got.status, got.attempts, got.next_attempt_at, got.created_at) == (Status.QUEUED, 0, T0, T0)
    assert (got.last_errcode, got.last_error, got.delivered_at) == (None, None, None)


def test_a_session_reply_keeps_its_target_and_expiry_but_never_shows_the_target(store: SqlStore) -> None:
    target = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b48f59e8aa"
    [stored], _ = store.enqueue([msg("收到", queue="session:abc", target_url=target, expires_at=T0 + 5400)], now=T0)

    got = store.get(stored.id)

    assert got is not None
    assert (got.target_url, got.expires_at, got.robot) == (target, T0 + 5400, None)
    assert "76da36b48f59e8aa" not in json.dumps(got.to_json())


def test_get_of_an_unknown_id_is_none(store: SqlStore) -> None:
    assert store.get("0" * 20) is None


def test_a_batch_is_stored_in_request_order_with_distinct_ids(store: SqlStore) -> None:
    stored = enqueue(store, "一", "二", "三")

    assert [content_of(m.payload) for m in stored] == ["一", "二", "三"]
    assert len({m.id for m in stored}) == 3
    assert [m.seq for m in stored] == sorted(m.seq for m in stored)
    assert store.counts()["queued"] == 3


@pytest.mark.parametrize(("source", "later", "same"), [
    pytest.param("alertmanager", 0.0, True, id="same-key-at-once"),
    pytest.param("alertmanager", 24 * 3600 - 1.0, True, id="same-key-just-under-24h"),
    pytest.param("alertmanager", 24 * 3600 + 1.0, False, id="same-key-after-24h-is-new"),
    pytest.param("grafana", 0.0, False, id="other-source-same-key-is-independent"),
])
def test_an_idempotency_key_returns_the_first_requests_messages_for_24_hours(
        store: SqlStore, source: str, later: float, same: bool) -> None:
    first, created = store.enqueue([msg("a"), msg("b")], now=T0, idempotency=("alertmanager", "key-1"))
    again, created_again = store.enqueue([msg("c")], now=T0 + later, idempotency=(source, "key-1"))

    assert created is True
    if same:
        assert created_again is False
        assert [m.id for m in again] == [m.id for m in first]
        assert [content_of(m.payload) for m in again] == ["a", "b"]
        assert store.counts()["queued"] == 2
    else:
        assert created_again is True
        assert [content_of(m.payload) for m in again] == ["c"]
        assert not {m.id for m in again} & {m.id for m in first}
        assert store.counts()["queued"] == 3


def test_a_repeated_request_reports_the_first_messages_current_status(store: SqlStore) -> None:
    [first], _ = store.enqueue([msg("a")], now=T0, idempotency=("alertmanager", "key-1"))
    store.delivered(claim_head(store, "ops", T0), now=T0 + 1)

    [again], created = store.enqueue([msg("a")], now=T0 + 2, idempotency=("alertmanager", "key-1"))

    assert created is False
    assert (again.id, again.status, again.delivered_at) == (first.id, Status.DELIVERED, T0 + 1)


@pytest.mark.parametrize("requests", [2, 8])
def test_concurrent_requests_with_one_idempotency_key_store_the_messages_once(store: SqlStore, requests: int) -> None:
    barrier = threading.Barrier(requests)

    def request(i: int) -> tuple[list[str], bool]:
        barrier.wait(timeout=30)
        stored, created = store.enqueue([msg(f"try {i}"), msg(f"try {i} part 2")], now=T0,
                                        idempotency=("alertmanager", "key-1"))
        return [m.id for m in stored], created

    with ThreadPoolExecutor(max_workers=requests) as pool:
        results = list(pool.map(request, range(requests)))

    assert [created for _, created in results].count(True) == 1
    assert len({tuple(ids) for ids, _ in results}) == 1
    assert store.counts()["queued"] == 2


def test_concurrent_requests_to_a_new_robot_are_all_accepted(store: SqlStore) -> None:
    barrier = threading.Barrier(8)

    def request(i: int) -> bool:
        barrier.wait(timeout=30)
        return store.enqueue([msg(f"监控 {i}", queue="brand-new")], now=T0)[1]

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(request, range(8)))

    assert created == [True] * 8
    [state] = store.queues(T0)
    assert (state.queue, state.backlog) == ("brand-new", 8)


# -- order -------------------------------------------------------------------------------------------------


def test_a_retrying_head_blocks_the_messages_behind_it(store: SqlStore) -> None:
    enqueue(store, "a", "b", "c")

    first = claim_head(store, "ops", T0)
    store.retry(first, now=T0 + 1, at=T0 + 30, errcode=-1, error="DingTalk is busy (系统繁忙); retry later")

    assert due(store, T0 + 29) == []
    assert due(store, T0 + 30) == ["a"]
    second = claim_head(store, "ops", T0 + 30)
    assert content_of(second.message.payload) == "a"
    assert second.message.attempts == 2
    store.delivered(second, now=T0 + 31)
    assert due(store, T0 + 31) == ["b"]


def test_a_dead_head_no_longer_blocks_its_queue(store: SqlStore) -> None:
    enqueue(store, "a", "b")

    store.dead(claim_head(store, "ops", T0), now=T0 + 1, errcode=310000, error="robot ops requires keyword 监控")

    assert due(store, T0 + 1) == ["b"]


def test_claim_refuses_a_message_that_is_not_its_queues_head(store: SqlStore) -> None:
    _, b = enqueue(store, "a", "b")

    first = claim_head(store, "ops", T0)
    refused_while_sending = store.claim(b, now=T0, limit=LIMIT, window=WINDOW, lease=LEASE)
    store.retry(first, now=T0 + 1, at=T0 + 30, errcode=-1, error="busy")
    refused_while_retrying = store.claim(b, now=T0 + 2, limit=LIMIT, window=WINDOW, lease=LEASE)

    assert refused_while_sending is None
    assert refused_while_retrying is None
    got = store.get(b.id)
    assert got is not None
    assert (got.status, got.attempts) == (Status.QUEUED, 0)


def test_two_queues_progress_independently(store: SqlStore) -> None:
    enqueue(store, "ops-1", "ops-2", queue="ops")
    enqueue(store, "dev-1", "dev-2", queue="dev")
    assert due(store, T0) == ["ops-1", "dev-1"]

    store.retry(claim_head(store, "ops", T0), now=T0, at=T0 + 300, errcode=-1, error="busy")
    store.delivered(claim_head(store, "dev", T0), now=T0 + 1)
    store.delivered(claim_head(store, "dev", T0 + 1), now=T0 + 2)

    assert due(store, T0 + 2) == []
    assert store.counts(T0 + 2)["delivered"] == 2
    assert due(store, T0 + 300) == ["ops-1"]


def test_one_queues_spent_budget_does_not_hold_back_another(store: SqlStore) -> None:
    enqueue(store, "ops-1", "ops-2", queue="ops")
    enqueue(store, "dev-1", queue="dev")
    store.delivered(claim_head(store, "ops", T0, limit=1), now=T0)

    [ops_head] = [h for h in store.due_heads(T0 + 1) if h.queue == "ops"]
    ops_wait = store.claim(ops_head, now=T0 + 1, limit=1, window=WINDOW, lease=LEASE)
    dev = claim_head(store, "dev", T0 + 1, limit=1)

    assert ops_wait == T0 + WINDOW
    assert content_of(dev.message.payload) == "dev-1"


# -- rate budget -------------------------------------------------------------------------------------------


def test_claim_respects_the_rate_budget_and_returns_when_a_slot_frees(store: SqlStore) -> None:
    enqueue(store, "1", "2", "3", "4")
    for i in range(3):
        store.delivered(claim_head(store, "ops", T0 + i, limit=3), now=T0 + i + 0.5)
    [head] = store.due_heads(T0 + 10)

    refused = store.claim(head, now=T0 + 10, limit=3, window=WINDOW, lease=LEASE)
    still_refused = store.claim(head, now=T0 + 60.4, limit=3, window=WINDOW, lease=LEASE)
    granted = store.claim(head, now=T0 + 60.5, limit=3, window=WINDOW, lease=LEASE)

    assert refused == T0 + 0.5 + WINDOW   # the first send's finish plus the window
    assert still_refused == T0 + 0.5 + WINDOW
    assert isinstance(granted, Claim)
    assert content_of(granted.message.payload) == "4"


def test_a_refused_claim_leaves_the_message_untouched(store: SqlStore) -> None:
    enqueue(store, "1", "2")
    store.delivered(claim_head(store, "ops", T0, limit=1), now=T0)
    [head] = store.due_heads(T0 + 1)

    store.claim(head, now=T0 + 1, limit=1, window=WINDOW, lease=LEASE)

    got = store.get(head.id)
    assert got is not None
    assert (got.status, got.attempts) == (Status.QUEUED, 0)


def test_the_window_counts_from_the_end_of_a_slow_send(store: SqlStore) -> None:
    enqueue(store, "slow", "next")
    store.delivered(claim_head(store, "ops", T0, limit=1), now=T0 + 8)   # the HTTP exchange took 8 s
    [head] = store.due_heads(T0 + 60)

    assert store.claim(head, now=T0 + 60, limit=1, window=WINDOW, lease=LEASE) == T0 + 8 + WINDOW
    assert isinstance(store.claim(head, now=T0 + 68, limit=1, window=WINDOW, lease=LEASE), Claim)


# -- claiming once -----------------------------------------------------------------------------------------


def test_a_claimed_head_is_not_claimed_again(store: SqlStore) -> None:
    enqueue(store, "a", "b")
    [head] = store.due_heads(T0)

    first = store.claim(head, now=T0, limit=LIMIT, window=WINDOW, lease=LEASE)
    second = store.claim(head, now=T0, limit=LIMIT, window=WINDOW, lease=LEASE)

    assert isinstance(first, Claim)
    assert first.message.status is Status.SENDING
    assert second is None
    assert store.due_heads(T0) == []   # its queue is busy: "b" waits too
    assert store.get(head.id).attempts == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("workers", [2, 8])
def test_concurrent_claims_of_one_head_have_exactly_one_winner(store: SqlStore, workers: int) -> None:
    [m] = enqueue(store, "a")
    [head] = store.due_heads(T0)
    barrier = threading.Barrier(workers)

    def race(_: int) -> Claim | float | None:
        barrier.wait(timeout=30)
        return store.claim(head, now=T0, limit=LIMIT, window=WINDOW, lease=LEASE)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(race, range(workers)))

    assert sum(isinstance(r, Claim) for r in results) == 1
    assert results.count(None) == workers - 1
    got = store.get(m.id)
    assert got is not None
    assert (got.status, got.attempts) == (Status.SENDING, 1)


# -- failures ----------------------------------------------------------------------------------------------


def test_retry_records_the_error_and_the_next_attempt(store: SqlStore) -> None:
    [m] = enqueue(store, "a")

    store.retry(claim_head(store, "ops", T0), now=T0 + 1, at=T0 + 4, errcode=-1, error="DingTalk is busy")

    got = store.get(m.id)
    assert got is not None
    assert (got.status, got.attempts, got.next_attempt_at) == (Status.RETRYING, 1, T0 + 4)
    assert (got.last_errcode, got.last_error) == (-1, "DingTalk is busy")


def test_pause_keeps_the_message_and_does_not_count_the_attempt(store: SqlStore) -> None:
    a, b = enqueue(store, "a", "b")
    reason = "rate-limited by DingTalk: more than 20 messages per minute"

    store.pause(claim_head(store, "ops", T0), now=T0 + 1, until=T0 + 601, errcode=130101, error=reason)

    got = store.get(a.id)
    assert got is not None
    assert (got.status, got.attempts, got.last_errcode, got.last_error) == (Status.RETRYING, 0, 130101, reason)
    assert store.get(b.id).status is Status.QUEUED  # type: ignore[union-attr]
    assert store.claim(got, now=T0 + 300, limit=LIMIT, window=WINDOW, lease=LEASE) == T0 + 601
    assert due(store, T0 + 600) == []
    assert due(store, T0 + 601) == ["a"]
    again = claim_head(store, "ops", T0 + 601)
    assert again.message.attempts == 1


@pytest.mark.parametrize("claimed", [True, False], ids=["claimed", "unclaimed-head"])
def test_dead_keeps_the_errcode_and_the_reason(store: SqlStore, claimed: bool) -> None:
    [m] = enqueue(store, "a")
    reason = "robot ops requires keyword 监控; the message lacks it (errcode 310000)"
    target: Claim | StoredMessage = claim_head(store, "ops", T0) if claimed else store.due_heads(T0)[0]

    store.dead(target, now=T0 + 1, errcode=310000, error=reason)

    got = store.get(m.id)
    assert got is not None
    assert (got.status, got.last_errcode, got.last_error, got.updated_at) == (Status.DEAD, 310000, reason, T0 + 1)
    assert got.delivered_at is None
    assert store.due_heads(T0 + 1) == []


def test_delivered_records_when(store: SqlStore) -> None:
    [m] = enqueue(store, "a")

    store.delivered(claim_head(store, "ops", T0), now=T0 + 0.25)

    got = store.get(m.id)
    assert got is not None
    assert (got.status, got.attempts, got.delivered_at) == (Status.DELIVERED, 1, T0 + 0.25)


# -- crash recovery ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("recover_at", "requeued"), [
    pytest.param(T0 + LEASE - 0.1, False, id="within-lease"),
    pytest.param(T0 + LEASE, True, id="lease-just-ended"),
    pytest.param(T0 + 3600, True, id="long-after"),
])
def test_recover_requeues_a_sending_message_only_past_its_lease(
        store: SqlStore, recover_at: float, requeued: bool) -> None:
    a, _ = enqueue(store, "a", "b")
    claim_head(store, "ops", T0, lease=LEASE)

    n = store.recover(now=recover_at)

    got = store.get(a.id)
    assert got is not None
    if requeued:
        assert n == 1
        assert (got.status, got.attempts, got.next_attempt_at) == (Status.RETRYING, 1, recover_at)
        assert "interrupted" in (got.last_error or "")
        assert due(store, recover_at) == ["a"]  # first again: order is kept
    else:
        assert n == 0
        assert got.status is Status.SENDING
        assert due(store, recover_at) == []


def test_recover_requeues_at_once_a_send_whose_process_was_killed_within_its_lease(store: SqlStore) -> None:
    """kill -9, then restart: the killed process cannot finish its send, so its lease need not be waited out."""
    import socket
    import subprocess
    import sys

    from sqlalchemy import update

    from dingrelay.delivery.sql.tables import messages

    a, _ = enqueue(store, "a", "b")
    claim_head(store, "ops", T0, lease=LEASE)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    within_lease = T0 + 1
    assert store.recover(now=within_lease) == 0  # held by this (live) process: left alone

    with store.engine.begin() as conn:
        conn.execute(update(messages).where(messages.c.id == a.id)
                     .values(lease_owner=f"{socket.gethostname()}:{gone}"))
    assert store.recover(now=within_lease) == 1
    got = store.get(a.id)
    assert got is not None and got.status is Status.RETRYING
    assert due(store, within_lease) == ["a"]  # first again: order is kept


def test_recover_leaves_a_send_held_by_another_machine_to_its_lease(store: SqlStore) -> None:
    from sqlalchemy import update

    from dingrelay.delivery.sql.tables import messages

    a, _ = enqueue(store, "a", "b")
    claim_head(store, "ops", T0, lease=LEASE)
    with store.engine.begin() as conn:
        conn.execute(update(messages).where(messages.c.id == a.id).values(lease_owner="other-host:1"))
    assert store.recover(now=T0 + 1) == 0


def test_an_interrupted_send_counts_in_the_rate_window_from_its_recovery(store: SqlStore) -> None:
    enqueue(store, "a")
    claim_head(store, "ops", T0, limit=1)
    store.recover(now=T0 + 100)
    [head] = store.due_heads(T0 + 100)

    assert store.claim(head, now=T0 + 100, limit=1, window=WINDOW, lease=LEASE) == T0 + 100 + WINDOW


# -- reporting ---------------------------------------------------------------------------------------------


def test_an_empty_store_reports_nothing_waiting(store: SqlStore) -> None:
    assert store.counts(T0) == {"queued": 0, "sending": 0, "retrying": 0, "delivered": 0, "dead": 0,
                              "suppressed": 0}
    assert store.queues(T0) == []
    assert store.due_heads(T0) == []
    assert store.next_wake(T0) is None


def test_counts_and_queues_report_backlog_pause_and_last_error(store: SqlStore) -> None:
    enqueue(store, "ops-1", "ops-2", "ops-3", queue="ops")
    enqueue(store, "dev-1", "dev-2", queue="dev")
    enqueue(store, "reply", queue="session:abc")
    keyword = "robot ops requires keyword 监控; the message lacks it (errcode 310000)"
    throttled = "rate-limited by DingTalk; wait 600s before sending again"
    store.delivered(claim_head(store, "ops", T0), now=T0 + 1)
    store.dead(claim_head(store, "ops", T0 + 1), now=T0 + 2, errcode=310000, error=keyword)
    store.pause(claim_head(store, "dev", T0 + 2), now=T0 + 3, until=T0 + 600, errcode=130101, error=throttled)
    claim_head(store, "session:abc", T0 + 3)

    assert store.counts(T0 + 10) == {"queued": 2, "sending": 1, "retrying": 1, "delivered": 1, "dead": 1,
                              "suppressed": 0}
    assert store.queues(T0 + 10) == [
        QueueState("dev", backlog=2, sending=0, paused_until=T0 + 600, last_error=throttled,
                   counts={"retrying": 1, "queued": 1}),
        QueueState("ops", backlog=1, sending=0, paused_until=None, last_error=keyword,
                   counts={"delivered": 1, "dead": 1, "queued": 1}),
        QueueState("session:abc", backlog=0, sending=1, paused_until=None, last_error=None,
                   counts={"sending": 1}),
    ]
    assert [q.paused_until for q in store.queues(T0 + 600)] == [None, None, None]


def test_a_queues_last_error_is_not_crowded_out_by_other_queues(store: SqlStore) -> None:
    enqueue(store, "ops-1", queue="ops")
    store.dead(claim_head(store, "ops", T0), now=T0, errcode=300001, error="robot ops: the access_token does not exist")
    noisy, _ = store.enqueue([msg(f"dev-{i}", queue="dev") for i in range(205)], now=T0 + 1)
    for i, m in enumerate(noisy):
        store.dead(m, now=T0 + 2 + i, errcode=-1, error=f"dev failure {i}")

    states = {q.queue: q for q in store.queues(T0 + 300)}

    assert states["ops"].last_error == "robot ops: the access_token does not exist"
    assert states["dev"].last_error == "dev failure 204"


def test_next_wake_is_the_earliest_retry_or_pause_end(store: SqlStore) -> None:
    enqueue(store, "ops-1", "ops-2", queue="ops")
    enqueue(store, "dev-1", queue="dev")
    store.retry(claim_head(store, "ops", T0), now=T0, at=T0 + 30, errcode=-1, error="busy")
    store.pause(claim_head(store, "dev", T0), now=T0, until=T0 + 20, errcode=130101, error="throttled")

    assert store.next_wake(T0) == T0 + 20      # "ops-2" is due now, but waits behind its head
    assert store.next_wake(T0 + 20) == T0 + 30
    assert store.next_wake(T0 + 30) is None


# -- PostgreSQL only: what SQLite's single writer makes impossible -----------------------------------------


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    """A PostgreSQL store whose lock waits fail after 10 s instead of hanging the run."""
    url = make_url(pg_url)
    url = url.update_query_dict({"options": f"{url.query['options']} -clock_timeout=10000"})
    s = SqlStore(url.render_as_string(hide_password=False))
    yield s
    s.close()


@pytest.mark.postgres
def test_postgres_claim_skips_a_queue_another_worker_is_claiming(pg_store: SqlStore) -> None:
    enqueue(pg_store, "a")
    [head] = pg_store.due_heads(T0)

    with pg_store.engine.connect() as other:
        other.execute(select(queue_state).where(queue_state.c.queue == "ops").with_for_update())
        while_locked = pg_store.claim(head, now=T0, limit=LIMIT, window=WINDOW, lease=LEASE)
        other.rollback()
    after = pg_store.claim(head, now=T0, limit=LIMIT, window=WINDOW, lease=LEASE)

    assert while_locked is None
    assert isinstance(after, Claim)


@pytest.mark.postgres
def test_postgres_concurrent_enqueues_to_one_queue_deliver_in_acceptance_order(pg_store: SqlStore) -> None:
    """Request 1 has inserted its message but not committed when request 2 arrives for the same robot, through
    another gateway process (a second store on the same database; within one process the group commit already
    serialises writers).

    Whichever request is accepted (committed) first must be its queue's head.
    """
    enqueue(pg_store, "earlier")   # the robot's queue exists already, as it usually does
    pg_store.delivered(claim_head(pg_store, "ops", T0), now=T0)
    inserted, release = threading.Event(), threading.Event()
    first_pid: list[int] = []

    insert_rows = pg_store._accept._insert_rows

    def pause_first_insert(conn: Any, rows: Any) -> list[int]:
        seqs = insert_rows(conn, rows)
        if threading.current_thread().name.startswith("request-1"):
            first_pid.append(conn.driver_connection.info.backend_pid)
            inserted.set()
            assert release.wait(timeout=60)
        return seqs

    pg_store._accept._insert_rows = pause_first_insert
    accepted: dict[str, StoredMessage] = {}

    other_process = SqlStore(pg_store.url, upgrade=False)

    def request(name: str, content: str) -> Callable[[], None]:
        def run() -> None:
            store = pg_store if name == "1" else other_process
            [accepted[name]], _ = store.enqueue([msg(content)], now=T0)
        return run

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="request-1") as one, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="request-2") as two:
        try:
            f1 = one.submit(request("1", "first"))
            assert inserted.wait(timeout=60)
            f2 = two.submit(request("2", "second"))
            second_done_first = _wait_done_or_blocked(pg_store, f2, first_pid[0])
        finally:
            release.set()
        f1.result(timeout=60)
        f2.result(timeout=60)
    other_process.close()

    first_accepted = accepted["2"] if second_done_first else accepted["1"]
    assert pg_store.due_heads(T0)[0].id == first_accepted.id


def _wait_done_or_blocked(store: SqlStore, future: Any, blocker_pid: int) -> bool:
    """Wait until ``future`` is done (True) or its request waits on a lock held by ``blocker_pid`` (False)."""
    blocked = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    for _ in range(600):
        if future.done():
            return True
        with store.engine.connect() as conn:
            if conn.execute(blocked, {"pid": blocker_pid}).scalar():
                return False
        threading.Event().wait(0.05)
    pytest.fail("the second request neither finished nor waited for the first")


def test_many_concurrent_enqueues_are_all_stored_once_and_in_each_senders_order(store: SqlStore) -> None:
    """Concurrent requests share commits (group commit); none is lost, duplicated or reordered."""
    per_thread, threads = 15, 8

    def sender(n: int) -> list[StoredMessage]:
        out = []
        for i in range(per_thread):
            [m], created = store.enqueue([msg(f"t{n}-{i}")], now=T0)
            assert created
            out.append(m)
        return out

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(sender, range(threads)))
    ids = [m.id for r in results for m in r]
    assert len(set(ids)) == per_thread * threads
    assert store.counts()["queued"] == per_thread * threads
    for r in results:
        seqs = [m.seq for m in r]
        assert seqs == sorted(seqs)
        assert all(store.get(m.id) == m for m in r)
