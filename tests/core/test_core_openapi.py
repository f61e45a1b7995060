"""The app-robot OpenAPI client against httpx.MockTransport and a fake clock: the token cache, the msgKey mapping,
the error tree and secrecy."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import httpx
import pytest
from core_fakes import FakeClock

from dingrelay.dingtalk import (
    AccessTokenRejected,
    ActionCard,
    ActionCardButton,
    App,
    AppCredentialsRejected,
    AppRobot,
    At,
    FeedCard,
    FeedCardLink,
    Link,
    Markdown,
    MessageInvalid,
    MultiActionCard,
    OpenApiClient,
    OpenApiRateLimited,
    OpenApiRequestInvalid,
    OpenApiServerError,
    PermissionDenied,
    RecipientsRejected,
    Secret,
    Text,
    TokenCache,
    TransportError,
    openapi_error_for,
    to_msg_key,
)
from dingrelay.dingtalk.tokens import AccessToken

APP_SECRET = "appSecret-very-secret-0123456789"
API = "https://api.example.test"
APP = App("dingappkey01", Secret(APP_SECRET), api=API)
GROUP = AppRobot("oncall", APP, robot_code="dingappkey01", open_conversation_id="cidAsXSBLnA==")
ALERT = Text(content="监控报警: disk 91% on web-1")


class FakeDingTalk:
    """The OpenAPI's answers: tokens numbered tok-1, tok-2, …; ``refuse`` makes a send answer InvalidAuthentication
    for the tokens named; ``send_answer`` overrides a send's answer."""

    def __init__(self, expire_in: int = 7200) -> None:
        self.expire_in = expire_in
        self.token_requests: list[dict[str, Any]] = []
        self.sends: list[httpx.Request] = []
        self.refuse: set[str] = set()
        self.send_answer: httpx.Response | None = None
        self.token_answer: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1.0/oauth2/accessToken":
            self.token_requests.append(json.loads(request.content))
            if self.token_answer is not None:
                return self.token_answer
            return httpx.Response(200, json={"accessToken": f"tok-{len(self.token_requests)}",
                                             "expireIn": self.expire_in})
        self.sends.append(request)
        if request.headers.get("x-acs-dingtalk-access-token") in self.refuse:
            return httpx.Response(401, json={"code": "InvalidAuthentication", "message": "不合法的access_token",
                                             "requestid": "r1"})
        if self.send_answer is not None:
            return self.send_answer
        return httpx.Response(200, json={"processQueryKey": "pqk", "invalidStaffIdList": [],
                                         "flowControlledStaffIdList": []})

    def tokens_used(self) -> list[str | None]:
        return [r.headers.get("x-acs-dingtalk-access-token") for r in self.sends]


@pytest.fixture
def ding() -> FakeDingTalk:
    return FakeDingTalk()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(ding: FakeDingTalk, clock: FakeClock) -> OpenApiClient:
    with OpenApiClient(transport=httpx.MockTransport(ding), clock=clock) as client:
        yield client


# --- the token cache ------------------------------------------------------------------------------------------


def test_fifty_sends_fetch_one_token(api: OpenApiClient, ding: FakeDingTalk) -> None:
    for _ in range(50):
        api.send(GROUP, ALERT)
    assert len(ding.token_requests) == 1
    assert ding.token_requests[0] == {"appKey": "dingappkey01", "appSecret": APP_SECRET}
    assert set(ding.tokens_used()) == {"tok-1"} and len(ding.sends) == 50


def test_a_token_is_renewed_shortly_before_it_expires(api: OpenApiClient, ding: FakeDingTalk,
                                                       clock: FakeClock) -> None:
    api.send(GROUP, ALERT)
    clock.now += 7200 - 301     # still more than the 5-minute margin left
    api.send(GROUP, ALERT)
    clock.now += 2              # within the margin: renewed before DingTalk would refuse it
    api.send(GROUP, ALERT)
    assert ding.tokens_used() == ["tok-1", "tok-1", "tok-2"]


def test_a_short_lived_token_keeps_a_tenth_of_its_life_as_margin(clock: FakeClock) -> None:
    fetched: list[int] = []

    def fetch(app: App) -> AccessToken:
        fetched.append(1)
        return AccessToken(Secret(f"t{len(fetched)}"), 100.0)

    cache = TokenCache(fetch, clock=clock)
    first = cache.get(APP)
    clock.now += 89
    assert cache.get(APP) == first
    clock.now += 2
    assert cache.get(APP) != first and len(fetched) == 2


def test_a_refused_token_is_refreshed_once_and_the_call_retried(api: OpenApiClient, ding: FakeDingTalk) -> None:
    api.send(GROUP, ALERT)
    ding.refuse = {"tok-1"}   # DingTalk revoked it before its time
    receipt = api.send(GROUP, ALERT)
    assert receipt.errcode == 0
    assert ding.tokens_used() == ["tok-1", "tok-1", "tok-2"]
    assert len(ding.token_requests) == 2


