"""The group-commit mechanism (leader and followers) that ingest and outcome writes share: every caller returns
once its item is committed, callers that arrive during a commit go together in the next one, a batch is at most
``max_batch``, and a commit that blows up still lets everyone waiting go on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from dingrelay.delivery.sql.group import Batches


def _wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition never held")
        time.sleep(0.001)


def _callers(batches: Batches[int], items: range, returned: list[tuple[int, bool]], committed: set[int]
             ) -> list[threading.Thread]:
    def call(i: int) -> None:
        try:
            batches.run(i)
        except RuntimeError:
            pass
        returned.append((i, i in committed))

    threads = [threading.Thread(target=call, args=(i,)) for i in items]
    for t in threads:
        t.start()
    return threads


def _all_during_the_first_commit(batches: Batches[int], n: int, gate: threading.Event, committed: set[int]
                                 ) -> list[tuple[int, bool]]:
    """Callers 0..n-1: caller 0 leads the first commit, which waits at ``gate`` until the n-1 others queue."""
    returned: list[tuple[int, bool]] = []
    first = _callers(batches, range(1), returned, committed)
    _wait_until(lambda: batches._leading)
    rest = _callers(batches, range(1, n), returned, committed)
    _wait_until(lambda: len(batches._pending) == n - 1)
    gate.set()
    for t in first + rest:
        t.join(10)
    return returned


@pytest.mark.parametrize(("max_batch", "sizes"), [(None, [1, 49]), (16, [1, 16, 16, 16, 1])])
def test_callers_during_a_commit_go_together_in_the_next_and_return_once_committed(
        max_batch: int | None, sizes: list[int]) -> None:
    gate = threading.Event()
    committed: set[int] = set()
    seen: list[list[int]] = []

    def commit(items: list[int]) -> None:
        if not seen:
            gate.wait(10)          # the first commit holds until every other caller waits
        seen.append(items)
        committed.update(items)

    batches: Batches[int] = Batches(commit, max_batch=max_batch)
    returned = _all_during_the_first_commit(batches, 50, gate, committed)

    assert [len(b) for b in seen] == sizes
    assert sorted(i for b in seen for i in b) == list(range(50))     # each once
    assert sorted(i for i, _ in returned) == list(range(50))
    assert all(was_committed for _, was_committed in returned)        # nobody returned before its commit
    assert not batches._leading and batches._pending == []


def test_a_commit_that_raises_releases_its_batch_and_the_next_leader_goes_on() -> None:
    gate = threading.Event()
    committed: set[int] = set()
    seen: list[list[int]] = []

    def commit(items: list[int]) -> None:
        if not seen:
            gate.wait(10)
        seen.append(items)
        if 3 in items:
            raise RuntimeError("the database went away")
        committed.update(items)

    batches: Batches[int] = Batches(commit, max_batch=4)
    returned = _all_during_the_first_commit(batches, 10, gate, committed)

    assert sorted(i for i, _ in returned) == list(range(10))         # everyone came back
    failed = next(b for b in seen if 3 in b)
    assert committed == set(range(10)) - set(failed)                  # the batches after it were committed
    assert not batches._leading
