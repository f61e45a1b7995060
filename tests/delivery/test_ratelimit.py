"""``next_slot``: when a robot may send again, from the finish times of its recent sends (None = in flight)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingrelay.delivery.ratelimit import next_slot, next_slot_counted

NOW = 1_000.0


@pytest.mark.parametrize(("finished", "limit", "window", "expected"), [
    pytest.param([], 20, 60.0, None, id="nothing-sent"),
    pytest.param([NOW - 50 + i for i in range(19)], 20, 60.0, None, id="one-under-the-limit"),
    pytest.param([NOW - 50 + i for i in range(20)], 20, 60.0, NOW + 10, id="at-the-limit-oldest-ages-out"),
    pytest.param([NOW - 30, NOW - 50, NOW - 40], 3, 60.0, NOW + 10, id="unsorted-input"),
    pytest.param([NOW - 50, NOW - 40, NOW - 30], 2, 60.0, NOW + 20, id="over-the-limit-two-must-age-out"),
    pytest.param([NOW - 500, NOW - 400, NOW - 61], 1, 60.0, None, id="old-sends-do-not-count"),
    pytest.param([NOW - 60], 1, 60.0, None, id="finished-exactly-a-window-ago-is-free"),
    pytest.param([NOW - 59.999], 1, 60.0, NOW + 0.001, id="finished-just-inside-the-window"),
    pytest.param([NOW], 1, 60.0, NOW + 60, id="finished-just-now"),
])
def test_finished_sends_hold_a_slot_for_a_window_after_they_finish(
        finished: list[float | None], limit: int, window: float, expected: float | None) -> None:
    assert next_slot(finished, limit=limit, window=window, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(("finished", "limit", "window", "expected"), [
    pytest.param([None], 2, 60.0, None, id="one-in-flight-under-the-limit"),
    pytest.param([None], 1, 60.0, NOW + 1, id="in-flight-fills-the-budget-check-again-in-1s"),
    pytest.param([None, None], 2, 0.5, NOW + 0.5, id="short-window-check-again-after-it"),
    pytest.param([NOW - 50, None], 2, 60.0, NOW + 10, id="the-finished-one-ages-out-first"),
    pytest.param([None, NOW - 50], 2, 60.0, NOW + 10, id="order-of-input-does-not-matter"),
    pytest.param([NOW - 50, None, None], 2, 60.0, NOW + 1, id="in-flight-sends-must-finish-first"),
    pytest.param([NOW - 61, None], 1, 60.0, NOW + 1, id="an-aged-out-send-does-not-hide-an-in-flight-one"),
])
def test_a_send_in_flight_counts_until_it_finishes(
        finished: list[float | None], limit: int, window: float, expected: float | None) -> None:
    assert next_slot(finished, limit=limit, window=window, now=NOW) == pytest.approx(expected)


def test_the_slot_it_returns_is_free_at_that_time() -> None:
    finished: list[float | None] = [NOW - 59.5, NOW - 30, NOW - 1]

    at = next_slot(finished, limit=3, window=60.0, now=NOW)

    assert at is not None
    assert next_slot(finished, limit=3, window=60.0, now=at) is None
    assert next_slot(finished, limit=3, window=60.0, now=at - 0.01) is not None


_finish_times = st.lists(st.one_of(st.none(), st.floats(NOW - 120, NOW).map(lambda f: round(f, 3))), max_size=40)


@given(finished=_finish_times, limit=st.integers(1, 25), window=st.sampled_from([0.5, 1.0, 60.0]))
def test_counting_the_window_answers_as_reading_every_send_in_it(
        finished: list[float | None], limit: int, window: float) -> None:
    """A claim counts its robot's window in SQL (two numbers, and one finish time when it is full) instead of
    reading every send in it; the answer must be next_slot's for the same sends."""
    live = [f for f in finished if f is None or f > NOW - window]
    done = sorted(f for f in live if f is not None)
    asked: list[int] = []

    def nth(k: int) -> float:
        asked.append(k)
        return done[k]

    counted = next_slot_counted(len(live), live.count(None), nth, limit=limit, window=window, now=NOW)
    assert counted == next_slot(finished, limit=limit, window=window, now=NOW)
    assert not asked or len(live) >= limit   # under budget, no finish time is read
