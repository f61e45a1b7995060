"""PROTOCOL.md §1.8 as data: every documented errcode and errmsg wording, and what dingrelay must make of it."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from dingrelay.dingtalk import (
    ApiError,
    ContentRejected,
    IpNotAllowed,
    KeywordMissing,
    RateLimited,
    RequestInvalid,
    SecurityRejected,
    ServerBusy,
    SignatureRejected,
    TimestampRejected,
    TokenInvalid,
    TooLarge,
)

MORE = ", more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"


class Row(NamedTuple):
    errcode: int
    errmsg: str
    error: type[ApiError]
    retryable: bool


ROWS = [
    Row(-1, "系统繁忙", ServerBusy, True),
    Row(40035, "缺少参数 access_token", RequestInvalid, False),
    Row(40035, "缺少参数 json", RequestInvalid, False),
    Row(43004, "无效的HTTP HEADER Content-Type", RequestInvalid, False),
    Row(130101, "send too fast", RateLimited, True),
    Row(130101, "send too fast, exceed 20 times per minute", RateLimited, True),
    Row(300001, "token is not exist", TokenInvalid, False),
    Row(300005, "token is not exist", TokenInvalid, False),
    # 310000: one errcode, four causes, wordings from every era.
    Row(310000, "keywords not in content", KeywordMissing, False),
    Row(310000, "keywords not in content" + MORE, KeywordMissing, False),
    Row(310000, "错误描述:关键词不匹配;解决方案:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
        KeywordMissing, False),
    Row(310000, "description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
        KeywordMissing, False),
    Row(310000, "invalid timestamp", TimestampRejected, True),
    Row(310000, "invalid timestamp" + MORE, TimestampRejected, True),
    Row(310000, "sign not match", SignatureRejected, False),
    Row(310000, "sign not match" + MORE, SignatureRejected, False),
    Row(310000, "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，"
                "签名是否使用了Base64编码;link:请参考文档;", SignatureRejected, False),
    Row(310000, "ip 203.0.113.7 not in whitelist", IpNotAllowed, False),
    Row(310000, "ip 203.0.113.7 not in whitelist" + MORE, IpNotAllowed, False),
    Row(310000, "description:ip 不在白名单中;solution:请联系对应群的管理员，设置机器人安全ip地址段",
        IpNotAllowed, False),
    Row(310000, "a wording nobody has seen yet", SecurityRejected, False),
    Row(400013, "群已被解散", TokenInvalid, False),
    Row(400101, "access_token不存在", TokenInvalid, False),
    Row(400102, "机器人已停用", TokenInvalid, False),
    Row(400105, "不支持的消息类型", RequestInvalid, False),
    Row(400106, "机器人不存在", TokenInvalid, False),
    Row(400402, "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;",
        RequestInvalid, False),
    Row(410100, "发送速度太快而限流", RateLimited, True),
    Row(430101, "含有不安全的外链", ContentRejected, False),
    Row(430102, "含有不合适的文本", ContentRejected, False),
    Row(430103, "含有不合适的图片", ContentRejected, False),
    Row(430104, "含有不合适的内容", ContentRejected, False),
    Row(460101, "message too long, exceed 20000 bytes", TooLarge, False),
    Row(101002, "message is too long", TooLarge, False),
    Row(660026, "sending too many messages per minute", RateLimited, True),
]

ERRCODE_CASES = [pytest.param(*row, id=f"{row.errcode}-{row.error.__name__}-{i}") for i, row in enumerate(ROWS)]
