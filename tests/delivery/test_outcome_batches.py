"""Outcomes finishing together share one group commit, each statement run once for the whole batch: every send's
outcome, attempt and send-log entry is written, and an outcome the database refuses fails alone (its caller gets
the error and retries; its neighbours are committed). On SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from delivery_helpers import T0, msg
from sqlalchemy import text

from dingrelay.delivery.model import Claim, Outcome, Sent, Status
from dingrelay.delivery.sql import SqlStore

ROBOTS = [f"r{i:02d}" for i in range(24)]

_REFUSE = {
    "sqlite": [
        "CREATE TABLE refuse_seq (seq INTEGER)",
        """CREATE TRIGGER refuse_one BEFORE UPDATE OF status ON dr_messages
           WHEN NEW.status IN ('delivered', 'retrying') AND NEW.seq IN (SELECT seq FROM refuse_seq)
           BEGIN SELECT RAISE(ABORT, 'outcome refused'); END""",
    ],
    "postgresql": [
        "CREATE TABLE refuse_seq (seq BIGINT)",
        """CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF NEW.status IN ('delivered', 'retrying') AND NEW.seq IN (SELECT seq FROM refuse_seq) THEN
               RAISE EXCEPTION 'outcome refused';
             END IF;
             RETURN NEW;
           END $$""",
        "CREATE TRIGGER refuse_one BEFORE UPDATE ON dr_messages FOR EACH ROW EXECUTE FUNCTION refuse_one()",
    ],
}


def _claim_all(store: SqlStore) -> list[Claim]:
    store.enqueue([msg(f"巡检 {r}", queue=r) for r in ROBOTS], now=T0)
    heads = store.due_heads(T0)
    results = store.claim_many([(h, 20, 60.0) for h in heads], now=T0, lease=60.0)
    claims = [r for r in results if isinstance(r, Claim)]
    assert len(claims) == len(ROBOTS)
    return claims


def _finish_together(store: SqlStore, claims: list[Claim]) -> dict[str, BaseException]:
    """Every claim finished from a thread of its own, all at once: half delivered, half retried later."""
    barrier = threading.Barrier(len(claims))
    errors: dict[str, BaseException] = {}

    def finish(i: int, claim: Claim) -> None:
        barrier.wait()
        sent = Sent(T0 + 0.01, 0.05, http_status=200, errmsg="ok" if i % 2 == 0 else "系统繁忙")
        try:
            if i % 2 == 0:
                store.delivered(claim, now=T0 + 1, sent=sent)
            else:
                store.retry(claim, now=T0 + 1, at=T0 + 30, errcode=-1, error="DingTalk busy", sent=sent)
        except BaseException as exc:   # the refused one: kept for the assertion
            errors[claim.message.id] = exc

    threads = [threading.Thread(target=finish, args=(i, c)) for i, c in enumerate(claims)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_outcomes_finishing_together_are_all_written_with_their_attempts(store: SqlStore) -> None:
    claims = _claim_all(store)

    assert _finish_together(store, claims) == {}

    for i, claim in enumerate(claims):
        got = store.get(claim.message.id)
        assert got is not None
        [attempt] = store.attempts(claim.message.id)
        if i % 2 == 0:
            assert (got.status, got.delivered_at, attempt.outcome) == (Status.DELIVERED, T0 + 1, Outcome.DELIVERED)
        else:
            assert (got.status, got.next_attempt_at, got.last_errcode) == (Status.RETRYING, T0 + 30, -1)
            assert (attempt.outcome, attempt.errmsg, attempt.error) == (Outcome.RETRY, "系统繁忙", "DingTalk busy")
        assert (attempt.started_at, attempt.duration, attempt.http_status) == (T0 + 0.01, 0.05, 200)
    # every send-log entry closed at T0 + 1: at one send per minute, each retried robot's slot frees at T0 + 61
    # (an entry left open would count as a send in flight: "try again in a second")
    again = store.claim_many([(h, 1, 60.0) for h in store.due_heads(T0 + 31)], now=T0 + 31, lease=60.0)
    assert again == [T0 + 61] * (len(ROBOTS) // 2)


def test_a_refused_outcome_fails_alone_and_its_neighbours_commit(store: SqlStore) -> None:
    claims = _claim_all(store)
    refused = claims[4]
    with store.db.engine.begin() as conn:
        for sql in _REFUSE[store.db.engine.dialect.name]:
            conn.execute(text(sql))
        conn.execute(text("INSERT INTO refuse_seq VALUES (:seq)"), {"seq": refused.message.seq})

    errors = _finish_together(store, claims)

    assert list(errors) == [refused.message.id]
    still = store.get(refused.message.id)
    assert still is not None and still.status is Status.SENDING     # not lost: its worker writes it again
    assert store.attempts(refused.message.id) == []
    finished = [store.get(c.message.id) for c in claims if c is not refused]
    assert all(m is not None and m.status in (Status.DELIVERED, Status.RETRYING) for m in finished)
    assert all(len(store.attempts(c.message.id)) == 1 for c in claims if c is not refused)
