"""The emulator's app-robot OpenAPI over real HTTP: tokens that expire, the error shapes of PROTOCOL.md §4, per-app
rate limits, and what it records (for tests and the console)."""

from __future__ import annotations

import json

import httpx
import pytest
from emu_helpers import FakeClock

from conftest import StartEmulator
from dingrelay.dingtalk import (
    App,
    AppCredentialsRejected,
    AppRobot,
    MultiActionCard,
    OpenApiClient,
    OpenApiRateLimited,
    OpenApiRequestInvalid,
    Secret,
    Text,
)
from dingrelay.dingtalk.messages import ActionCardButton
from dingrelay.emulator import Emulator, EmulatorApp, format_received

SECRET = "emu-app-secret-0123456789abcdef"


@pytest.fixture
def emu(start: StartEmulator) -> Emulator:
    emu = start()
    emu.add_app(EmulatorApp("dingoncall", SECRET, robot_code="dingrobot01", token_ttl_seconds=7200,
                            rate_limit=5, rate_window_seconds=1.0, invalid_user_ids=frozenset({"ghost"})))
    return emu


def app_robot(emu: Emulator, *, secret: str = SECRET, robot_code: str = "dingrobot01", **where: object) -> AppRobot:
    assert emu.server is not None
    target = where or {"open_conversation_id": "cidGroup01=="}
    return AppRobot("oncall", App("dingoncall", Secret(secret), api=emu.server.url), robot_code=robot_code,
                    **target)  # type: ignore[arg-type]


def test_a_token_is_issued_and_a_group_message_recorded(emu: Emulator, clock: FakeClock) -> None:
    with OpenApiClient(clock=clock) as api:
        api.send(app_robot(emu), Text(content="监控报警: 磁盘 91%"))
    [got] = emu.openapi.wait_for(1)
    assert (got.msg_key, got.msg_param, got.open_conversation_id) == (
        "sampleText", {"content": "监控报警: 磁盘 91%"}, "cidGroup01==")
    assert got.robot_code == "dingrobot01" and emu.openapi.token_requests(granted=True) == 1


def test_an_expired_token_is_refused_with_invalid_authentication_and_renewed(emu: Emulator,
                                                                            clock: FakeClock) -> None:
    with OpenApiClient(clock=clock) as api:
        robot = app_robot(emu)
        api.send(robot, Text(content="一"))
        assert emu.openapi.expire_tokens() == 1
        api.send(robot, Text(content="二"))
    assert [m.msg_param["content"] for m in emu.openapi.messages()] == ["一", "二"]
    assert [r.code for r in emu.openapi.rejections()] == ["InvalidAuthentication"]
    assert emu.openapi.token_requests(granted=True) == 2


def test_tokens_expire_with_the_clock(emu: Emulator, clock: FakeClock) -> None:
    assert emu.server is not None
    with httpx.Client(base_url=emu.server.url) as http:
        token = http.post("/v1.0/oauth2/accessToken",
                          json={"appKey": "dingoncall", "appSecret": SECRET}).json()["accessToken"]
        body = {"robotCode": "dingrobot01", "openConversationId": "cidG==", "msgKey": "sampleText",
                "msgParam": json.dumps({"content": "x"})}
        assert http.post("/v1.0/robot/groupMessages/send", json=body,
                         headers={"x-acs-dingtalk-access-token": token}).status_code == 200
        clock.advance(7200)
        late = http.post("/v1.0/robot/groupMessages/send", json=body, headers={"x-acs-dingtalk-access-token": token})
    assert late.status_code == 401
    assert set(late.json()) == {"code", "message", "requestid"} and late.json()["code"] == "InvalidAuthentication"


def test_a_bad_secret_gets_invalid_client_id_or_secret(emu: Emulator, clock: FakeClock) -> None:
    with OpenApiClient(clock=clock) as api, pytest.raises(AppCredentialsRejected) as caught:
        api.send(app_robot(emu, secret="wrong-secret"), Text(content="x"))
    assert caught.value.status_code == 400 and caught.value.code == "invalidClientIdOrSecret"
    assert "wrong-secret" not in str(caught.value)
    assert emu.openapi.token_requests(granted=False) == 1 and not emu.openapi.messages()


def test_a_wrong_robot_code_is_an_invalid_parameter(emu: Emulator, clock: FakeClock) -> None:
    with OpenApiClient(clock=clock) as api, pytest.raises(OpenApiRequestInvalid) as caught:
        api.send(app_robot(emu, robot_code="dingother"), Text(content="x"))
    assert caught.value.code == "invalidParameter.robotCode.auth" and "robot_code" in str(caught.value)


def test_the_per_app_rate_limit_answers_flow_control(emu: Emulator, clock: FakeClock) -> None:
    with OpenApiClient(clock=clock) as api:
        robot = app_robot(emu)
        for i in range(5):
            api.send(robot, Text(content=f"#{i}"))
        with pytest.raises(OpenApiRateLimited) as caught:
            api.send(robot, Text(content="too many"))
        assert caught.value.retryable and caught.value.status_code == 403
        clock.advance(1.0)
        api.send(robot, Text(content="next second"))
    assert len(emu.openapi.messages()) == 6


def test_batch_send_records_the_users_and_reports_invalid_ones(emu: Emulator, clock: FakeClock) -> None:
    with OpenApiClient(clock=clock) as api:
        receipt = api.send(app_robot(emu, user_ids=("manager1234", "ghost")), Text(content="值班提醒"))
    assert receipt.invalid_user_ids == ("ghost",)  # type: ignore[attr-defined]
    [got] = emu.openapi.messages()
    assert got.user_ids == ("manager1234", "ghost") and got.open_conversation_id is None


def test_action_cards_with_buttons_arrive_and_show_on_the_console(emu: Emulator, clock: FakeClock) -> None:
    seen: list[str] = []
    emu.on_message = lambda r: seen.append(format_received(r))
    card = MultiActionCard(title="发布审批", text="发布 v2?", btns=[
        ActionCardButton(title="同意", actionURL="https://e.com/y"), ActionCardButton(title="拒绝", actionURL="https://e.com/n")])
    with OpenApiClient(clock=clock) as api:
        api.send(app_robot(emu), card)
    [got] = emu.openapi.messages()
    assert got.msg_key == "sampleActionCard2" and got.msg_param["actionTitle2"] == "拒绝"
    assert seen and "app:dingrobot01→cidGroup01==" in seen[0] and "发布审批" in seen[0]


def test_the_control_endpoints_list_messages_and_expire_tokens(emu: Emulator, clock: FakeClock) -> None:
    assert emu.server is not None
    with OpenApiClient(clock=clock) as api:
        api.send(app_robot(emu), Text(content="监控报警"))
    with httpx.Client(base_url=emu.server.url) as http:
        listed = http.get("/_emulator/openapi/messages").json()["messages"]
        assert [m["text"] for m in listed] == ["监控报警"]
        assert http.get("/_emulator/openapi/tokens").json() == {"token_requests": 1}
        assert http.delete("/_emulator/openapi/tokens").json() == {"expired": 1}
