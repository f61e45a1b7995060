"""The storage contract for storms, on every backend: suppressed repeats, and digests as batches claimed and finished
together. Time is injected (``now=``); nothing sleeps."""

from __future__ import annotations

import pytest
from delivery_helpers import T0, content_of, msg, text_payload
from sqlalchemy import Column, MetaData, String, Table, create_engine

from dingrelay.delivery.model import Claim, NewMessage, Status, StoredMessage
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.tables import messages

LIMIT, WINDOW, LEASE = 20, 60.0, 60.0
SUPPRESS = 300.0


def alert(content: str, *, fingerprint: str = "fp-disk", queue: str = "ops") -> NewMessage:
    return msg(content, queue=queue, fingerprint=fingerprint)


def enqueue(store: SqlStore, *new: NewMessage, now: float = T0, suppress: float = SUPPRESS) -> list[StoredMessage]:
    stored, _ = store.enqueue(list(new), now=now, suppress_seconds=suppress)
    return stored


def get(store: SqlStore, m: StoredMessage | str) -> StoredMessage:
    got = store.get(m if isinstance(m, str) else m.id)
    assert got is not None
    return got


def claim_head(store: SqlStore, now: float, *, limit: int = LIMIT, queue: str = "ops") -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == queue]
    claim = store.claim(head, now=now, limit=limit, window=WINDOW, lease=LEASE)
    assert isinstance(claim, Claim), claim
    return claim


def digest_of(store: SqlStore, n: int, *, now: float = T0, limit: int = LIMIT) -> Claim:
    """Claim the head of "ops" and carry it and the n - 1 messages behind it in a digest."""
    claim = claim_head(store, now, limit=limit)
    carried = [claim.message, *store.following(claim, limit=n - 1)]
    new = NewMessage(queue="ops", robot="ops", payload=text_payload(f"监控 汇总 {n} 条"), msgtype="text",
                     title=f"汇总 {n} 条")
    d = store.claim_digest(claim, new, carried, now=now, lease=LEASE)
    assert d.message.is_digest
    return d


def statuses(store: SqlStore, ms: list[StoredMessage]) -> list[Status]:
    return [get(store, m).status for m in ms]


# -- suppression -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("same_request", [True, False], ids=["same-request", "later-request"])
def test_a_repeat_within_the_window_is_suppressed_pointing_at_the_original_and_counted_on_it(
        store: SqlStore, same_request: bool) -> None:
    if same_request:
        original, first, second = enqueue(store, alert("监控 disk"), alert("监控 disk"), alert("监控 disk"))
    else:
        [original] = enqueue(store, alert("监控 disk"))
        [first] = enqueue(store, alert("监控 disk"), now=T0 + 100)
        [second] = enqueue(store, alert("监控 disk"), now=T0 + SUPPRESS)

    assert (first.status, first.duplicate_of) == (Status.SUPPRESSED, original.id)
    assert get(store, second).status is Status.SUPPRESSED
    assert get(store, second).to_json()["duplicate_of"] == original.id
    assert (get(store, original).status, get(store, original).duplicates) == (Status.QUEUED, 2)
    assert store.counts(T0)["suppressed"] == 2
    assert [h.id for h in store.due_heads(T0 + SUPPRESS)] == [original.id]
    assert store.backlog("ops") == 1


@pytest.mark.parametrize(("later", "queue", "fingerprint"), [
    pytest.param(SUPPRESS + 1, "ops", "fp-disk", id="after-the-window"),
    pytest.param(10.0, "dev", "fp-disk", id="another-robot"),
    pytest.param(10.0, "ops", "fp-cpu", id="another-fingerprint"),
])
def test_a_message_that_is_not_a_recent_repeat_is_queued(
        store: SqlStore, later: float, queue: str, fingerprint: str) -> None:
    enqueue(store, alert("监控 disk"))

    [m] = enqueue(store, alert("监控 again", queue=queue, fingerprint=fingerprint), now=T0 + later)

    assert (m.status, m.duplicate_of) == (Status.QUEUED, None)


