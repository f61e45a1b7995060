"""Everything that can go wrong talking to DingTalk, as one exception tree.

::

    DingTalkError                      retryable?
    ├── TransportError                 yes   connection refused/reset, timeout, HTTP 5xx, non-JSON answer
    ├── MessageInvalid                 no    our own validation refused the message before sending
    └── ApiError                             DingTalk answered with errcode != 0
        ├── ServerBusy          -1     yes
        ├── RateLimited         130101 / 410100 / 660026   after ``retry_after`` seconds
        ├── SecurityRejected    310000 no    (one errcode for four causes:)
        │   ├── KeywordMissing         no    the message lacks every keyword of the robot
        │   ├── SignatureRejected      no    wrong secret, or the sign encoded twice
        │   ├── TimestampRejected      yes   clock skew > 1 h; re-signing may help
        │   └── IpNotAllowed           no    caller IP not in the robot's allow-list
        ├── TokenInvalid        300001 / 300005 / 400101 / 400102 / 400106 / 400013   no
        ├── SessionExpired      300001 on a sessionWebhook  no
        ├── RequestInvalid      40035 / 43004 / 400105 / 400402   no
        ├── ContentRejected     430101-430104   no
        └── TooLarge            460101 / 101002   no
    └── OpenApiError                   the app-robot OpenAPI (api.dingtalk.com) answered HTTP 4xx/5xx
        ├── AppCredentialsRejected     no    invalidClientIdOrSecret: fix the app's client_id / client_secret
        ├── AccessTokenRejected        yes   InvalidAuthentication: refresh the access token, then retry once
        ├── OpenApiRateLimited         yes   QPS / flow control (HTTP 429, *QpsLimit*, Throttling*)
        ├── PermissionDenied           no    Forbidden.*: the app lacks the robot-send permission
        ├── OpenApiRequestInvalid      no    invalidParameter.* and other 4xx: fix robot_code / ids / message
        │   └── RecipientsRejected     no    batchSend: every userId was invalid
        └── OpenApiServerError         yes   HTTP 5xx, systemError

Every error carries ``errcode``, ``errmsg``, ``retryable`` and a message that says what to fix. OpenAPI errors
carry DingTalk's string ``code`` instead of an errcode (``errcode`` is ``None``), and its ``requestid``.
Classification branches on ``errcode``. Only 310000, which DingTalk uses for four different causes, is
refined by recognising the known errmsg wordings of each era; an unrecognised wording stays a plain
:class:`SecurityRejected` that lists the four possibilities.
No access token, app secret or unmasked webhook URL ever appears in an error.
"""

from __future__ import annotations

from typing import ClassVar

#: Errcodes DingTalk has used for "too many messages" (PROTOCOL.md §1.7).
RATE_LIMIT_ERRCODES = frozenset({130101, 410100, 660026})
#: Errcodes for a token that does not exist (sources disagree; all are handled).
BAD_TOKEN_ERRCODES = frozenset({300001, 300005, 400101})
#: How long DingTalk throttles a robot that exceeded its rate, in seconds.
RATE_LIMIT_PENALTY_SECONDS = 600.0


class DingTalkError(Exception):
    """Base of every dingrelay.dingtalk error."""

    retryable: bool = False
    #: The HTTP status of DingTalk's answer (``None``: no answer, or the request was never sent).
    status_code: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def reason(self) -> str:
        """The one-line, human-actionable reason (what to fix)."""
        return self.message


