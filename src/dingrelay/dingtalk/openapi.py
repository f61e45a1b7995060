"""The app-robot OpenAPI client (PROTOCOL.md §4): group sends and 1:1 batch sends, with a shared token cache.

::

    with OpenApiClient() as api:
        api.send(AppRobot("oncall", App("dingxxx", Secret("…")), robot_code="dingxxx",
                          open_conversation_id="cid…"), Text(content="监控报警"))

Every call carries ``x-acs-dingtalk-access-token`` from the :class:`~.tokens.TokenCache`. A call DingTalk answers
``InvalidAuthentication`` drops that token, fetches a new one and is retried once; a second refusal is raised.
Errors are the :class:`~.errors.OpenApiError` branch of the one exception tree. The app secret and access tokens
never appear in a log line, an error or a repr. Transport and clock are injectable.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .client import DEFAULT_TIMEOUT, Receipt
from .errors import (
    AccessTokenRejected,
    MessageInvalid,
    OpenApiError,
    OpenApiRateLimited,
    RecipientsRejected,
    TransportError,
    openapi_error_for,
)
from .masking import Secret
from .messages import Message
from .msgkeys import MsgKeyParam, to_msg_key
from .shards import ShardedHttp
from .tokens import TOKEN_PATH, AccessToken, App, Clock, TokenCache
from .wire import json_object

log = logging.getLogger("dingrelay.dingtalk.openapi")

GROUP_PATH = "/v1.0/robot/groupMessages/send"
BATCH_PATH = "/v1.0/robot/oToMessages/batchSend"
TOKEN_HEADER = "x-acs-dingtalk-access-token"  # noqa: S105 (a header name)
#: batchSend takes at most this many userIds.
MAX_USER_IDS = 20


@dataclass(frozen=True)
class AppRobot:
    """An app's robot and where it sends: a group (``open_conversation_id``) or people (``user_ids``, ≤ 20)."""

    name: str
    app: App
    robot_code: str
    open_conversation_id: str | None = None
    user_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.open_conversation_id is None) == (not self.user_ids):
            raise ValueError(f"app robot {self.name}: give open_conversation_id or user_ids, exactly one")
        if len(self.user_ids) > MAX_USER_IDS:
            raise ValueError(f"app robot {self.name}: at most {MAX_USER_IDS} user_ids (batchSend's limit)")


@dataclass(frozen=True)
class BatchReceipt(Receipt):
    """A batchSend DingTalk accepted; some userIds may still have been invalid or flow-controlled."""

    invalid_user_ids: tuple[str, ...] = ()
    flow_controlled_user_ids: tuple[str, ...] = ()
    process_query_key: str = field(default="", repr=False)