def test_a_repeat_of_a_dead_message_is_queued_again(store: SqlStore) -> None:
    [original] = enqueue(store, alert("监控 disk"))
    store.dead(claim_head(store, T0), now=T0 + 1, errcode=310000, error="keyword missing")

    [again] = enqueue(store, alert("监控 disk"), now=T0 + 2)

    assert again.status is Status.QUEUED
    assert get(store, original).duplicates == 0


@pytest.mark.parametrize("fingerprint", [None, "fp-disk"], ids=["no-fingerprint", "no-window"])
def test_nothing_is_suppressed_without_a_fingerprint_or_a_window(store: SqlStore, fingerprint: str | None) -> None:
    ms = enqueue(store, alert("监控 a", fingerprint=fingerprint), alert("监控 a", fingerprint=fingerprint),
                 suppress=0.0 if fingerprint else SUPPRESS)

    assert [m.status for m in ms] == [Status.QUEUED, Status.QUEUED]


# -- digests: claim a batch --------------------------------------------------------------------------------------


def test_backlog_counts_the_messages_waiting_per_queue(store: SqlStore) -> None:
    enqueue(store, *[msg(f"监控 {i}") for i in range(3)], msg("dev", queue="dev"))
    store.delivered(claim_head(store, T0, queue="dev"), now=T0)
    claim_head(store, T0)

    assert store.backlog("ops") == 3   # sending counts: it is not delivered yet
    assert store.backlogs(["ops", "dev", "nobody"]) == {"ops": 3, "dev": 0, "nobody": 0}


def test_following_lists_the_messages_right_behind_the_claimed_head(store: SqlStore) -> None:
    enqueue(store, *[msg(f"监控 {i}") for i in range(5)], msg("dev", queue="dev"))
    claim = claim_head(store, T0)

    assert [content_of(m.payload) for m in store.following(claim, limit=3)] == ["监控 1", "监控 2", "监控 3"]


def test_a_claimed_batch_points_every_carried_message_at_a_stored_digest(store: SqlStore) -> None:
    ms = enqueue(store, *[msg(f"监控 {i}") for i in range(5)])

    d = digest_of(store, 3)

    assert (d.message.status, d.message.attempts, d.message.digest_id) == (Status.SENDING, 1, d.message.id)
    assert content_of(get(store, d.message).payload) == "监控 汇总 3 条"
    assert [get(store, m).digest_id for m in ms] == [d.message.id] * 3 + [None] * 2
    assert statuses(store, ms) == [Status.SENDING] * 3 + [Status.QUEUED] * 2
    assert [m.id for m in store.carried(d.message.id)] == [m.id for m in ms[:3]]
    assert get(store, ms[0]).to_json()["digest_id"] == d.message.id
    assert store.due_heads(T0) == []   # the queue is busy while its digest is out


def test_a_digest_is_one_send_in_the_rate_window(store: SqlStore) -> None:
    enqueue(store, *[msg(f"监控 {i}") for i in range(5)])
    store.delivered(digest_of(store, 3, limit=2), now=T0)
    store.delivered(claim_head(store, T0, limit=2), now=T0)
    [head] = store.due_heads(T0)

    assert store.claim(head, now=T0, limit=2, window=WINDOW, lease=LEASE) == T0 + WINDOW


def test_a_batch_whose_messages_changed_is_not_claimed_and_the_head_goes_alone(store: SqlStore) -> None:
    ms = enqueue(store, *[msg(f"监控 {i}") for i in range(3)])
    claim = claim_head(store, T0)
    stale = [claim.message, *store.following(claim, limit=2)]
    store.dead(ms[1], now=T0, errcode=None, error="gone meanwhile")

    back = store.claim_digest(claim, msg("监控 汇总"), stale, now=T0, lease=LEASE)

    assert back == claim
    assert [get(store, m).digest_id for m in ms] == [None, None, None]
    assert store.counts()["sending"] == 1


