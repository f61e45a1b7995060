"""RobotClient against httpx.MockTransport and a fake clock: signing, errcodes, transport failures, secrecy."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from core_fakes import SECRET, SESSION_KEY, SESSION_WEBHOOK, TOKEN, WEBHOOK, FakeClock, Recorder
from errcode_table import ERRCODE_CASES
from hypothesis import given
from hypothesis import strategies as st

from dingrelay.dingtalk import (
    ApiError,
    KeywordMissing,
    Markdown,
    RateLimited,
    Robot,
    RobotClient,
    SessionExpired,
    Text,
    TokenInvalid,
    TransportError,
    signing,
)
from dingrelay.dingtalk.client import encode_query

ALERT = Text(content="监控报警: disk 91% on web-1")


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


# --- signing on the wire -------------------------------------------------------------------------------------


def test_a_signed_send_keeps_the_access_token_and_adds_timestamp_and_sign(
    client: RobotClient, recorder: Recorder, robot: Robot
) -> None:
    client.send(robot, ALERT)
    q = query(recorder.last)
    assert q["access_token"] == [TOKEN]
    assert q["timestamp"] == ["1700000000000"]
    assert q["sign"] == ["TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="]
    assert recorder.last.url.path == "/robot/send"
    assert recorder.last.url.host == "oapi.dingtalk.com"


@pytest.mark.parametrize(
    ("now", "encoded"),
    [
        pytest.param(1_700_000_000.0, "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D", id="slash"),
        pytest.param(1_700_000_000.001, "h9I8htdbvJCasKF0f8Gu%2Ba2Cr5fjl9T%2Bpzb6hx3n%2BpE%3D", id="plus"),
    ],
)
def test_the_sign_is_url_encoded_exactly_once_in_the_request_url(
    client: RobotClient, recorder: Recorder, robot: Robot, clock: FakeClock, now: float, encoded: str
) -> None:
    clock.now = now
    client.send(robot, ALERT)
    raw_query = recorder.last.url.query.decode()
    assert f"&sign={encoded}" in raw_query
    assert "%25" not in raw_query  # a second encoding would turn %2B into %252B


def test_each_send_is_signed_afresh_with_the_clock_at_that_moment(
    client: RobotClient, recorder: Recorder, robot: Robot, clock: FakeClock
) -> None:
    client.send(robot, ALERT)
    clock.now += 61
    client.send(robot, ALERT)
    first, second = (query(r) for r in recorder.requests)
    assert first["timestamp"] == ["1700000000000"]
    assert second["timestamp"] == ["1700000061000"]
    assert first["sign"] != second["sign"]
    for q in (first, second):
        signing.verify(SECRET, q["timestamp"][0], q["sign"][0], now=int(q["timestamp"][0]))


def test_send_payload_is_signed_afresh_too(client: RobotClient, recorder: Recorder, robot: Robot,
                                            clock: FakeClock) -> None:
    client.send_payload(robot, ALERT.to_json())
    clock.now += 3601
    client.send_payload(robot, ALERT.to_json())
    stamps = [query(r)["timestamp"][0] for r in recorder.requests]
    assert stamps == ["1700000000000", "1700003601000"]
    assert recorder.last.content == ALERT.to_json()


def test_a_robot_without_secret_sends_no_timestamp_or_sign(client: RobotClient, recorder: Recorder) -> None:
    client.send(Robot(webhook=WEBHOOK), ALERT)
    assert str(recorder.last.url) == WEBHOOK


def test_a_send_posts_the_utf8_json_body_with_json_content_type(
    client: RobotClient, recorder: Recorder, robot: Robot
) -> None:
    client.send(robot, ALERT)
    assert recorder.last.method == "POST"
    assert recorder.last.headers["Content-Type"] == "application/json; charset=utf-8"
    assert recorder.last.content == '{"msgtype":"text","text":{"content":"监控报警: disk 91% on web-1"}}'.encode()


def test_a_successful_send_returns_a_receipt_timed_by_the_clock(
    recorder: Recorder, clock: FakeClock, robot: Robot
) -> None:
    def slow_ok(request: httpx.Request) -> httpx.Response:
        clock.now += 0.25
        return httpx.Response(200, json={"errmsg": "ok", "errcode": 0})

    with RobotClient(transport=httpx.MockTransport(slow_ok), clock=clock) as c:
        receipt = c.send(robot, ALERT)
    assert (receipt.errcode, receipt.errmsg) == (0, "ok")
    assert receipt.sent_at == 1_700_000_000.0
    assert receipt.elapsed == pytest.approx(0.25)


@pytest.mark.parametrize("errcode", [0, "0"], ids=["int", "string"])
def test_errcode_zero_is_success_as_int_or_string(
    client: RobotClient, recorder: Recorder, robot: Robot, errcode: int | str
) -> None:
    recorder.reply_json({"errcode": errcode, "errmsg": "ok"})
    assert client.send(robot, ALERT).errcode == 0


# --- keywords before sending ---------------------------------------------------------------------------------


def test_a_message_without_the_keyword_is_refused_before_any_request(
    client: RobotClient, recorder: Recorder, robot: Robot
) -> None:
    with pytest.raises(KeywordMissing) as caught:
        client.send(robot, Text(content="disk 91% on web-1"))
    assert recorder.requests == []
    assert "robot ops requires keyword 监控" in str(caught.value)


def test_the_keyword_pre_check_can_be_skipped(client: RobotClient, recorder: Recorder, robot: Robot) -> None:
    client.send(robot, Text(content="disk 91% on web-1"), check_keywords_first=False)
    assert len(recorder.requests) == 1


# --- DingTalk's errcodes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("errcode", "errmsg", "error", "retryable"), ERRCODE_CASES)
def test_http_200_with_a_nonzero_errcode_raises_the_mapped_error(
    client: RobotClient, recorder: Recorder, robot: Robot,
    errcode: int, errmsg: str, error: type[ApiError], retryable: bool,
) -> None:
    recorder.reply_json({"errcode": errcode, "errmsg": errmsg})
    with pytest.raises(ApiError) as caught:
        client.send(robot, ALERT)
    assert type(caught.value) is error
    assert caught.value.retryable is retryable
    assert caught.value.errcode == errcode
    assert caught.value.robot == "ops"


def test_keyword_missing_from_dingtalk_names_the_robots_keyword(
    client: RobotClient, recorder: Recorder, robot: Robot
) -> None:
    recorder.reply_json({"errcode": 310000, "errmsg": "keywords not in content"})
    with pytest.raises(KeywordMissing, match="requires keyword 监控"):
        client.send(robot, ALERT)


@pytest.mark.parametrize("errcode", [130101, 410100, 660026])
def test_rate_limited_answers_say_how_long_to_wait(
    client: RobotClient, recorder: Recorder, robot: Robot, errcode: int
) -> None:
    recorder.reply_json({"errcode": errcode, "errmsg": "send too fast"})
    with pytest.raises(RateLimited) as caught:
        client.send(robot, ALERT)
    assert caught.value.retry_after == 600
    assert "rate-limited" in str(caught.value)
    assert "600s" in str(caught.value)


def test_a_string_errcode_is_read_as_a_number(client: RobotClient, recorder: Recorder, robot: Robot) -> None:
    recorder.reply_json({"errcode": "410100", "errmsg": "发送速度太快而限流"})
    with pytest.raises(RateLimited):
        client.send(robot, ALERT)


# --- sessionWebhook replies ----------------------------------------------------------------------------------


def test_reply_posts_to_the_session_webhook_without_signing(client: RobotClient, recorder: Recorder) -> None:
    receipt = client.reply(SESSION_WEBHOOK, Markdown(title="回复", text="收到"))
    assert receipt.errcode == 0
    assert str(recorder.last.url) == SESSION_WEBHOOK
    assert recorder.last_json() == {"msgtype": "markdown", "markdown": {"title": "回复", "text": "收到"}}


def test_reply_accepts_an_already_serialised_body(client: RobotClient, recorder: Recorder) -> None:
    client.reply(SESSION_WEBHOOK, b'{"msgtype":"text","text":{"content":"ok"}}')
    assert recorder.last_json() == {"msgtype": "text", "text": {"content": "ok"}}


@pytest.mark.parametrize("errcode", [300001, 300005, 400101])
def test_a_bad_token_answer_to_a_reply_means_the_session_expired(
    client: RobotClient, recorder: Recorder, errcode: int
) -> None:
    recorder.reply_json({"errcode": errcode, "errmsg": "session 不存在"})
    with pytest.raises(SessionExpired) as caught:
        client.reply(SESSION_WEBHOOK, Text(content="收到"))
    assert not caught.value.retryable
    assert SESSION_KEY not in str(caught.value)


def test_the_same_errcode_on_a_webhook_is_a_bad_token(client: RobotClient, recorder: Recorder, robot: Robot) -> None:
    recorder.reply_json({"errcode": 300001, "errmsg": "token is not exist"})
    with pytest.raises(TokenInvalid):
        client.send(robot, ALERT)


# --- answers that are not DingTalk's -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "content"),
    [
        pytest.param(500, b'{"errcode":0,"errmsg":"ok"}', id="500-even-with-json"),
        pytest.param(502, b"<html>Bad Gateway</html>", id="502-html"),
        pytest.param(503, b"", id="503-empty"),
        pytest.param(200, b"<html>captive portal</html>", id="200-html"),
        pytest.param(200, b"", id="200-empty"),
        pytest.param(200, b"[0]", id="200-json-list"),
        pytest.param(200, b'{"status":"ok"}', id="200-json-without-errcode"),
        pytest.param(200, b'{"errcode":"abc","errmsg":"?"}', id="200-non-numeric-errcode"),
        pytest.param(404, b"not found", id="404-text"),
    ],
)
def test_an_answer_without_a_dingtalk_errcode_is_a_retryable_transport_error(
    client: RobotClient, recorder: Recorder, robot: Robot, status: int, content: bytes
) -> None:
    recorder.reply_raw(content, status=status)
    with pytest.raises(TransportError) as caught:
        client.send(robot, ALERT)
    assert caught.value.retryable
    assert caught.value.status_code == status
    assert f"HTTP {status}" in str(caught.value)


@pytest.mark.parametrize(
    ("failure", "wording"),
    [
        pytest.param(httpx.ConnectError, "could not reach", id="connect"),
        pytest.param(httpx.ReadError, "could not reach", id="read"),
        pytest.param(httpx.RemoteProtocolError, "could not reach", id="protocol"),
        pytest.param(httpx.ConnectTimeout, "timed out", id="connect-timeout"),
        pytest.param(httpx.ReadTimeout, "timed out", id="read-timeout"),
    ],
)
def test_a_request_that_gets_no_answer_is_a_retryable_transport_error(
    client: RobotClient, recorder: Recorder, robot: Robot, failure: type[httpx.TransportError], wording: str
) -> None:
    recorder.raise_(lambda request: failure(f"boom talking to {request.url}", request=request))
    with pytest.raises(TransportError) as caught:
        client.send(robot, ALERT)
    assert caught.value.retryable
    assert caught.value.status_code is None
    assert wording in str(caught.value)
    assert str(caught.value).startswith("robot ops: ")


# --- secrets stay secret -------------------------------------------------------------------------------------


def _assert_no_secrets(text: str) -> None:
    for secret in (TOKEN, SECRET, SESSION_KEY, "TSZbRFUuvaSQaRKUpF970OPCb2"):
        assert secret not in text


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout],
)
def test_a_failed_connection_never_prints_the_token_or_sign(
    client: RobotClient, recorder: Recorder, robot: Robot, failure: type[httpx.TransportError]
) -> None:
    recorder.raise_(lambda request: failure(f"[Errno 111] failed to connect to {request.url}", request=request))
    with pytest.raises(TransportError) as caught:
        client.send(robot, ALERT)
    _assert_no_secrets(str(caught.value))
    _assert_no_secrets(repr(caught.value))
    assert "access_token=0123****" in str(caught.value)  # still says which robot URL failed


def test_a_failed_reply_never_prints_the_session_key(client: RobotClient, recorder: Recorder) -> None:
    recorder.raise_(lambda request: httpx.ConnectError(f"failed to connect to {request.url}", request=request))
    with pytest.raises(TransportError) as caught:
        client.reply(SESSION_WEBHOOK, Text(content="收到"))
    _assert_no_secrets(str(caught.value))


def test_an_errmsg_echoing_a_webhook_url_is_masked(client: RobotClient, recorder: Recorder, robot: Robot) -> None:
    recorder.reply_json({"errcode": 123456, "errmsg": f"bad request to {WEBHOOK}"})
    with pytest.raises(ApiError) as caught:
        client.send(robot, ALERT)
    _assert_no_secrets(str(caught.value))
    _assert_no_secrets(repr(caught.value))


def test_logs_never_contain_the_token_sign_or_session(
    client: RobotClient, recorder: Recorder, robot: Robot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        client.send(robot, ALERT)
        client.reply(SESSION_WEBHOOK, Text(content="收到"))
        recorder.reply_json({"errcode": 410100, "errmsg": "发送速度太快而限流"})
        with pytest.raises(RateLimited):
            client.send(robot, ALERT)
        recorder.raise_(lambda request: httpx.ConnectError(f"failed to connect to {request.url}", request=request))
        with pytest.raises(TransportError):
            client.send(robot, ALERT)
    assert "HTTP Request: POST" in caplog.text  # httpx did log the requests ...
    _assert_no_secrets(caplog.text)  # ... with their secrets masked
    _assert_no_secrets(json.dumps([r.getMessage() for r in caplog.records], ensure_ascii=False))


def test_robot_repr_masks_the_token_and_hides_the_secret(robot: Robot) -> None:
    for text in (repr(robot), str(robot), f"{robot}"):
        _assert_no_secrets(text)
        assert "ops" in text
        assert "signed=True" in text


@pytest.mark.parametrize(("webhook", "kept"), [
    pytest.param(WEBHOOK, {"access_token": [TOKEN]}, id="access-token"),
    pytest.param(f"{WEBHOOK}&", {"access_token": [TOKEN]}, id="trailing-ampersand"),
    pytest.param(f"{WEBHOOK}&timestamp=1&sign=old", {"access_token": [TOKEN]}, id="stale-sign-replaced"),
    pytest.param(f"{WEBHOOK}&sign=old#frag", {"access_token": [TOKEN]}, id="fragment"),
    pytest.param("https://oapi.dingtalk.com/robot/send?", {}, id="empty-query"),
    pytest.param("https://proxy.example.com/robot/send", {}, id="no-query"),
])
def test_the_signature_is_merged_into_whatever_query_the_webhook_has(
    client: RobotClient, recorder: Recorder, webhook: str, kept: dict[str, list[str]]
) -> None:
    """Each key once: the webhook's own query is kept, and a timestamp or sign it already had is replaced."""
    client.send(Robot(name="ops", webhook=webhook, secret=SECRET), ALERT)

    q = query(recorder.last)
    assert q == {**kept, "timestamp": ["1700000000000"], "sign": ["TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="]}
    assert "&&" not in str(recorder.last.url) and "?&" not in str(recorder.last.url)


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=60), max_size=4)
       | st.fixed_dictionaries({"timestamp": st.integers(0, 10**13).map(str),
                                "sign": st.binary(min_size=32, max_size=32).map(
                                    lambda b: base64.b64encode(b).decode())}))
def test_the_signed_query_is_encoded_as_urlencode_would(params: dict[str, str]) -> None:
    assert encode_query(params) == urlencode(params)
