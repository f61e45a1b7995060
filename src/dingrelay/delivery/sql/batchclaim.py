"""PostgreSQL: a batch of claims in three round trips instead of five per head.

One at a time (:meth:`.claims.Claims._claim`), a head costs five statements, each a round trip to the server: in the
1,000-robot fan-out on PostgreSQL the delivery loop spent nearly all its time waiting on them (README,
Performance). Here the batch's heads, one per queue, are judged together, with the same rules and the same locks:

1. lock the queues' ``queue_state`` rows (``FOR UPDATE SKIP LOCKED``: a queue another worker holds is skipped);
2. then, in a statement of its own so that its snapshot sees every claim committed before the locks were taken,
   read for each locked queue whether a message is ahead of its head or in flight, and its recent sends;
3. take the heads that may go and log their sends, one ``UPDATE ... RETURNING`` and ``INSERT`` in one statement.

Python decides between 2 and 3 by the same rules as a single claim (pause, order, :func:`..ratelimit.next_slot`,
which a single claim answers from counts: :func:`..ratelimit.next_slot_counted`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Dialect

from .. import ratelimit
from ..model import Claim, RateWait, StoredMessage
from .claimsql import _ACTIVE, COLUMNS, RawSql, Row
from .tables import messages, queue_state, sends

Result = Claim | float | None


class BatchClaimSql(RawSql):
    """The three statements (PostgreSQL only: arrays, ``unnest``, data-modifying CTEs)."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__(dialect)
        m, s, q = messages.name, sends.name, queue_state.name   # our own names, no input
        cols = ", ".join(f"t.{c}" for c in COLUMNS)
        self.lock = f"SELECT queue, paused_until FROM {q} WHERE queue = ANY(%s) FOR UPDATE SKIP LOCKED"  # noqa: S608
        self.exists = f"SELECT queue FROM {q} WHERE queue = ANY(%s)"  # noqa: S608
        self.judge = (
            f"SELECT h.queue, EXISTS (SELECT 1 FROM {m} a WHERE a.queue = h.queue AND a.seq != h.seq AND "  # noqa: S608
            f"a.{_ACTIVE} AND (a.seq < h.seq OR a.status = 'sending')), "
            f"ARRAY(SELECT r.finished_at FROM {s} r WHERE r.queue = h.queue AND "
            f"(r.finished_at IS NULL OR r.finished_at > h.since)) "
            f"FROM unnest(%s::text[], %s::bigint[], %s::float8[]) AS h(queue, seq, since)")
        self.take = (
            f"WITH t AS (UPDATE {m} SET status = 'sending', attempts = attempts + 1, lease_until = %s, "  # noqa: S608
            f"lease_owner = %s, updated_at = %s WHERE seq = ANY(%s) AND status IN ('queued', 'retrying') "
            f"AND next_attempt_at <= %s RETURNING *), "
            f"l AS (INSERT INTO {s} (queue, started_at) SELECT queue, %s FROM t RETURNING id, queue) "
            f"SELECT {cols}, l.id FROM t JOIN l ON l.queue = t.queue")


def claim_batch(sql: BatchClaimSql, cursor: Any, heads: Sequence[tuple[StoredMessage, int, float]], *, now: float,
                lease_until: float, owner: str, lone: Callable[[tuple[StoredMessage, int, float]], Result],
                finish: Callable[[Any, int], Claim]) -> list[Result]:
    """Judge and take ``heads`` (one per queue). ``lone(head)`` judges a head whose queue row could not be locked
    (held by another worker, or missing) as a single claim would; ``finish(row, send_id)`` turns a taken row into its
    :class:`Claim` (a digest's head brings its batch)."""
    run = sql.run
    by_queue = {h.queue: (h, limit, window) for h, limit, window in heads}
    assert len(by_queue) == len(heads), "one head per queue"
    locked = {q: paused for q, paused in run(cursor, sql.lock, (list(by_queue),))}
    results: dict[str, Result] = {}
    unlocked = [q for q in by_queue if q not in locked]
    if unlocked:
        held = {r[0] for r in run(cursor, sql.exists, (unlocked,))}
        for q in unlocked:
            results[q] = None if q in held else lone(by_queue[q])
    judged = [q for q in by_queue if q in locked and not (locked[q] is not None and locked[q] > now)]
    for q in by_queue:
        if q in locked and q not in judged:
            results[q] = float(locked[q])   # paused until then
    go: list[str] = []
    if judged:
        rows = run(cursor, sql.judge, (judged, [by_queue[q][0].seq for q in judged],
                                       [now - by_queue[q][2] for q in judged]))
        for q, ahead, recent in rows:
            if ahead:
                results[q] = None
                continue
            _, limit, window = by_queue[q]
            wait = ratelimit.next_slot(list(recent), limit=limit, window=window, now=now)
            if wait is not None:
                results[q] = RateWait(wait)
            else:
                go.append(q)
    if go:
        taken = run(cursor, sql.take, (lease_until, owner, now, [by_queue[q][0].seq for q in go], now, now))
        for values in taken:
            row: Any = Row(*values[:-1])
            results[row.queue] = finish(row, int(values[-1]))
    return [results.get(h.queue) for h, _, _ in heads]