def test_a_second_refusal_is_raised_not_retried_forever(api: OpenApiClient, ding: FakeDingTalk) -> None:
    ding.refuse = {"tok-1", "tok-2", "tok-3"}
    with pytest.raises(AccessTokenRejected) as caught:
        api.send(GROUP, ALERT)
    assert ding.tokens_used() == ["tok-1", "tok-2"]
    assert caught.value.retryable


def test_threads_share_one_token_fetch(ding: FakeDingTalk, clock: FakeClock) -> None:
    started = threading.Event()
    release = threading.Event()
    fetched: list[str] = []

    def slow_fetch(app: App) -> AccessToken:
        fetched.append(app.client_id)
        started.set()
        release.wait(5)
        return AccessToken(Secret("shared"), 7200.0)

    cache = TokenCache(slow_fetch, clock=clock)
    got: list[Secret] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(APP))) for _ in range(8)]
    threads[0].start()
    started.wait(5)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert fetched == ["dingappkey01"]
    assert [s.reveal() for s in got] == ["shared"] * 8


def test_invalidating_a_token_another_thread_already_replaced_keeps_the_new_one(clock: FakeClock) -> None:
    n = iter(range(1, 10))
    cache = TokenCache(lambda app: AccessToken(Secret(f"t{next(n)}"), 7200.0), clock=clock)
    old = cache.get(APP)
    cache.invalidate(APP, old)
    new = cache.get(APP)
    cache.invalidate(APP, old)      # a second thread that saw the old token refused
    assert cache.get(APP) == new and new.reveal() == "t2"


def test_bad_credentials_name_the_robot_and_never_the_secret(api: OpenApiClient, ding: FakeDingTalk) -> None:
    ding.token_answer = httpx.Response(400, json={"code": "invalidClientIdOrSecret",
                                                  "message": "无效的clientId或者clientSecret", "requestid": "x"})
    with pytest.raises(AppCredentialsRejected) as caught:
        api.send(GROUP, ALERT)
    error = caught.value
    assert not error.retryable
    assert "robot oncall" in str(error) and "client_secret" in str(error)
    for shown in (str(error), repr(error), repr(APP), repr(GROUP)):
        assert APP_SECRET not in shown
    assert not ding.sends


def test_an_access_token_never_shows_in_an_error(api: OpenApiClient, ding: FakeDingTalk) -> None:
    ding.send_answer = httpx.Response(400, json={"code": "invalidParameter.robotCode.auth",
                                                 "message": "robotCode tok-1 无权限", "requestid": "x"})
    with pytest.raises(OpenApiRequestInvalid) as caught:
        api.send(GROUP, ALERT)
    assert "tok-1" not in str(caught.value) and "robot_code" in str(caught.value)


# --- the error tree ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code", "kind", "retryable"), [
    (400, "invalidClientIdOrSecret", AppCredentialsRejected, False),
    (401, "InvalidAuthentication", AccessTokenRejected, True),
    (429, "Throttling", OpenApiRateLimited, True),
    (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", OpenApiRateLimited, True),
    (403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", PermissionDenied, False),
    (400, "invalidParameter.msgParam.invalid", OpenApiRequestInvalid, False),
    (400, "invalidParameter.openConversationId.invalid", OpenApiRequestInvalid, False),
    (500, "systemError", OpenApiServerError, True),
])
def test_each_openapi_code_says_whether_a_retry_helps(status: int, code: str, kind: type, retryable: bool) -> None:
    error = openapi_error_for(status, code, "…", robot="oncall")
    assert type(error) is kind and error.retryable is retryable
    assert error.code == code and error.errcode is None and error.status_code == status


def test_a_5xx_without_json_is_a_transport_error(api: OpenApiClient, ding: FakeDingTalk) -> None:
    ding.send_answer = httpx.Response(502, content=b"<html>bad gateway</html>")
    with pytest.raises(TransportError):
        api.send(GROUP, ALERT)


# --- batchSend ---------------------------------------------------------------------------------------------------


def people(*ids: str) -> AppRobot:
    return AppRobot("people", APP, robot_code="dingappkey01", user_ids=ids)


def test_batch_send_reports_invalid_and_flow_controlled_users(api: OpenApiClient, ding: FakeDingTalk) -> None:
    ding.send_answer = httpx.Response(200, json={"processQueryKey": "q", "invalidStaffIdList": ["ghost"],
                                                 "flowControlledStaffIdList": ["busy"]})
    receipt = api.send(people("manager1234", "ghost", "busy"), ALERT)
    assert receipt.invalid_user_ids == ("ghost",) and receipt.flow_controlled_user_ids == ("busy",)  # type: ignore[attr-defined]
    assert "ghost" in receipt.errmsg and "busy" in receipt.errmsg
    body = json.loads(ding.sends[0].content)
    assert body["userIds"] == ["manager1234", "ghost", "busy"] and body["robotCode"] == "dingappkey01"


