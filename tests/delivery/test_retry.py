"""``RetryPolicy.decide``: what to do after each kind of failure, and when. It returns a time; it never sleeps."""

from __future__ import annotations

import inspect

import pytest

from dingrelay.delivery.retry import Action, RetryPolicy
from dingrelay.dingtalk import errors
from dingrelay.dingtalk.errors import (
    DingTalkError,
    MessageInvalid,
    OpenApiError,
    RecipientsRejected,
    ServerBusy,
    TransportError,
    error_for,
    openapi_error_for,
)

NOW = 1_700_000_000.0

PAUSES = [
    pytest.param(error_for(130101, "send too fast", robot="ops"), id="RateLimited-130101"),
    pytest.param(error_for(410100, "发送速度太快而限流", robot="ops"), id="RateLimited-410100"),
    pytest.param(error_for(660026, "robot send too fast", robot="ops"), id="RateLimited-660026"),
]

RETRIES = [
    pytest.param(error_for(-1, "系统繁忙", robot="ops"), id="ServerBusy"),
    pytest.param(TransportError("robot ops: timed out talking to https://oapi.dingtalk.com/robot/send?access_token=***"),
                 id="TransportError-timeout"),
    pytest.param(TransportError("robot ops: DingTalk answered HTTP 502", status_code=502), id="TransportError-5xx"),
    pytest.param(error_for(310000, "invalid timestamp", robot="ops"), id="TimestampRejected"),
    # the app-robot OpenAPI: a refused token is renewed (the client retries once at once; then the worker)
    pytest.param(openapi_error_for(401, "InvalidAuthentication", "", robot="ops"), id="AccessTokenRejected"),
    pytest.param(openapi_error_for(429, "Throttling", "", robot="ops"), id="OpenApiRateLimited"),
    pytest.param(openapi_error_for(500, "systemError", "", robot="ops"), id="OpenApiServerError"),
]