# -- digests: finish a batch -------------------------------------------------------------------------------------


def test_a_delivered_digest_delivers_every_message_it_carries(store: SqlStore) -> None:
    ms = enqueue(store, *[msg(f"监控 {i}") for i in range(4)])

    d = digest_of(store, 3)
    store.delivered(d, now=T0 + 1)

    assert statuses(store, ms) == [Status.DELIVERED] * 3 + [Status.QUEUED]
    assert [get(store, m).delivered_at for m in ms[:3]] == [T0 + 1] * 3
    assert get(store, d.message).status is Status.DELIVERED
    assert [content_of(h.payload) for h in store.due_heads(T0 + 1)] == ["监控 3"]


def test_a_dead_digest_takes_its_messages_with_it_saying_why(store: SqlStore) -> None:
    ms = enqueue(store, *[msg(f"监控 {i}") for i in range(3)])

    store.dead(digest_of(store, 2), now=T0 + 1, errcode=310000, error="robot ops requires keyword 监控")

    assert statuses(store, ms) == [Status.DEAD, Status.DEAD, Status.QUEUED]
    assert get(store, ms[1]).last_error == "robot ops requires keyword 监控"
    assert [content_of(h.payload) for h in store.due_heads(T0 + 1)] == ["监控 2"]


def test_a_retried_digest_goes_again_whole_and_nothing_behind_it_overtakes(store: SqlStore) -> None:
    ms = enqueue(store, *[msg(f"监控 {i}") for i in range(4)])
    d = digest_of(store, 3)

    store.retry(d, now=T0 + 1, at=T0 + 30, errcode=-1, error="busy")
    waiting = statuses(store, ms)
    due_early = store.due_heads(T0 + 29)
    again = claim_head(store, T0 + 30)

    assert waiting == [Status.RETRYING] * 3 + [Status.QUEUED]
    assert due_early == []
    assert again.message.id == d.message.id          # the same digest, not a new one
    assert again.message.attempts == 2
    assert statuses(store, ms) == [Status.SENDING] * 3 + [Status.QUEUED]
    store.delivered(again, now=T0 + 31)
    assert statuses(store, ms) == [Status.DELIVERED] * 3 + [Status.QUEUED]


def test_a_throttled_digest_pauses_the_queue_and_its_attempt_does_not_count(store: SqlStore) -> None:
    ms = enqueue(store, *[msg(f"监控 {i}") for i in range(3)])

    store.pause(digest_of(store, 2), now=T0 + 1, until=T0 + 600, errcode=130101, error="throttled")

    assert [(get(store, m).status, get(store, m).attempts) for m in ms] == [
        (Status.RETRYING, 0), (Status.RETRYING, 0), (Status.QUEUED, 0)]
    assert store.due_heads(T0 + 599) == []


def test_a_digest_interrupted_while_sending_is_recovered_as_one_batch(store: SqlStore) -> None:
    ms = enqueue(store, *[msg(f"监控 {i}") for i in range(3)])
    d = digest_of(store, 2)

    assert store.recover(now=T0 + LEASE) == 3   # the digest and the two messages it carries
    again = claim_head(store, T0 + LEASE)

    assert again.message.id == d.message.id
    assert statuses(store, ms) == [Status.SENDING, Status.SENDING, Status.QUEUED]


# -- older databases -------------------------------------------------------------------------------------------


def test_a_database_made_before_suppression_gains_the_new_columns(store_url: str) -> None:
    old = MetaData()
    later = ("duplicate_of", "duplicates", "requeued_at")
    Table(messages.name, old, *[Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                for c in messages.columns if c.name not in later],
          Column("unused", String(1)))
    engine = create_engine(store_url)
    old.create_all(engine)
    engine.dispose()

    s = SqlStore(store_url)
    try:
        original, repeat = enqueue(s, alert("监控 disk"), alert("监控 disk"))
        assert (get(s, original).duplicates, get(s, repeat).duplicate_of) == (1, original.id)
    finally:
        s.close()