def test_batch_send_with_every_user_invalid_is_not_retried(api: OpenApiClient, ding: FakeDingTalk) -> None:
    ding.send_answer = httpx.Response(200, json={"processQueryKey": "q", "invalidStaffIdList": ["ghost"]})
    with pytest.raises(RecipientsRejected) as caught:
        api.send(people("ghost"), ALERT)
    assert not caught.value.retryable and "user_ids" in str(caught.value)


def test_more_than_twenty_users_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="at most 20 user_ids"):
        people(*[f"u{i}" for i in range(21)])


# --- msgKey / msgParam -----------------------------------------------------------------------------------------


def buttons(n: int) -> list[ActionCardButton]:
    return [ActionCardButton(title=f"按钮{i}", actionURL=f"https://e.com/{i}") for i in range(1, n + 1)]


@pytest.mark.parametrize(("message", "key", "param"), [
    (Text(content="监控报警"), "sampleText", {"content": "监控报警"}),
    (Markdown(title="日报", text="## 日报"), "sampleMarkdown", {"title": "日报", "text": "## 日报"}),
    (Link(title="周报", text="CPU", messageUrl="https://e.com/r"), "sampleLink",
     {"title": "周报", "text": "CPU", "messageUrl": "https://e.com/r", "picUrl": ""}),
    (ActionCard(title="故障", text="服务中断", singleTitle="查看", singleURL="https://e.com/i"), "sampleActionCard",
     {"title": "故障", "text": "服务中断", "singleTitle": "查看", "singleURL": "https://e.com/i"}),
    (MultiActionCard(title="发布?", text="v2", btns=buttons(1)), "sampleActionCard",
     {"title": "发布?", "text": "v2", "singleTitle": "按钮1", "singleURL": "https://e.com/1"}),
    (MultiActionCard(title="发布?", text="v2", btns=buttons(3)), "sampleActionCard3",
     {"title": "发布?", "text": "v2", "actionTitle1": "按钮1", "actionURL1": "https://e.com/1",
      "actionTitle2": "按钮2", "actionURL2": "https://e.com/2", "actionTitle3": "按钮3", "actionURL3": "https://e.com/3"}),
])
def test_each_message_type_maps_to_its_msg_key(message: Any, key: str, param: dict[str, Any]) -> None:
    mapped = to_msg_key(message)
    assert mapped.msg_key == key and json.loads(mapped.msg_param) == param
    assert to_msg_key(message.to_json()) == mapped   # a stored webhook body maps the same


def test_five_buttons_map_and_six_are_refused() -> None:
    assert to_msg_key(MultiActionCard(title="t", text="x", btns=buttons(5))).msg_key == "sampleActionCard5"
    with pytest.raises(MessageInvalid, match="at most 5 buttons"):
        to_msg_key(MultiActionCard(title="t", text="x", btns=buttons(6)))


@pytest.mark.parametrize(("message", "says"), [
    (FeedCard(links=[FeedCardLink(title="a", messageURL="https://e.com", picURL="https://e.com/p.png")]),
     "cannot send a feedCard"),
    (Text(content="监控报警", at=At(atMobiles=["13800000000"])), "cannot @mention"),
    (Markdown(title="t", text="x", at=At(isAtAll=True)), "cannot @mention"),
    (Text(content="监控报警 " + "长" * 5100), "msgParam is"),
])
def test_what_cannot_map_is_refused_before_sending(api: OpenApiClient, ding: FakeDingTalk, message: Any,
                                                   says: str) -> None:
    with pytest.raises(MessageInvalid, match=says):
        api.send(GROUP, message)
    assert not ding.sends and not ding.token_requests


def test_a_group_send_carries_robot_code_conversation_and_a_json_string_param(api: OpenApiClient,
                                                                            ding: FakeDingTalk) -> None:
    api.send(GROUP, ALERT)
    sent = ding.sends[0]
    assert sent.url == f"{API}/v1.0/robot/groupMessages/send"
    body = json.loads(sent.content)
    assert body == {"robotCode": "dingappkey01", "openConversationId": "cidAsXSBLnA==", "msgKey": "sampleText",
                    "msgParam": json.dumps({"content": ALERT.content}, ensure_ascii=False, separators=(",", ":"))}


def test_neither_the_secret_nor_a_token_reaches_the_log(api: OpenApiClient, ding: FakeDingTalk,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.send(GROUP, ALERT)
    ding.refuse = {"tok-1"}
    api.send(GROUP, ALERT)              # logs the refusal and the renewal
    api.send(people("manager1234", "ghost"), ALERT)
    assert caplog.records
    for secret in (APP_SECRET, "tok-1", "tok-2"):
        assert secret not in caplog.text
