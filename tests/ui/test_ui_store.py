"""The dashboard's store (``SqlStore.dashboard``) on SQLite and PostgreSQL: message search and pages, the overview's
rows, sends per minute, the actions and their audit log, the hooks' samples, the session key."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dingrelay.delivery.browse import DAY_SECONDS, MessageFilter
from dingrelay.delivery.model import Claim, NewMessage, Status, StoredMessage
from dingrelay.delivery.sql import SqlStore

T0 = 1_700_000_000.0


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = SqlStore(store_url)
    yield s
    s.close()


def new(title: str, *, queue: str = "ops", source: str = "heian", fingerprint: str | None = None) -> NewMessage:
    payload = json.dumps({"msgtype": "text", "text": {"content": f"巡检 {title}"}}, ensure_ascii=False).encode()
    return NewMessage(queue=queue, robot=queue, payload=payload, msgtype="text", title=title, source=source,
                      fingerprint=fingerprint)


def put(store: SqlStore, *titles: str, now: float = T0, **kwargs: object) -> list[StoredMessage]:
    stored, _ = store.enqueue([new(t, **kwargs) for t in titles], now=now)  # type: ignore[arg-type]
    return stored


def take(store: SqlStore, queue: str, now: float) -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == queue]
    claim = store.claim(head, now=now, limit=100, window=60.0, lease=60.0)
    assert isinstance(claim, Claim)
    return claim


def deliver(store: SqlStore, queue: str, now: float) -> str:
    claim = take(store, queue, now)
    store.delivered(claim, now=now)
    return claim.message.id


def kill(store: SqlStore, queue: str, now: float, error: str = "errcode 430102: refused") -> str:
    claim = take(store, queue, now)
    store.dead(claim, now=now, errcode=430102, error=error)
    return claim.message.id


def status(store: SqlStore, message_id: str) -> Status:
    m = store.get(message_id)
    assert m is not None
    return m.status


# -- reading ------------------------------------------------------------------------------------------------------


def test_search_filters_by_status_robot_source_time_and_title_text_newest_first(store: SqlStore) -> None:
    a, b = put(store, "Disk full on db-1", "CPU high", now=T0)
    c, = put(store, "disk slow", queue="dba", source="am", now=T0 + 100)
    store.dead(store.get(a.id), now=T0 + 1, errcode=None, error="x")  # type: ignore[arg-type]
    d = store.dashboard

    def ids(**f: object) -> list[str]:
        return [m.id for m in d.search(MessageFilter(**f)).messages]  # type: ignore[arg-type]

    assert ids() == [c.id, b.id, a.id]
    assert ids(status="dead") == [a.id]
    assert ids(robot="ops") == [b.id, a.id]
    assert ids(source="am") == [c.id]
    assert ids(since=T0 + 50) == [c.id]
    assert ids(until=T0 + 50) == [b.id, a.id]
    assert ids(text="DISK") == [c.id, a.id]       # any case
    assert ids(text="100%_") == []                # LIKE's wildcards are matched literally
    assert ids(robot="ops", text="cpu", status="queued") == [b.id]


def test_pages_go_back_by_cursor_without_gaps_or_repeats(store: SqlStore) -> None:
    stored = put(store, *(f"m{i:02d}" for i in range(7)))
    seen, before = [], None
    while True:
        page = store.dashboard.search(MessageFilter(), before=before, limit=3)
        seen += [m.title for m in page.messages]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [m.title for m in reversed(stored)]


def test_the_overview_has_a_row_per_robot_with_depth_pause_window_and_last_24_hours(store: SqlStore) -> None:
    put(store, "old delivered", now=T0 - 2 * DAY_SECONDS)
    deliver(store, "ops", T0 - 2 * DAY_SECONDS + 1)              # too old to count
    put(store, "one", "two", "three", now=T0)
    deliver(store, "ops", T0 + 1)
    kill(store, "ops", T0 + 2)
    put(store, "dup", "dup", now=T0 + 3, fingerprint="fp")       # no suppression window: both wait
    store.enqueue([new("dup", fingerprint="fp")], now=T0 + 4, suppress_seconds=300)
    claim = take(store, "ops", T0 + 5)
    store.pause(claim, now=T0 + 5, until=T0 + 605, errcode=410100, error="rate-limited by DingTalk")
    rows = store.dashboard.overview({"ops": 60.0, "dba": 60.0}, now=T0 + 10)
    assert [r.robot for r in rows] == ["ops", "dba"]
    ops, dba = rows
    assert (ops.depth, ops.oldest_at) == (3, T0)                  # "three" (paused head) and the two "dup"s
    assert (ops.paused_until, ops.pause_reason) == (T0 + 605, "rate-limited by DingTalk")
    assert ops.window_sends == 3                                  # the sends at T0+1, +2 and +5
    assert (ops.delivered_24h, ops.dead_24h, ops.suppressed_24h, ops.digests_24h) == (1, 1, 1, 0)
    assert (dba.depth, dba.oldest_at, dba.paused_until, dba.window_sends, dba.delivered_24h) == (0, None, None, 0, 0)
    later = store.dashboard.overview({"ops": 60.0}, now=T0 + 700)[0]
    assert (later.paused_until, later.window_sends) == (None, 0)  # the pause is over, the window moved on


def test_sends_per_minute_counts_each_minute_of_the_last_hour(store: SqlStore) -> None:
    put(store, *(f"m{i}" for i in range(4)), now=T0)
    for at in (T0 + 1, T0 + 2, T0 + 61, T0 + 3000):
        deliver(store, "ops", at)
    counts = store.dashboard.sends_per_minute(["ops", "dba"], now=T0 + 3600)
    assert len(counts["ops"]) == 60 and counts["dba"] == [0] * 60
    assert counts["ops"][0] == 2 and counts["ops"][1] == 1 and counts["ops"][50] == 1 and sum(counts["ops"]) == 4


# -- acting -------------------------------------------------------------------------------------------------------


def test_requeue_puts_a_dead_message_back_due_now_and_writes_the_audit_log(store: SqlStore) -> None:
    put(store, "dies")
    dead = kill(store, "ops", T0 + 1)
    d = store.dashboard
    assert d.requeue(dead, who="alice", now=T0 + 50) == 1
    m = store.get(dead)
    assert m is not None and (m.status, m.attempts, m.next_attempt_at) == (Status.QUEUED, 0, T0 + 50)
    assert [h.id for h in store.due_heads(T0 + 50)] == [dead]
    assert d.requeue(dead, who="alice", now=T0 + 51) == 0        # not dead any more: nothing, and no audit
    [entry] = d.audit_log()
    assert (entry.who, entry.action, entry.target, entry.at) == ("alice", "requeue", dead, T0 + 50)


def test_requeue_matching_takes_every_dead_message_the_filter_matches_and_nothing_else(store: SqlStore) -> None:
    put(store, "a1", "a2")
    put(store, "b1", queue="dba")
    first, second, other = kill(store, "ops", T0 + 1), kill(store, "ops", T0 + 2), kill(store, "dba", T0 + 3)
    put(store, "waiting")
    n = store.dashboard.requeue_matching(MessageFilter(robot="ops"), who="bob", now=T0 + 10)
    assert n == 2
    assert (status(store, first), status(store, second), status(store, other)) == (Status.QUEUED, Status.QUEUED,
                                                                                   Status.DEAD)
    assert store.dashboard.audit_log()[0].target == "robot=ops"


def test_retry_now_makes_a_retrying_message_due_and_cancel_ends_a_waiting_one(store: SqlStore) -> None:
    put(store, "later", "queued")
    claim = take(store, "ops", T0)
    store.retry(claim, now=T0, at=T0 + 300, errcode=-1, error="系统繁忙")
    d = store.dashboard
    assert store.due_heads(T0 + 10) == []
    assert d.retry_now(claim.message.id, who="alice", now=T0 + 10) == 1
    assert [h.id for h in store.due_heads(T0 + 10)] == [claim.message.id]
    waiting = d.search(MessageFilter(text="queued")).messages[0]
    assert d.cancel(waiting.id, who="alice", now=T0 + 11) == 1
    m = store.get(waiting.id)
    assert m is not None and m.status == Status.DEAD and m.last_error == "cancelled in the dashboard by alice"
    sending = take(store, "ops", T0 + 12)
    assert d.cancel(sending.message.id, who="alice", now=T0 + 13) == 0   # in flight: never touched
    assert [e.action for e in d.audit_log()] == ["cancel", "retry_now"]


def test_resume_ends_a_pause_and_the_held_message_is_due_at_once(store: SqlStore) -> None:
    put(store, "held")
    claim = take(store, "ops", T0)
    store.pause(claim, now=T0, until=T0 + 600, errcode=410100, error="rate-limited")
    d = store.dashboard
    assert store.due_heads(T0 + 5) == []
    assert d.resume("ops", who="alice", now=T0 + 5) == 1
    assert [h.id for h in store.due_heads(T0 + 5)] == [claim.message.id]
    assert d.overview({"ops": 60.0}, now=T0 + 5)[0].paused_until is None
    assert d.resume("ops", who="alice", now=T0 + 6) == 0              # not paused: nothing to log
    assert [(e.action, e.target) for e in d.audit_log()] == [("resume", "ops")]


def test_requeueing_a_dead_digest_requeues_what_it_carried(store: SqlStore) -> None:
    put(store, "a", "b", "c")
    claim = take(store, "ops", T0)
    carried = [claim.message, *store.following(claim, limit=10)]
    digest = NewMessage(queue="ops", robot="ops", payload=b'{"msgtype":"text","text":{"content":"digest"}}',
                        msgtype="text", title="digest of 3")
    dclaim = store.claim_digest(claim, digest, carried, now=T0, lease=60.0)
    store.dead(dclaim, now=T0 + 1, errcode=430102, error="refused")
    assert all(status(store, m.id) == Status.DEAD for m in carried)
    assert store.dashboard.requeue(dclaim.message.id, who="alice", now=T0 + 2) == 3
    assert [status(store, m.id) for m in carried] == [Status.QUEUED] * 3
    assert all(store.get(m.id).digest_id is None for m in carried)  # type: ignore[union-attr]


# -- samples and the session key ----------------------------------------------------------------------------------


def test_samples_keep_the_newest_twenty_per_hook_and_source(store: SqlStore) -> None:
    d = store.dashboard
    for i in range(25):
        d.record_sample("alertmanager", "am", json.dumps({"n": i}), now=T0 + i)
    d.record_sample("grafana", "am", json.dumps({"n": "g"}), now=T0 + 30)
    kept = d.samples()
    assert [(s.hook, s.source) for s in kept][:1] == [("grafana", "am")]
    ams = [s for s in kept if s.hook == "alertmanager"]
    assert len(ams) == 20 and all(s.body is None for s in kept)
    newest = d.sample(ams[0].id)
    assert newest is not None and json.loads(newest.body or "") == {"n": 24}
    assert json.loads(d.sample(ams[-1].id).body or "") == {"n": 5}  # type: ignore[union-attr]


def test_the_session_key_is_made_once_and_shared_by_every_store_on_the_database(store_url: str,
                                                                              store: SqlStore) -> None:
    key = store.dashboard.session_key()
    other = SqlStore(store_url)
    try:
        assert other.dashboard.session_key() == key and len(key) == 32
    finally:
        other.close()
