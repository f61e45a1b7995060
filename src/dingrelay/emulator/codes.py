"""The errcodes and errmsgs the emulator answers with (PROTOCOL.md §1.8)."""

from __future__ import annotations

from dataclasses import dataclass

OK = 0
SERVER_BUSY = -1
MISSING_PARAM = 40035
BAD_CONTENT_TYPE = 43004
TOO_LONG = 460101
SECURITY = 310000
UNSUPPORTED_MSGTYPE = 400105
BAD_FIELD = 400402
SESSION_MISSING = 300001

#: Bad-token errcodes DingTalk has used, with their errmsg.
BAD_TOKEN_ERRMSGS: dict[int, str] = {
    300001: "token is not exist",
    300005: "token is not exist",
    400101: "access_token不存在",
}

#: Rate-limit errcodes DingTalk has used, with their errmsg.
RATE_LIMIT_ERRMSGS: dict[int, str] = {
    130101: "send too fast, exceed 20 times per minute",
    410100: "发送速度太快而限流",
    660026: "sending too many messages per minute",
}


@dataclass(frozen=True)
class Answer:
    """What DingTalk answers in the JSON body: ``{"errcode": …, "errmsg": …}``."""

    errcode: int
    errmsg: str

    @property
    def ok(self) -> bool:
        return self.errcode == OK

    def to_json(self) -> dict[str, object]:
        return {"errcode": self.errcode, "errmsg": self.errmsg}


ACCEPTED = Answer(OK, "ok")


def field_errmsg(msgtype: str, field: str) -> str:
    """The 400402 errmsg naming a missing or ill-typed field."""
    return f"错误描述:参数 {msgtype} --》 {field} 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;"