class OpenApiClient:
    """Sends through the OpenAPI over pooled ``httpx.Client``\\ s (:mod:`.shards`); use as a context manager or
    call :meth:`close`."""

    def __init__(self, *, transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, clock: Clock = time.time,
                 user_agent: str = "dingrelay", max_connections: int = 50) -> None:
        self._clock = clock
        self._http = ShardedHttp(transport=transport, timeout=timeout, headers={"User-Agent": user_agent},
                                 max_connections=max_connections)
        self.tokens = TokenCache(self._fetch_token, clock=clock)

    def __enter__(self) -> OpenApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- sending ------------------------------------------------------------------------------------------------

    def send(self, robot: AppRobot, message: Message | bytes) -> Receipt:
        """Send to the robot's group, or to its users; :class:`MessageInvalid` before sending what cannot map."""
        mapped = to_msg_key(message)
        if robot.open_conversation_id is not None:
            return self.send_group(robot.app, robot.robot_code, robot.open_conversation_id, mapped, name=robot.name)
        return self.send_users(robot.app, robot.robot_code, robot.user_ids, mapped, name=robot.name)

    def send_group(self, app: App, robot_code: str, open_conversation_id: str, message: MsgKeyParam | Message | bytes,
                   *, name: str | None = None) -> Receipt:
        mapped = message if isinstance(message, MsgKeyParam) else to_msg_key(message)
        body = {"robotCode": robot_code, "openConversationId": open_conversation_id,
                "msgKey": mapped.msg_key, "msgParam": mapped.msg_param}
        started = self._clock()
        _, status = self._call(app, GROUP_PATH, body, name=name)
        return Receipt(errcode=0, errmsg="ok", elapsed=self._clock() - started, sent_at=started, http_status=status)

    def send_users(self, app: App, robot_code: str, user_ids: Sequence[str], message: MsgKeyParam | Message | bytes,
                   *, name: str | None = None) -> BatchReceipt:
        """batchSend to at most 20 ``user_ids``. Raises :class:`RecipientsRejected` when none was valid and
        :class:`OpenApiRateLimited` when all were flow-controlled; a partial result is in the receipt."""
        if not user_ids or len(user_ids) > MAX_USER_IDS:
            raise MessageInvalid(f"batchSend takes 1 to {MAX_USER_IDS} userIds, not {len(user_ids)}", field="userIds")
        mapped = message if isinstance(message, MsgKeyParam) else to_msg_key(message)
        body = {"robotCode": robot_code, "userIds": list(user_ids), "msgKey": mapped.msg_key,
                "msgParam": mapped.msg_param}
        started = self._clock()
        data, status = self._call(app, BATCH_PATH, body, name=name)
        invalid = tuple(str(u) for u in data.get("invalidStaffIdList") or ())
        throttled = tuple(str(u) for u in data.get("flowControlledStaffIdList") or ())
        if set(invalid) >= set(user_ids):
            raise RecipientsRejected("invalidStaffIdList", ", ".join(invalid), status_code=status, robot=name)
        if set(invalid) | set(throttled) >= set(user_ids):
            raise OpenApiRateLimited("flowControlledStaffIdList", ", ".join(throttled), status_code=status,
                                     robot=name)
        note = "ok"
        if invalid or throttled:
            note = "; ".join(part for part in (f"invalid userIds: {', '.join(invalid)}" if invalid else "",
                                               f"flow-controlled userIds: {', '.join(throttled)}" if throttled
                                               else "") if part)
            log.warning("%sbatchSend delivered to some users only: %s", f"robot {name}: " if name else "", note)
        return BatchReceipt(errcode=0, errmsg=note, elapsed=self._clock() - started, sent_at=started,
                            http_status=status, invalid_user_ids=invalid, flow_controlled_user_ids=throttled,
                            process_query_key=str(data.get("processQueryKey") or ""))

    # -- the wire -----------------------------------------------------------------------------------------------

    def _call(self, app: App, path: str, body: dict[str, Any], *, name: str | None) -> tuple[dict[str, Any], int]:
        """POST ``body`` with a token; on InvalidAuthentication renew the token and try once more."""
        token = self._token(app, name)
        try:
            return self._post(app, path, body, token, name=name)
        except AccessTokenRejected:
            log.info("%sthe access token was refused; fetching a new one", f"robot {name}: " if name else "")
            self.tokens.invalidate(app, token)
        return self._post(app, path, body, self._token(app, name), name=name)

    def _token(self, app: App, name: str | None) -> Secret:
        """The app's token; a failed fetch is raised naming the robot that wanted it."""
        try:
            return self.tokens.get(app)
        except OpenApiError as exc:
            if name is None or exc.robot is not None:
                raise
            raise type(exc)(exc.code, exc.errmsg, status_code=exc.status_code, robot=name,
                            requestid=exc.requestid) from None

    def _post(self, app: App, path: str, body: dict[str, Any], token: Secret | None, *,
              name: str | None) -> tuple[dict[str, Any], int]:
        url = app.api.rstrip("/") + path
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if token is not None:
            headers[TOKEN_HEADER] = token.reveal()
        who = f"robot {name}: " if name else ""
        try:
            response = self._http.post(url, content=json.dumps(body, ensure_ascii=False).encode(), headers=headers)
        except httpx.TimeoutException as exc:
            raise TransportError(f"{who}timed out talking to {url} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{who}could not reach {url}: {type(exc).__name__}") from None
        data = json_object(response)
        if response.status_code >= 400:
            if data is None or not isinstance(data.get("code"), str):
                if response.status_code >= 500:
                    raise TransportError(f"{who}DingTalk's OpenAPI answered HTTP {response.status_code}",
                                         status_code=response.status_code)
                data = {"code": f"HTTP{response.status_code}", "message": "no JSON error body"}
            raise openapi_error_for(response.status_code, str(data["code"]), _scrub(str(data.get("message", "")),
                                    token, app), robot=name, requestid=_str(data.get("requestid")))
        if data is None:
            raise TransportError(f"{who}DingTalk's OpenAPI answered HTTP {response.status_code} without JSON",
                                 status_code=response.status_code)
        return data, response.status_code

    def _fetch_token(self, app: App) -> AccessToken:
        body = {"appKey": app.client_id, "appSecret": app.client_secret.reveal()}
        data, _ = self._post(app, TOKEN_PATH, body, None, name=None)
        value, expires = data.get("accessToken"), data.get("expireIn")
        if not isinstance(value, str) or not value or not isinstance(expires, int | float):
            raise OpenApiError("badTokenAnswer", "no accessToken/expireIn in the answer", status_code=200,
                               hint="DingTalk's accessToken answer lacked accessToken or expireIn")
        return AccessToken(Secret(value), float(expires))


def _scrub(text: str, token: Secret | None, app: App) -> str:
    """DingTalk's message, with the token and secret cut out should it ever echo one."""
    for secret in (token.reveal() if token else "", app.client_secret.reveal()):
        if secret:
            text = text.replace(secret, "****")
    return text


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
