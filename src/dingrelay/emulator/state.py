"""The emulator's memory and rules: robots, sessions, recorded messages, rate windows and faults.

Pure logic behind one lock, driven by an injectable clock; the HTTP (and later stream) layers only
translate requests into :class:`Incoming` and answers back into bytes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import validate
from .codes import (
    ACCEPTED,
    BAD_TOKEN_ERRMSGS,
    MISSING_PARAM,
    RATE_LIMIT_ERRMSGS,
    SECURITY,
    SESSION_MISSING,
    Answer,
)
from .faults import Fault, FaultBook, FaultPlan
from .ratelimit import SlidingWindowLimiter
from .records import SESSION_PREFIX, Received, Rejection
from .robots import EmulatorRobot

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

SEND_PATH = "/robot/send"
SESSION_PATH = "/robot/sendBySession"
#: Default lifetime of a sessionWebhook (observed ≈ 90 minutes).
SESSION_TTL_MS = 90 * 60 * 1000


@dataclass(frozen=True)
class Incoming:
    """One request to a webhook, as the transport saw it.

    ``query`` is ``urllib.parse.parse_qs`` output (values decoded once). ``body`` may be empty when
    ``body_size`` was too large to read.
    """

    query: Mapping[str, Sequence[str]]
    content_type: str | None
    body: bytes
    body_size: int
    client_ip: str

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class EmulatorState:
    """Everything the emulator knows, safe to use from many server threads."""

    def __init__(
        self,
        robots: Iterable[EmulatorRobot] = (),
        *,
        rate_limit_errcode: int = 410100,
        bad_token_errcode: int = 300005,
        penalty_seconds: float = 600.0,
        clock: Clock = time.time,
        max_body_bytes: int = 20000,
    ) -> None:
        if rate_limit_errcode not in RATE_LIMIT_ERRMSGS:
            raise ValueError(f"rate_limit_errcode must be one of {sorted(RATE_LIMIT_ERRMSGS)}")
        if bad_token_errcode not in BAD_TOKEN_ERRMSGS:
            raise ValueError(f"bad_token_errcode must be one of {sorted(BAD_TOKEN_ERRMSGS)}")
        if penalty_seconds < 0 or max_body_bytes < 1:
            raise ValueError("penalty_seconds must be >= 0 and max_body_bytes >= 1")
        self.rate_limit_answer = Answer(rate_limit_errcode, RATE_LIMIT_ERRMSGS[rate_limit_errcode])
        self.bad_token_answer = Answer(bad_token_errcode, BAD_TOKEN_ERRMSGS[bad_token_errcode])
        self.penalty_seconds = penalty_seconds
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.on_message: Callable[[Received], None] | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._robots: dict[str, EmulatorRobot] = {}
        self._by_token: dict[str, EmulatorRobot] = {}
        self._limiters: dict[str, SlidingWindowLimiter] = {}
        self._sessions: dict[str, int] = {}
        self._messages: list[Received] = []
        self._rejections: list[Rejection] = []
        self._faults = FaultBook()
        for robot in robots:
            self.add_robot(robot)

    # -- robots and sessions -------------------------------------------------------------------

    def add_robot(self, robot: EmulatorRobot) -> None:
        with self._lock:
            if robot.name in self._robots:
                raise ValueError(f"emulator robot {robot.name!r} already exists")
            if robot.token in self._by_token:
                raise ValueError(f"emulator robot {robot.name!r} reuses another robot's token")
            self._robots[robot.name] = robot
            self._by_token[robot.token] = robot
            self._limiters[robot.name] = self._new_limiter(robot)

    def _new_limiter(self, robot: EmulatorRobot) -> SlidingWindowLimiter:
        return SlidingWindowLimiter(robot.rate_limit, robot.rate_window_seconds, self.penalty_seconds)

    def robots(self) -> list[EmulatorRobot]:
        with self._lock:
            return list(self._robots.values())

    def robot(self, name: str) -> EmulatorRobot:
        with self._lock:
            try:
                return self._robots[name]
            except KeyError:
                known = ", ".join(sorted(self._robots)) or "none"
                raise KeyError(f"no emulator robot named {name!r} (known: {known})") from None

    def now_ms(self) -> int:
        return round(self.clock() * 1000)

    def create_session(self, expires_at_ms: int | None = None) -> str:
        """A new sessionWebhook id (32 hex), valid until ``expires_at_ms`` (default now + 90 min)."""
        session_id = secrets.token_hex(16)
        expiry = self.now_ms() + SESSION_TTL_MS if expires_at_ms is None else expires_at_ms
        with self._lock:
            self._sessions[session_id] = expiry
        return session_id

    def expire_sessions(self) -> int:
        """End every sessionWebhook now (DingTalk then answers 300001 session 不存在); returns how many."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
        return count

    # -- faults ----------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.inject(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[Fault]:
        with self._lock:
            return self._faults.active()

    def label_for(self, path: str, incoming: Incoming) -> str | None:
        """The robot label a request is addressed to (None for a missing or unknown token)."""
        if path == SESSION_PATH:
            return SESSION_PREFIX + (incoming.param("session") or "")
        with self._lock:
            robot = self._by_token.get(incoming.param("access_token") or "")
        return robot.name if robot else None

    def plan_faults(self, label: str | None) -> FaultPlan:
        with self._lock:
            return self._faults.take(label)

    def answer_fault(self, label: str | None, path: str, fault: Fault) -> Answer:
        """The answer of an errcode fault, recorded as a rejection."""
        answer = Answer(fault.errcode, fault.errmsg)
        with self._lock:
            self._reject(label, answer, path, None)
        return answer

    # -- processing ------------------------------------------------------------------------------

    def handle_send(self, incoming: Incoming) -> Answer:
        """``POST /robot/send``: every check of PROTOCOL.md §1 in order, then record."""
        with self._lock:
            answer, received = self._send(incoming)
        return self._finish(answer, received)

    def handle_session(self, incoming: Incoming) -> Answer:
        """``POST /robot/sendBySession``: no token, signing, keywords or rate limit."""
        with self._lock:
            answer, received = self._session(incoming)
        return self._finish(answer, received)

    def _send(self, incoming: Incoming) -> tuple[Answer, Received | None]:
        token = incoming.param("access_token")
        if not token:
            return self._reject(None, Answer(MISSING_PARAM, "缺少参数 access_token"), SEND_PATH, None), None
        robot = self._by_token.get(token)
        if robot is None:
            return self._reject(None, self.bad_token_answer, SEND_PATH, None), None
        body_or_answer = self._parse(incoming)
        if isinstance(body_or_answer, Answer):
            return self._reject(robot.name, body_or_answer, SEND_PATH, None), None
        body = body_or_answer
        timestamp = incoming.param("timestamp")
        answer = None
        if robot.secret is not None:
            answer = validate.check_signature(robot.secret, timestamp, incoming.param("sign"), self.now_ms())
        if answer is None and not robot.allows_ip(incoming.client_ip):
            answer = Answer(SECURITY, f"ip {incoming.client_ip} not in whitelist")
        now = self.clock()
        limiter = self._limiters[robot.name]
        if answer is None and limiter.in_penalty(now):
            answer = self.rate_limit_answer
        answer = answer or validate.check_msgtype(body) or validate.check_fields(body)
        answer = answer or validate.check_keywords(body, robot.keywords)
        if answer is None and not limiter.admit(now):
            answer = self.rate_limit_answer
            logger.info("emulator robot %s throttled for %.0fs", robot.name, self.penalty_seconds)
        if answer is not None:
            return self._reject(robot.name, answer, SEND_PATH, body), None
        received = Received(
            robot=robot.name,
            body=body,
            msgtype=body["msgtype"],
            received_at=now,
            signed=robot.secret is not None,
            timestamp_ms=_int_or_none(timestamp),
        )
        return ACCEPTED, self._accept(received)

    def _session(self, incoming: Incoming) -> tuple[Answer, Received | None]:
        session_id = incoming.param("session") or ""
        label = SESSION_PREFIX + session_id
        expiry = self._sessions.get(session_id)
        if expiry is None or self.now_ms() >= expiry:
            return self._reject(label, Answer(SESSION_MISSING, "session 不存在"), SESSION_PATH, None), None
        body_or_answer = self._parse(incoming)
        if isinstance(body_or_answer, Answer):
            return self._reject(label, body_or_answer, SESSION_PATH, None), None
        body = body_or_answer
        answer = validate.check_msgtype(body) or validate.check_fields(body)
        if answer is not None:
            return self._reject(label, answer, SESSION_PATH, body), None
        received = Received(robot=label, body=body, msgtype=body["msgtype"], received_at=self.clock())
        return ACCEPTED, self._accept(received)

    def _parse(self, incoming: Incoming) -> dict[str, Any] | Answer:
        return (
            validate.check_content_type(incoming.content_type)
            or validate.check_size(incoming.body_size, self.max_body_bytes)
            or validate.parse_body(incoming.body)
        )

    def _accept(self, received: Received) -> Received:
        self._messages.append(received)
        self._changed.notify_all()
        return received

    def _reject(self, label: str | None, answer: Answer, path: str, body: dict[str, Any] | None) -> Answer:
        msgtype = body.get("msgtype") if body is not None else None
        self._rejections.append(Rejection(
            robot=label, errcode=answer.errcode, errmsg=answer.errmsg, received_at=self.clock(), path=path,
            msgtype=msgtype if isinstance(msgtype, str) else None, body=body,
        ))
        self._changed.notify_all()
        return answer

    def _finish(self, answer: Answer, received: Received | None) -> Answer:
        callback = self.on_message
        if received is not None and callback is not None:
            try:
                callback(received)
            except Exception:
                logger.exception("emulator on_message callback failed")
        return answer

    # -- what happened ---------------------------------------------------------------------------

    def messages(self, robot: str | None = None) -> list[Received]:
        with self._lock:
            return [m for m in self._messages if robot is None or m.robot == robot]

    def rejections(self, robot: str | None = None) -> list[Rejection]:
        with self._lock:
            return [r for r in self._rejections if robot is None or r.robot == robot]

    def wait_for(self, count: int, robot: str | None = None, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` accepted messages (to ``robot``) exist; TimeoutError otherwise."""

        def matching() -> list[Received]:
            return [m for m in self._messages if robot is None or m.robot == robot]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                who = f" for robot {robot!r}" if robot else ""
                arrived = len(matching())
                raise TimeoutError(
                    f"waited {timeout:g}s for {count} message(s){who}; {arrived} arrived "
                    f"({len(self._rejections)} rejected in total)"
                )
            return matching()

    def reset(self) -> None:
        """Forget messages, rejections, rate windows, penalties and faults (robots and sessions stay)."""
        with self._lock:
            self._messages.clear()
            self._rejections.clear()
            self._faults.clear()
            for name, robot in self._robots.items():
                self._limiters[name] = self._new_limiter(robot)
            self._changed.notify_all()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