class TransportError(DingTalkError):
    """The request did not get a DingTalk answer: network failure, timeout, HTTP 5xx or a non-JSON body."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class MessageInvalid(DingTalkError):
    """The message failed validation before it was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ApiError(DingTalkError):
    """DingTalk answered with a non-zero errcode."""

    hint: ClassVar[str] = "see the errcode table in DingTalk's robot documentation"

    def __init__(self, errcode: int, errmsg: str, *, robot: str | None = None, message: str | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.robot = robot
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        who = f"robot {self.robot}: " if self.robot else ""
        return f"{who}{self.hint} (errcode {self.errcode})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(errcode={self.errcode}, errmsg={self.errmsg!r})"


class ServerBusy(ApiError):
    retryable = True
    hint = "DingTalk is busy (系统繁忙); retry later"


class RateLimited(ApiError):
    retryable = True
    hint = "rate-limited by DingTalk: more than 20 messages per minute; the robot is throttled"

    def __init__(self, errcode: int, errmsg: str, *, robot: str | None = None,
                 retry_after: float = RATE_LIMIT_PENALTY_SECONDS) -> None:
        self.retry_after = retry_after
        super().__init__(errcode, errmsg, robot=robot)

    def _describe(self) -> str:
        return f"{super()._describe()}; wait {self.retry_after:.0f}s before sending again"


class SecurityRejected(ApiError):
    hint = ("refused by the robot's security settings (keyword, 加签 signature, timestamp or IP allow-list); "
            "compare the robot's 安全设置 with your config")


class KeywordMissing(SecurityRejected):
    hint = "the message lacks the robot's custom keyword"

    def __init__(self, errcode: int = 310000, errmsg: str = "keywords not in content", *,
                 robot: str | None = None, keywords: list[str] | None = None) -> None:
        self.keywords = list(keywords or [])
        super().__init__(errcode, errmsg, robot=robot)

    def _describe(self) -> str:
        who = f"robot {self.robot} " if self.robot else "the robot "
        where = f"errcode {self.errcode}" if self.errcode else "checked before sending"
        if self.keywords:
            wanted = " or ".join(self.keywords)
            return f"{who}requires keyword {wanted}; the message lacks it ({where})"
        return f"{who}requires one of its custom keywords (自定义关键词); the message lacks it ({where})"


class SignatureRejected(SecurityRejected):
    hint = ("the signature was refused (sign not match): check the robot's 加签 secret (starts with SEC) "
            "and that the sign is URL-encoded exactly once")


class TimestampRejected(SecurityRejected):
    retryable = True
    hint = "the timestamp was refused (invalid timestamp): the clock is more than 1 hour off DingTalk's; fix NTP"


class IpNotAllowed(SecurityRejected):
    hint = "this machine's IP is not in the robot's IP allow-list (IP地址/段); add it in the robot's 安全设置"


class TokenInvalid(ApiError):
    hint = "the access_token does not exist: the robot was removed, disabled, or the webhook URL is wrong"


class SessionExpired(ApiError):
    hint = "the sessionWebhook has expired (session 不存在); reply via the OpenAPI instead"


class RequestInvalid(ApiError):
    hint = "DingTalk refused the request as malformed"


class ContentRejected(ApiError):
    hint = "DingTalk's content moderation refused the message (unsafe link, text or image); change the content"


class TooLarge(ApiError):
    hint = "the message is larger than DingTalk's 20000-byte limit; shorten it"


_HINTS: dict[int, type[ApiError] | tuple[type[ApiError], str]] = {
    -1: ServerBusy,
    40035: (RequestInvalid, "a required parameter is missing (access_token, or the body is not valid JSON)"),
    43004: (RequestInvalid, "the Content-Type header must be application/json"),
    300001: TokenInvalid,
    300005: TokenInvalid,
    400101: TokenInvalid,
    400013: (TokenInvalid, "the group this robot belonged to was dissolved (群已被解散)"),
    400102: (TokenInvalid, "the robot is disabled (机器人已停用); enable it in the group settings"),
    400106: (TokenInvalid, "the robot no longer exists (机器人不存在); add it again and update the webhook"),
    400105: (RequestInvalid, "unsupported msgtype; use text, link, markdown, actionCard or feedCard"),
    400402: (RequestInvalid, "a required field is missing or has the wrong type"),
    430101: (ContentRejected, "the message contains a link DingTalk considers unsafe (含有不安全的外链)"),
    430102: (ContentRejected, "DingTalk's moderation refused the text (含有不合适的文本)"),
    430103: (ContentRejected, "DingTalk's moderation refused an image (含有不合适的图片)"),
    430104: (ContentRejected, "DingTalk's moderation refused the content (含有不合适的内容)"),
    460101: TooLarge,
    101002: TooLarge,
}

# Known errmsg wordings of errcode 310000 across the years (PROTOCOL.md §1.8).
_SECURITY_WORDINGS: tuple[tuple[type[SecurityRejected], tuple[str, ...]], ...] = (
    (KeywordMissing, ("keywords not in content", "关键词不匹配")),
    (SignatureRejected, ("sign not match", "签名不匹配")),
    (TimestampRejected, ("invalid timestamp", "时间戳")),
    (IpNotAllowed, ("whitelist", "白名单")),
)


def error_for(errcode: int, errmsg: str, *, robot: str | None = None, keywords: list[str] | None = None,
              session: bool = False) -> ApiError:
    """The :class:`ApiError` for a DingTalk errcode.

    ``keywords`` are the robot's configured keywords, named in a :class:`KeywordMissing` message.
    ``session`` says the call went to a sessionWebhook, where 300001 means the session expired.
    """
    if errcode in RATE_LIMIT_ERRCODES:
        return RateLimited(errcode, errmsg, robot=robot)
    if session and errcode in BAD_TOKEN_ERRCODES:
        return SessionExpired(errcode, errmsg, robot=robot)
    if errcode == 310000:
        for cls, wordings in _SECURITY_WORDINGS:
            if any(w in errmsg for w in wordings):
                if cls is KeywordMissing:
                    return KeywordMissing(errcode, errmsg, robot=robot, keywords=keywords)
                return cls(errcode, errmsg, robot=robot)
        return SecurityRejected(errcode, errmsg, robot=robot)
    entry = _HINTS.get(errcode)
    if entry is None:
        return ApiError(errcode, errmsg, robot=robot,
                        message=f"{'robot ' + robot + ': ' if robot else ''}DingTalk refused the message "
                                f"(errcode {errcode}: {errmsg[:200]})")
    if isinstance(entry, tuple):
        kind, hint = entry
        who = f"robot {robot}: " if robot else ""
        return kind(errcode, errmsg, robot=robot, message=f"{who}{hint} (errcode {errcode})")
    return entry(errcode, errmsg, robot=robot)


# -- the app-robot OpenAPI (PROTOCOL.md §4): HTTP 4xx/5xx with {"code", "message", "requestid"} ----------------


class OpenApiError(DingTalkError):
    """An OpenAPI call failed: DingTalk's ``code`` (a string), its ``message`` as ``errmsg``, and the HTTP status."""

    errcode: int | None = None
    hint: ClassVar[str] = "DingTalk's OpenAPI refused the call"

    def __init__(self, code: str, errmsg: str = "", *, status_code: int | None = None, robot: str | None = None,
                 requestid: str | None = None, hint: str | None = None) -> None:
        self.code = code
        self.errmsg = errmsg
        self.status_code = status_code
        self.robot = robot
        self.requestid = requestid
        who = f"robot {robot}: " if robot else ""
        said = f"{code}: {errmsg[:200]}" if errmsg else code
        http = f"HTTP {status_code}, " if status_code is not None else ""
        super().__init__(f"{who}{hint or self.hint} ({http}{said})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status_code={self.status_code})"


class AppCredentialsRejected(OpenApiError):
    hint = ("the app's client_id/client_secret (AppKey/AppSecret) were refused; copy both from the app's "
            "凭证与基础信息 page in the DingTalk developer console into the configuration")


class AccessTokenRejected(OpenApiError):
    retryable = True
    hint = "the access token was refused (InvalidAuthentication); a fresh token is fetched and the call retried"


class OpenApiRateLimited(OpenApiError):
    retryable = True
    hint = "rate-limited by DingTalk's OpenAPI (flow control); retried later"


class PermissionDenied(OpenApiError):
    hint = ("the app lacks a permission this call needs; grant 企业内机器人发送消息权限 (qyapi_robot_sendmsg) to the "
            "app in the developer console")


class OpenApiRequestInvalid(OpenApiError):
    hint = "DingTalk's OpenAPI refused the request as invalid"


class RecipientsRejected(OpenApiRequestInvalid):
    hint = "no userId of the 1:1 send was valid (invalidStaffIdList); check user_ids (staff ids of the org)"


class OpenApiServerError(OpenApiError):
    retryable = True
    hint = "DingTalk's OpenAPI failed on its side; retried later"


#: What to fix for the invalidParameter codes people meet, by prefix.
_PARAMETER_HINTS: tuple[tuple[str, str], ...] = (
    ("invalidParameter.robotCode", "robot_code is wrong, or the robot does not belong to this app: copy the "
                                   "RobotCode from the app's 机器人 page"),
    ("invalidParameter.openConversationId", "open_conversation_id is wrong, or the robot is not in that group"),
    ("invalidParameter.msgParam", "the message does not fit the msgKey's parameters (or msgParam > 15000 bytes)"),
    ("invalidParameter.msgKey", "unsupported msgKey"),
    ("invalidParameter.userIds", "user_ids are invalid (staff ids of the org, at most 20)"),
)


def openapi_error_for(status: int, code: str, errmsg: str, *, robot: str | None = None,
                      requestid: str | None = None) -> OpenApiError:
    """The :class:`OpenApiError` for an OpenAPI answer with HTTP ``status`` and DingTalk's ``code``."""
    low = code.lower()
    kind: type[OpenApiError] = OpenApiRequestInvalid
    if low in ("invalidclientidorsecret", "authfailed"):
        kind = AppCredentialsRejected
    elif low == "invalidauthentication":
        kind = AccessTokenRejected
    elif status == 429 or "qpslimit" in low or low.startswith("throttling") or "flowcontrol" in low:
        kind = OpenApiRateLimited
    elif status >= 500 or low in ("systemerror", "serviceunavailable", "internalerror"):
        kind = OpenApiServerError
    elif low.startswith("forbidden"):
        kind = PermissionDenied
    hint = next((h for prefix, h in _PARAMETER_HINTS if code.startswith(prefix)), None)
    return kind(code, errmsg, status_code=status, robot=robot, requestid=requestid, hint=hint)
