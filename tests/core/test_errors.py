"""The error tree: every errcode of PROTOCOL.md §1.8 becomes the right exception, and says what to fix."""

from __future__ import annotations

import pytest
from errcode_table import ERRCODE_CASES

from dingrelay.dingtalk import (
    ApiError,
    DingTalkError,
    KeywordMissing,
    MessageInvalid,
    RateLimited,
    SecurityRejected,
    SessionExpired,
    TokenInvalid,
    TransportError,
    error_for,
)
from dingrelay.dingtalk.errors import BAD_TOKEN_ERRCODES, RATE_LIMIT_ERRCODES


@pytest.mark.parametrize(("errcode", "errmsg", "error", "retryable"), ERRCODE_CASES)
def test_error_for_maps_every_documented_errcode(errcode: int, errmsg: str, error: type[ApiError],
                                                 retryable: bool) -> None:
    exc = error_for(errcode, errmsg, robot="ops")
    assert type(exc) is error
    assert exc.retryable is retryable
    assert (exc.errcode, exc.errmsg) == (errcode, errmsg)
    assert isinstance(exc, ApiError)
    assert isinstance(exc, DingTalkError)
    assert f"errcode {errcode}" in str(exc)
    assert "robot ops" in str(exc)


@pytest.mark.parametrize("errcode", sorted(RATE_LIMIT_ERRCODES))
def test_every_rate_limit_errcode_waits_out_the_ten_minute_throttle(errcode: int) -> None:
    exc = error_for(errcode, "whatever the wording")
    assert isinstance(exc, RateLimited)
    assert exc.retry_after == 600
    assert exc.retryable
    assert "rate-limited" in str(exc)
    assert "wait 600s" in str(exc)


@pytest.mark.parametrize("errcode", sorted(BAD_TOKEN_ERRCODES))
def test_a_bad_token_errcode_is_token_invalid_on_a_webhook(errcode: int) -> None:
    exc = error_for(errcode, "token is not exist")
    assert type(exc) is TokenInvalid
    assert not exc.retryable
    assert "access_token does not exist" in str(exc)


@pytest.mark.parametrize("errcode", sorted(BAD_TOKEN_ERRCODES))
def test_a_bad_token_errcode_on_a_session_webhook_means_the_session_expired(errcode: int) -> None:
    exc = error_for(errcode, "session 不存在", session=True)
    assert type(exc) is SessionExpired
    assert not exc.retryable
    assert "sessionWebhook has expired" in str(exc)


def test_rate_limit_stays_rate_limit_on_a_session_webhook() -> None:
    assert isinstance(error_for(410100, "发送速度太快而限流", session=True), RateLimited)


@pytest.mark.parametrize(
    ("errcode", "errmsg", "fix"),
    [
        pytest.param(310000, "keywords not in content", "requires keyword 监控", id="keyword-names-it"),
        pytest.param(310000, "sign not match", "signature was refused", id="signature"),
        pytest.param(310000, "sign not match", "URL-encoded exactly once", id="signature-encoding"),
        pytest.param(310000, "invalid timestamp", "clock", id="timestamp"),
        pytest.param(310000, "ip 203.0.113.7 not in whitelist", "IP allow-list", id="ip"),
        pytest.param(310000, "unheard-of wording", "keyword, 加签 signature, timestamp or IP allow-list",
                     id="unknown-310000-lists-all-four"),
        pytest.param(410100, "发送速度太快而限流", "rate-limited", id="rate-limit"),
        pytest.param(300005, "token is not exist", "webhook URL is wrong", id="token"),
        pytest.param(400102, "机器人已停用", "robot is disabled", id="disabled"),
        pytest.param(400106, "机器人不存在", "add it again", id="removed"),
        pytest.param(400013, "群已被解散", "dissolved", id="dissolved"),
        pytest.param(43004, "无效的HTTP HEADER Content-Type", "Content-Type header must be application/json",
                     id="content-type"),
        pytest.param(40035, "缺少参数 json", "not valid JSON", id="missing-param"),
        pytest.param(400105, "不支持的消息类型", "unsupported msgtype", id="msgtype"),
        pytest.param(400402, "参数 markdown --》 title 缺失", "required field is missing", id="missing-field"),
        pytest.param(430101, "含有不安全的外链", "unsafe", id="unsafe-link"),
        pytest.param(460101, "message too long, exceed 20000 bytes", "shorten it", id="too-large"),
        pytest.param(-1, "系统繁忙", "retry later", id="busy"),
    ],
)
def test_every_error_message_says_what_to_fix(errcode: int, errmsg: str, fix: str) -> None:
    exc = error_for(errcode, errmsg, keywords=["监控"])
    assert fix in str(exc)
    assert fix in exc.reason


def test_keyword_missing_names_every_configured_keyword() -> None:
    exc = error_for(310000, "keywords not in content", robot="ops", keywords=["监控", "报警"])
    assert isinstance(exc, KeywordMissing)
    assert exc.keywords == ["监控", "报警"]
    assert "robot ops requires keyword 监控 or 报警" in str(exc)


def test_keyword_missing_without_known_keywords_points_at_the_robot_settings() -> None:
    assert "自定义关键词" in str(KeywordMissing())


def test_unknown_errcode_is_a_plain_api_error_that_quotes_dingtalk() -> None:
    exc = error_for(123456, "something new", robot="ops")
    assert type(exc) is ApiError
    assert not exc.retryable
    assert "errcode 123456: something new" in str(exc)


def test_unknown_errcode_quotes_at_most_200_characters_of_errmsg() -> None:
    exc = error_for(123456, "x" * 1000)
    assert "x" * 200 in str(exc)
    assert "x" * 201 not in str(exc)


def test_api_error_repr_shows_errcode_and_errmsg() -> None:
    assert repr(error_for(410100, "发送速度太快而限流")) == "RateLimited(errcode=410100, errmsg='发送速度太快而限流')"


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (TransportError("connection refused"), True),
        (MessageInvalid("text.content is required", field="text.content"), False),
        (SecurityRejected(310000, "?"), False),
    ],
)
def test_errors_outside_the_errcode_table_say_whether_to_retry(error: DingTalkError, retryable: bool) -> None:
    assert isinstance(error, DingTalkError)
    assert error.retryable is retryable


def test_transport_error_keeps_the_http_status() -> None:
    assert TransportError("DingTalk answered HTTP 502", status_code=502).status_code == 502
