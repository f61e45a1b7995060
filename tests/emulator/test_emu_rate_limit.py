"""The per-robot throttle: a sliding window of accepted messages and the penalty that follows."""

from __future__ import annotations

import pytest
from emu_helpers import OK, OTHER_TOKEN, answer, post, robot, text

from dingrelay.emulator import Emulator, max_in_window
from dingrelay.emulator.ratelimit import SlidingWindowLimiter

THROTTLED = answer(410100, "发送速度太快而限流")


def _burst(client, url, n):
    return [post(client, url, text(f"监控 {i}")) for i in range(n)]


def test_twenty_first_message_within_a_minute_is_throttled(start, client, clock):
    emu = start(robot())
    url = emu.webhook_url("ops")

    results = _burst(client, url, 20)
    clock.advance(30)
    twenty_first = post(client, url, text())

    assert results == [OK] * 20
    assert twenty_first == THROTTLED
    assert len(emu.messages("ops")) == 20


def test_penalty_rejects_everything_for_penalty_seconds_then_clears(start, client, clock):
    emu = start(robot())
    url = emu.webhook_url("ops")
    _burst(client, url, 20)
    assert post(client, url, text()) == THROTTLED

    clock.advance(120)
    after_two_minutes = post(client, url, text())
    clock.advance(479.9)
    just_before_the_end = post(client, url, text())
    clock.advance(0.1)
    after_ten_minutes = post(client, url, text())

    assert (after_two_minutes, just_before_the_end, after_ten_minutes) == (THROTTLED, THROTTLED, OK)


def test_penalty_length_is_configurable(start, client, clock):
    emu = start(robot(), penalty_seconds=90.0)
    url = emu.webhook_url("ops")
    _burst(client, url, 21)

    clock.advance(89)
    during = post(client, url, text())
    clock.advance(1)
    after = post(client, url, text())

    assert (during, after) == (THROTTLED, OK)


def test_penalty_is_answered_before_message_validation(start, client):
    emu = start(robot())
    url = emu.webhook_url("ops")
    _burst(client, url, 21)

    assert post(client, url, {"msgtype": "voice"}) == THROTTLED


@pytest.mark.parametrize(
    ("schedule", "probe_at", "expected"),
    [
        ([(0, 20)], 59.9, THROTTLED),
        ([(0, 20)], 60.0, OK),
        ([(50, 10), (59, 10)], 61, THROTTLED),  # a fixed per-minute window would allow this
        ([(50, 10), (59, 10)], 110, OK),  # the ten from t=50 have left the window
        ([(0, 10), (30, 10)], 61, OK),
        ([(0, 10), (30, 10)], 89, OK),
    ],
    ids=["full-window", "window-passed", "straddles-minute", "oldest-expired", "half-expired", "still-room"],
)
def test_window_slides_with_each_message(start, client, clock, schedule, probe_at, expected):
    emu = start(robot(), penalty_seconds=0.0)
    url = emu.webhook_url("ops")
    start_time = clock.now
    for at, count in schedule:
        clock.now = start_time + at
        assert _burst(client, url, count) == [OK] * count
    clock.now = start_time + probe_at

    assert post(client, url, text()) == expected


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [
        (130101, "send too fast, exceed 20 times per minute"),
        (410100, "发送速度太快而限流"),
        (660026, "sending too many messages per minute"),
    ],
)
def test_rate_limit_errcode_is_configurable(start, client, errcode, errmsg):
    emu = start(robot(), rate_limit_errcode=errcode)
    url = emu.webhook_url("ops")
    _burst(client, url, 20)

    assert post(client, url, text()) == answer(errcode, errmsg)
    assert post(client, url, text()) == answer(errcode, errmsg)


def test_rejected_messages_do_not_count_toward_the_window(start, client):
    emu = start(robot(keywords=["监控"]))
    url = emu.webhook_url("ops")

    refused = [post(client, url, text("no keyword")) for _ in range(25)]
    accepted = _burst(client, url, 20)

    assert {r["errcode"] for r in refused} == {310000}
    assert accepted == [OK] * 20


def test_each_robot_has_its_own_window(start, client):
    emu = start(robot("ops"), robot("dev", token=OTHER_TOKEN))
    _burst(client, emu.webhook_url("ops"), 21)

    assert post(client, emu.webhook_url("dev"), text()) == OK
    assert post(client, emu.webhook_url("ops"), text()) == THROTTLED


def test_custom_robot_limit_and_window(start, client, clock):
    emu = start(robot(rate_limit=2, rate_window_seconds=10.0), penalty_seconds=0.0)
    url = emu.webhook_url("ops")

    first_two = _burst(client, url, 2)
    third = post(client, url, text())
    clock.advance(10)
    later = post(client, url, text())

    assert (first_two, third, later) == ([OK, OK], THROTTLED, OK)


def test_reset_forgets_windows_and_penalties(start, client):
    emu = start(robot())
    url = emu.webhook_url("ops")
    _burst(client, url, 21)

    emu.reset()

    assert post(client, url, text()) == OK


@pytest.mark.parametrize("kwargs", [{"rate_limit_errcode": 429}, {"bad_token_errcode": 401}])
def test_unknown_errcode_configuration_is_refused(kwargs):
    with pytest.raises(ValueError, match="errcode must be one of"):
        Emulator([], **kwargs)


@pytest.mark.parametrize(("times", "window", "most"), [
    ([], 60.0, 0),
    ([5.0], 60.0, 1),
    ([0.0, 59.9, 60.0, 119.9], 60.0, 2),      # half-open: the send at 60.0 no longer shares a window with 0.0
    ([3.0, 1.0, 2.0, 100.0], 60.0, 3),          # any order
    ([0.0, 1.0, 1.0, 1.0, 61.0], 60.0, 4),
])
def test_max_in_window_counts_as_the_limiter_does(times, window, most):
    assert max_in_window(times, window) == most
    limiter = SlidingWindowLimiter(most or 1, window, penalty=0.0)
    assert all(limiter.admit(t) for t in sorted(times))    # that many per window: all admitted