#: Errors no retry can fix, and a word of the reason that names the cause.
DEAD = [
    pytest.param(error_for(310000, "keywords not in content", robot="ops", keywords=["监控"]), "keyword",
                 id="KeywordMissing"),
    pytest.param(error_for(310000, "sign not match", robot="ops"), "signature", id="SignatureRejected"),
    pytest.param(error_for(310000, "ip 1.2.3.4 not in whitelist", robot="ops"), "allow-list", id="IpNotAllowed"),
    pytest.param(error_for(310000, "something new", robot="ops"), "security settings", id="SecurityRejected"),
    pytest.param(error_for(300001, "token is not exist", robot="ops"), "access_token", id="TokenInvalid-300001"),
    pytest.param(error_for(400102, "机器人已停用", robot="ops"), "disabled", id="TokenInvalid-400102"),
    pytest.param(error_for(400013, "群已被解散", robot="ops"), "dissolved", id="TokenInvalid-400013"),
    pytest.param(error_for(300001, "session不存在", session=True), "expired", id="SessionExpired"),
    pytest.param(error_for(40035, "缺少参数 json", robot="ops"), "parameter", id="RequestInvalid-40035"),
    pytest.param(error_for(400105, "不支持的消息类型", robot="ops"), "msgtype", id="RequestInvalid-400105"),
    pytest.param(error_for(430101, "含有不安全的外链", robot="ops"), "unsafe", id="ContentRejected"),
    pytest.param(error_for(460101, "message too long", robot="ops"), "20000", id="TooLarge"),
    pytest.param(error_for(999999, "brand new failure", robot="ops"), "999999", id="ApiError-unknown-errcode"),
    pytest.param(MessageInvalid("robot 'gone' is no longer in the configuration; add it back", field="robot"),
                 "no longer in the configuration", id="MessageInvalid"),
    pytest.param(openapi_error_for(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret", robot="ops"),
                 "client_secret", id="AppCredentialsRejected"),
    pytest.param(openapi_error_for(403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", "", robot="ops"),
                 "permission", id="PermissionDenied"),
    pytest.param(openapi_error_for(400, "invalidParameter.openConversationId.invalid", "", robot="ops"),
                 "open_conversation_id", id="OpenApiRequestInvalid"),
    pytest.param(RecipientsRejected("invalidStaffIdList", "leaver01", status_code=200, robot="ops"), "user_ids",
                 id="RecipientsRejected"),
    pytest.param(OpenApiError("badTokenAnswer", "no accessToken", status_code=200, robot="ops"), "badTokenAnswer",
                 id="OpenApiError"),
]


def policy(**kwargs: object) -> RetryPolicy:
    return RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", PAUSES)
def test_rate_limited_pauses_the_robot_for_the_penalty(error: DingTalkError) -> None:
    decision = policy(penalty_seconds=600.0).decide(error, attempts=3, now=NOW)

    assert decision.action is Action.PAUSE
    assert decision.at == NOW + 600.0
    assert "rate-limited" in decision.reason


def test_the_pause_lasts_the_configured_penalty() -> None:
    decision = policy(penalty_seconds=90.0).decide(error_for(130101, "send too fast"), attempts=1, now=NOW)

    assert (decision.action, decision.at) == (Action.PAUSE, NOW + 90.0)


def test_rate_limited_pauses_even_after_max_attempts() -> None:
    """A throttled attempt is not the message's fault: it never uses up the message's attempts."""
    decision = policy(max_attempts=3).decide(error_for(130101, "send too fast"), attempts=3, now=NOW)

    assert decision.action is Action.PAUSE


@pytest.mark.parametrize("error", RETRIES)
@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_retryable_failures_back_off_exponentially_with_jitter(error: DingTalkError, attempts: int) -> None:
    ceiling = 2.0 * 2 ** (attempts - 1)
    low = policy(base_seconds=2.0, jitter=lambda: 0.0).decide(error, attempts=attempts, now=NOW)
    high = policy(base_seconds=2.0, jitter=lambda: 1.0).decide(error, attempts=attempts, now=NOW)

    assert (low.action, high.action) == (Action.RETRY, Action.RETRY)
    assert low.at == NOW + 0.5 * ceiling
    assert high.at == NOW + ceiling
    assert low.reason == str(error)


@pytest.mark.parametrize(("attempts", "low", "high"), [
    (1, 0.5, 1.0),
    (2, 1.0, 2.0),
    (3, 2.0, 4.0),
    (9, 128.0, 256.0),
    (10, 150.0, 300.0),   # capped at max_seconds
    (11, 150.0, 300.0),
])
def test_backoff_stays_between_half_and_all_of_the_capped_ceiling(attempts: int, low: float, high: float) -> None:
    p = policy(base_seconds=1.0, max_seconds=300.0)

    waits = [p.decide(ServerBusy(-1, "系统繁忙"), attempts=attempts, now=NOW).at - NOW for _ in range(200)]

    assert all(low <= w <= high for w in waits)
    assert len(set(waits)) > 1   # jittered: many workers do not retry in lockstep


@pytest.mark.parametrize(("error", "cause"), DEAD)
def test_non_retryable_failures_go_dead_at_once_with_a_reason_naming_the_cause(
        error: DingTalkError, cause: str) -> None:
    decision = policy().decide(error, attempts=1, now=NOW)

    assert decision.action is Action.DEAD
    assert decision.at == NOW
    assert cause in decision.reason
    assert decision.reason == str(error)


@pytest.mark.parametrize("error", RETRIES)
def test_retryable_failures_are_retried_until_the_horizon_however_many_attempts(error: DingTalkError) -> None:
    """An hour-long outage at a 5 s backoff cap is ~720 attempts: none of them may kill the message."""
    p = policy(give_up_after_seconds=86400.0, max_seconds=5.0)

    decisions = [p.decide(error, attempts=n, now=NOW + 5.0 * n, since=NOW) for n in range(1, 721)]

    assert {d.action for d in decisions} == {Action.RETRY}


@pytest.mark.parametrize("error", RETRIES)
def test_it_gives_up_at_the_horizon_naming_the_time_attempts_and_last_error(error: DingTalkError) -> None:
    p = policy(give_up_after_seconds=3600.0)

    before = p.decide(error, attempts=40, now=NOW + 3599.0, since=NOW)
    last = p.decide(error, attempts=41, now=NOW + 3600.0, since=NOW)

    assert before.action is Action.RETRY
    assert before.at == NOW + 3600.0   # the last try falls on the horizon, not past it
    assert last.action is Action.DEAD
    assert last.reason.startswith("gave up after 1.0 h and 41 attempts")
    assert "give_up_after_seconds" in last.reason
    assert str(error) in last.reason


@pytest.mark.parametrize("error", RETRIES)
def test_an_explicit_max_attempts_still_caps_retries(error: DingTalkError) -> None:
    p = policy(max_attempts=4)

    before = p.decide(error, attempts=3, now=NOW, since=NOW)
    last = p.decide(error, attempts=4, now=NOW, since=NOW)

    assert before.action is Action.RETRY
    assert last.action is Action.DEAD
    assert last.reason.startswith("gave up after 4 attempts")
    assert str(error) in last.reason


def test_the_tables_cover_every_error_class_in_dingtalk_errors() -> None:
    tested = {type(p.values[0]) for p in (*PAUSES, *RETRIES, *DEAD)}
    every = {cls for _, cls in inspect.getmembers(errors, inspect.isclass)
             if issubclass(cls, DingTalkError) and cls.__module__ == errors.__name__}

    assert tested == every - {DingTalkError}, "add the new error class to a table above"
