"""The app-robot OpenAPI (PROTOCOL.md §4): access tokens that expire, group and 1:1 sends, per-app rate limits.

Errors have the OpenAPI's shape: HTTP 4xx ``{"code", "message", "requestid"}``. Tokens live ``token_ttl_seconds``
(default 7200); :meth:`OpenApiHub.expire_tokens` ends them at once, as DingTalk revoking them early would. Every
token request and every accepted message is recorded, so tests can count them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .ratelimit import SlidingWindowLimiter
from .records import Received

Clock = Callable[[], float]
Answer = tuple[int, dict[str, Any]]

TOKEN_PATH = "/v1.0/oauth2/accessToken"  # noqa: S105 (a path)
GROUP_PATH = "/v1.0/robot/groupMessages/send"
BATCH_PATH = "/v1.0/robot/oToMessages/batchSend"
TOKEN_HEADER = "x-acs-dingtalk-access-token"  # noqa: S105 (a header name)
MAX_MSG_PARAM_BYTES = 15_000
MAX_USER_IDS = 20

#: The parameters each msgKey requires (PROTOCOL.md §4).
MSG_KEYS: dict[str, tuple[str, ...]] = {
    "sampleText": ("content",),
    "sampleMarkdown": ("title", "text"),
    "sampleImageMsg": ("photoURL",),
    "sampleLink": ("text", "title", "messageUrl"),
    "sampleActionCard": ("title", "text", "singleTitle", "singleURL"),
    **{f"sampleActionCard{n}": ("title", "text", *(f"{k}{i}" for i in range(1, n + 1)
                                                   for k in ("actionTitle", "actionURL"))) for n in range(2, 6)},
    "sampleActionCard6": ("title", "text", "buttonTitle1", "buttonUrl1", "buttonTitle2", "buttonUrl2"),
}


@dataclass(frozen=True)
class EmulatorApp:
    """An enterprise-internal app and its robot. ``rate_limit`` sends per ``rate_window_seconds`` (per app);
    ``invalid_user_ids`` are staff ids batchSend reports in ``invalidStaffIdList``."""

    client_id: str
    client_secret: str = field(repr=False)
    robot_code: str = ""
    token_ttl_seconds: float = 7200.0
    rate_limit: int = 20
    rate_window_seconds: float = 1.0
    invalid_user_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise ValueError("an emulator app needs a client_id and a client_secret")
        if not self.robot_code:
            object.__setattr__(self, "robot_code", self.client_id)   # as the SDK does: robotCode = appKey


@dataclass(frozen=True)
class OpenApiMessage:
    """A message the OpenAPI accepted: to a group (``open_conversation_id``) or to people (``user_ids``)."""

    client_id: str
    robot_code: str
    msg_key: str
    msg_param: dict[str, Any]
    received_at: float
    open_conversation_id: str | None = None
    user_ids: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return self.open_conversation_id or ",".join(self.user_ids)

    def text(self) -> str:
        p = self.msg_param
        return str(p.get("content") or p.get("text") or p.get("photoURL") or "")

    def as_received(self) -> Received:
        """The message as a webhook body, for the console (robot ``app:<robotCode>→<where>``)."""
        msgtype = {"sampleText": "text", "sampleMarkdown": "markdown", "sampleLink": "link",
                   "sampleImageMsg": "image"}.get(self.msg_key, "actionCard")
        body = {"msgtype": msgtype, msgtype: dict(self.msg_param), "msgKey": self.msg_key}
        return Received(robot=f"app:{self.robot_code}→{self.where}", body=body, msgtype=msgtype,
                        received_at=self.received_at)

    def to_json(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "robot_code": self.robot_code, "msg_key": self.msg_key,
                "msg_param": self.msg_param, "open_conversation_id": self.open_conversation_id,
                "user_ids": list(self.user_ids), "received_at": self.received_at, "text": self.text()}


@dataclass(frozen=True)
class OpenApiRejection:
    path: str
    status: int
    code: str
    received_at: float


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"code": code, "message": message, "requestid": uuid.uuid4().hex.upper()}


class OpenApiHub:
    """The OpenAPI's server side, behind one lock; ``on_message`` (e.g. the console) sees each accepted message."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock
        self.on_message: Callable[[Received], None] | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._apps: dict[str, EmulatorApp] = {}
        self._tokens: dict[str, tuple[str, float]] = {}   # token -> (client_id, expires at)
        self._limiters: dict[str, SlidingWindowLimiter] = {}
        self._token_requests: list[tuple[str, bool]] = []   # (appKey, granted)
        self._messages: list[OpenApiMessage] = []
        self._rejections: list[OpenApiRejection] = []

    # -- apps and tokens ----------------------------------------------------------------------------------------

    def add_app(self, app: EmulatorApp) -> None:
        with self._lock:
            self._apps[app.client_id] = app
            self._limiters[app.client_id] = SlidingWindowLimiter(app.rate_limit, app.rate_window_seconds, 0.0)

    def token_requests(self, client_id: str | None = None, *, granted: bool | None = None) -> int:
        """How many accessToken requests came (for ``client_id``; only those ``granted`` or refused)."""
        with self._lock:
            return sum(1 for cid, ok in self._token_requests
                       if (client_id is None or cid == client_id) and (granted is None or ok == granted))

    def expire_tokens(self, client_id: str | None = None) -> int:
        """End every token issued (to ``client_id``) now; returns how many."""
        with self._lock:
            gone = [t for t, (cid, _) in self._tokens.items() if client_id is None or cid == client_id]
            for t in gone:
                del self._tokens[t]
            return len(gone)

    def access_token(self, body: bytes, headers: Mapping[str, str] | None = None) -> Answer:
        data = _json(body)
        key, secret = data.get("appKey"), data.get("appSecret")
        with self._lock:
            app = self._apps.get(key) if isinstance(key, str) else None
            ok = app is not None and isinstance(secret, str) and secrets.compare_digest(app.client_secret, secret)
            self._token_requests.append((str(key), ok))
            if not ok or app is None:
                return self._reject(TOKEN_PATH, *_error(400, "invalidClientIdOrSecret",
                                                        "无效的clientId或者clientSecret"))
            token = secrets.token_hex(16)
            self._tokens[token] = (app.client_id, self.clock() + app.token_ttl_seconds)
            self._changed.notify_all()
        return 200, {"accessToken": token, "expireIn": int(app.token_ttl_seconds)}

    # -- sends --------------------------------------------------------------------------------------------------

    def group_send(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        return self._send(GROUP_PATH, body, headers)

    def batch_send(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        return self._send(BATCH_PATH, body, headers)

    def _send(self, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        token = next((v for k, v in headers.items() if k.lower() == TOKEN_HEADER), "")
        with self._lock:
            now = self.clock()
            held = self._tokens.get(token)
            if held is None or held[1] <= now:
                self._tokens.pop(token, None)
                return self._reject(path, *_error(401, "InvalidAuthentication", "不合法的access_token"))
            app = self._apps[held[0]]
            data = _json(body)
            problem = _check(path, data, app)
            if problem is not None:
                return self._reject(path, *problem)
            if not self._limiters[app.client_id].admit(now):
                return self._reject(path, *_error(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                                                  "应用调用该接口的频率超过限制"))
            user_ids = tuple(str(u) for u in data.get("userIds") or ())
            message = OpenApiMessage(app.client_id, app.robot_code, str(data["msgKey"]),
                                     json.loads(data["msgParam"]), now,
                                     open_conversation_id=data.get("openConversationId") if path == GROUP_PATH
                                     else None, user_ids=user_ids)
            self._messages.append(message)
            self._changed.notify_all()
            callback = self.on_message
        if callback is not None:
            callback(message.as_received())
        answer: dict[str, Any] = {"processQueryKey": secrets.token_urlsafe(16)}
        if path == BATCH_PATH:
            answer["invalidStaffIdList"] = [u for u in user_ids if u in app.invalid_user_ids]
            answer["flowControlledStaffIdList"] = []
        return 200, answer

    def _reject(self, path: str, status: int, answer: dict[str, Any]) -> Answer:
        """Record a refusal (the lock is held)."""
        self._rejections.append(OpenApiRejection(path, status, str(answer["code"]), self.clock()))
        self._changed.notify_all()
        return status, answer

    # -- what happened ------------------------------------------------------------------------------------------

    def messages(self) -> list[OpenApiMessage]:
        with self._lock:
            return list(self._messages)

    def rejections(self) -> list[OpenApiRejection]:
        with self._lock:
            return list(self._rejections)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[OpenApiMessage]:
        """The first ``count`` accepted messages, waiting up to ``timeout`` seconds; TimeoutError if fewer came."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"expected {count} OpenAPI message(s), got {len(self._messages)}: "
                                       f"{[r.code for r in self._rejections]}")
                self._changed.wait(left)
            return list(self._messages[:count])

    def reset(self) -> None:
        """Forget messages, refusals, token requests and rate windows (apps and tokens stay)."""
        with self._lock:
            self._messages.clear()
            self._rejections.clear()
            self._token_requests.clear()
            for limiter in self._limiters.values():
                limiter.reset()


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _check(path: str, data: dict[str, Any], app: EmulatorApp) -> Answer | None:
    """The 400 for a send DingTalk would refuse, or ``None``."""
    if data.get("robotCode") != app.robot_code:
        return _error(400, "invalidParameter.robotCode.auth", "robotCode无效或无权限")
    key, param = data.get("msgKey"), data.get("msgParam")
    if key not in MSG_KEYS:
        return _error(400, "invalidParameter.msgKey.invalid", f"不支持的msgKey: {key}")
    if not isinstance(param, str) or len(param.encode()) > MAX_MSG_PARAM_BYTES:
        return _error(400, "invalidParameter.msgParam.invalid", "msgParam须为不超过15000字节的JSON字符串")
    try:
        parsed = json.loads(param)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or any(not isinstance(parsed.get(k), str) or not parsed[k]
                                           for k in MSG_KEYS[key]):
        return _error(400, "invalidParameter.msgParam.invalid", f"msgParam缺少{key}的必填参数")
    if path == GROUP_PATH:
        cid = data.get("openConversationId")
        if not isinstance(cid, str) or not cid.startswith("cid"):
            return _error(400, "invalidParameter.openConversationId.invalid", "openConversationId无效")
    else:
        users = data.get("userIds")
        if not isinstance(users, list) or not users or len(users) > MAX_USER_IDS:
            return _error(400, "invalidParameter.userIds.invalid", f"userIds须为1到{MAX_USER_IDS}个")
    return None
