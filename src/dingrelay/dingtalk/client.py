"""The robot client: send one message to a custom robot's webhook, or to a sessionWebhook.

``send`` returns a :class:`Receipt` or raises a :class:`~dingrelay.dingtalk.errors.DingTalkError`. HTTP 200 is
not success: DingTalk reports failure in ``errcode``. Each request is signed afresh. The transport and the
clock are injectable, so unit tests run on ``httpx.MockTransport`` and a fake clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import httpx

from . import signing
from .errors import DingTalkError, TransportError, error_for
from .keywords import check_keywords
from .masking import mask_text, mask_url
from .messages import Message
from .shards import ShardedHttp
from .wire import json_object

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class Receipt:
    """What DingTalk said when it accepted a message."""

    errcode: int
    errmsg: str
    elapsed: float
    sent_at: float
    http_status: int = 200


@dataclass
class Robot:
    """One custom robot: its webhook URL (with access_token), optional 加签 secret and keywords."""

    webhook: str
    secret: str | None = None
    keywords: Sequence[str] = field(default_factory=tuple)
    name: str | None = None

    def __repr__(self) -> str:
        return f"Robot(name={self.name!r}, webhook={mask_url(self.webhook)!r}, signed={bool(self.secret)})"


class RobotClient:
    """Sends messages over pooled ``httpx.Client``\\ s (:mod:`.shards`: a few threads per pool). Use as a context
    manager or call :meth:`close`."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        clock: signing.Clock = time.time,
        user_agent: str = "dingrelay",
        max_connections: int = 50,
    ) -> None:
        self._clock = clock
        _mask_httpx_request_log()
        self._http = ShardedHttp(transport=transport, timeout=timeout, headers={"User-Agent": user_agent},
                                 max_connections=max_connections)

    def __enter__(self) -> RobotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, robot: Robot, message: Message, *, check_keywords_first: bool = True) -> Receipt:
        """Send ``message`` through ``robot``; raise on any failure, including errcode != 0."""
        if check_keywords_first:
            check_keywords(message, robot.keywords, robot=robot.name)
        params: dict[str, str] = {}
        if robot.secret:
            params = signing.sign_query(robot.secret, signing.now_ms(self._clock))
        return self._post(robot.webhook, message.to_json(), params, robot=robot, session=False)

    def send_payload(self, robot: Robot, payload: bytes) -> Receipt:
        """Send an already-serialised body (used when replaying stored messages)."""
        params = signing.sign_query(robot.secret, signing.now_ms(self._clock)) if robot.secret else {}
        return self._post(robot.webhook, payload, params, robot=robot, session=False)

    def reply(self, session_webhook: str, message: Message | bytes) -> Receipt:
        """Answer through a sessionWebhook (no signing; 300001 there means the session expired)."""
        body = message if isinstance(message, bytes) else message.to_json()
        return self._post(session_webhook, body, {}, robot=None, session=True)

    def _post(self, url: str, body: bytes, params: dict[str, str], *, robot: Robot | None,
              session: bool) -> Receipt:
        name = robot.name if robot else None
        started = self._clock()
        try:
            response = self._http.post(
                with_query(url, params), content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.TimeoutException as exc:
            raise TransportError(f"{_who(name)}timed out talking to {mask_url(url)} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise TransportError(
                f"{_who(name)}could not reach {mask_url(url)}: {mask_text(str(exc)) or type(exc).__name__}"
            ) from None
        elapsed = self._clock() - started
        if response.status_code >= 500:
            raise TransportError(f"{_who(name)}DingTalk answered HTTP {response.status_code}",
                                 status_code=response.status_code)
        data = json_object(response)
        if data is None:
            raise TransportError(
                f"{_who(name)}DingTalk answered HTTP {response.status_code} without a JSON errcode",
                status_code=response.status_code,
            )
        try:
            errcode = int(data["errcode"])
        except (KeyError, TypeError, ValueError):
            # Not DingTalk's answer (a proxy's, say): don't invent errcode -1 (系统繁忙).
            raise TransportError(
                f"{_who(name)}DingTalk answered HTTP {response.status_code} without a JSON errcode",
                status_code=response.status_code,
            ) from None
        errmsg = str(data.get("errmsg", ""))
        if errcode != 0:
            error = error_for(errcode, mask_text(errmsg), robot=name,
                              keywords=list(robot.keywords) if robot else None, session=session)
            error.status_code = response.status_code
            raise error
        return Receipt(errcode=0, errmsg=errmsg, elapsed=elapsed, sent_at=started, http_status=response.status_code)


def with_query(url: str, params: dict[str, str]) -> str | httpx.URL:
    """``url`` with ``params`` merged into its own query (httpx's ``params=`` would replace it and drop the
    access_token). Appended as text, so httpx parses the URL once per send rather than three times (the webhook's
    URL is long and httpx checks each character each time); a URL whose query already has one of the keys, or
    that has a fragment, is merged by httpx, which replaces them."""
    if not params:
        return url
    if "#" in url or any(f"{key}=" in url for key in params):
        return httpx.URL(url).copy_merge_params(params)
    sep = "" if url.endswith(("?", "&")) else "&" if "?" in url else "?"
    return f"{url}{sep}{encode_query(params)}"


#: Base64 (a 加签 signature) and digits (its timestamp): three characters to escape, by a table rather than per
#: character in urlencode (a tenth of a send's CPU on the wire path).
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_BASE64_ESCAPES = str.maketrans({"+": "%2B", "/": "%2F", "=": "%3D"})


def encode_query(params: dict[str, str]) -> str:
    """``urlencode(params)``, byte for byte; cheaper for the values a signed send has."""
    return "&".join(f"{_encoded(key)}={_encoded(value)}" for key, value in params.items())


def _encoded(text: str) -> str:
    return text.translate(_BASE64_ESCAPES) if _BASE64.issuperset(text) else quote_plus(text)


class _MaskSecretsFilter(logging.Filter):
    """httpx logs every request URL at INFO; webhook URLs carry the access_token, sign or session key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_text(str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args)
        return True


_MASK_FILTER = _MaskSecretsFilter()


def _mask_httpx_request_log() -> None:
    logger = logging.getLogger("httpx")
    if _MASK_FILTER not in logger.filters:
        logger.addFilter(_MASK_FILTER)


def _who(name: str | None) -> str:
    return f"robot {name}: " if name else ""


__all__ = ["DingTalkError", "Receipt", "Robot", "RobotClient"]
