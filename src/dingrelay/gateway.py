"""Accepting messages: authenticate the sender, build the DingTalk message, check it at the door, store it.

No web framework here: views call :class:`Gateway` and turn a :class:`Rejected` into a JSON error.

**Repeats.** Every stored message gets a :class:`Fingerprint`: what it is about (an alert group, else its body) and
what it says (its alerts' states, else its body). A message whose robot (or pool) last showed the same thing about
the same subject within the source's window is stored suppressed, not sent, and counted on the message shown
(:mod:`.delivery.sql.accept`). The alert hooks' window is ``delivery.suppress_window_seconds`` (300 s); elsewhere a
source's own ``sources.<s>.suppress_window_seconds`` (off by default: a cron job reporting every minute is shown
every minute). The drop-in ``/robot/send`` (whose callers are robots' token holders, not sources) keeps DingTalk's
own semantics: every message is sent.

**Keywords.** A message lacking a robot's keyword is refused (422) when its sender wrote it (``/ding/send``,
``/api/v1/messages``). A card a hook rendered gets the keyword put in front instead (:meth:`Gateway.with_keywords`):
its sender cannot fix the text, and Alertmanager never resends a refused group.

A target naming a robot pool becomes ONE robot of the pool: the one with the least backlog, ties taken in turn. A
repeat is judged on the pool, wherever it lands.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .adapters.cards import with_keyword
from .delivery.metrics import NO_METRICS, Metrics, current_endpoint
from .delivery.model import Attempt, NewMessage, Status, StoredMessage
from .delivery.store import Store
from .dingtalk.errors import MessageInvalid
from .dingtalk.keywords import satisfies_keywords
from .dingtalk.messages import MAX_BODY_BYTES, At, Markdown, Message, Text, parse_message
from .dingtalk.msgkeys import to_msg_key
from .rendering import Renderer, RenderError
from .tables import Tables

if TYPE_CHECKING:
    from .bot import Bots

log = logging.getLogger("dingrelay.gateway")


class Rejected(Exception):
    """The request cannot be accepted. ``status`` is the HTTP status a web view should answer."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


@dataclass(frozen=True)
class Accepted:
    messages: list[StoredMessage]
    created: bool

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.messages]


@dataclass(frozen=True)
class Fingerprint:
    """What makes a later message a repeat: ``identity``, what it is about (an alert group, its states left out),
    and ``state``, what it says about it (each alert firing or resolved). The default for both: the body."""

    identity: str
    state: str


def rendered_from(template: str, data: Mapping[str, Any]) -> Fingerprint:
    """A rendered message's fingerprint: its template and data, not its text, which may carry the time it was
    rendered (the tutorial card does), so that the same report sent again is a repeat."""
    key = hashlib.sha256(json.dumps([template, data], sort_keys=True, ensure_ascii=False, default=str).encode())
    return Fingerprint(key.hexdigest(), key.hexdigest())


class Gateway:
    """Accepts messages against ``tables`` (robots, sources, pools, limits), resolved once by the wiring."""

    def __init__(self, tables: Tables, store: Store, renderer: Renderer,
                 clock: Callable[[], float] = time.time, *, metrics: Metrics = NO_METRICS) -> None:
        self.tables = tables
        self.metrics = metrics
        self.store = store
        self.renderer = renderer
        self.clock = clock
        self.bots: Bots | None = None  # two-way bots (POST /dingtalk/callback/<bot>), set by the wiring
        self._tokens = [(name, src.token.reveal().encode()) for name, src in tables.sources.items()]
        self._robot_tokens = [(name, r.access_token.reveal().encode()) for name, r in tables.robots.items()
                              if r.access_token is not None]
        self._turns = {pool: itertools.count() for pool in tables.pools}
        self._turns_lock = threading.Lock()
        self._keywords_added: set[tuple[str, str]] = set()   # (robot, template) pairs already logged
        self._keywords_lock = threading.Lock()

    # -- who is sending ------------------------------------------------------------------------------------

    def authenticate_request(self, bearer: str | None, data: dict[str, Any]) -> str:
        """The source a request comes from: its ``Authorization: Bearer`` token, else the body's text ``source``."""
        source = data.get("source")
        return self.authenticate(bearer or (source if isinstance(source, str) else None))

    def authenticate(self, token: str | None) -> str:
        """The source name for ``token``, compared in constant time against every source."""
        if not token:
            raise Rejected(401, "unauthorized",
                           "missing token: put the source's token in \"source\" or an Authorization: Bearer header",
                           "source")
        found = _find(self._tokens, token)
        if found is None:
            raise Rejected(401, "unauthorized", "unknown token: no source in the configuration has this token",
                           "source")
        return found

    def robot_with_token(self, access_token: str) -> str | None:
        """The robot whose webhook URL has ``access_token`` (``/robot/send``), compared in constant time."""
        return _find(self._robot_tokens, access_token)

    def robots_for(self, source: str, wanted: Sequence[str] | None) -> list[str]:
        allowed = self.tables.sources[source].robots
        if not wanted:
            return list(allowed)
        for i, r in enumerate(wanted):
            if r not in allowed:
                raise Rejected(422, "robot_not_allowed",
                               f"source {source} may send to {', '.join(allowed)}, not {r!r}", f"robots.{i}")
        return list(dict.fromkeys(wanted))

    # -- building the message ------------------------------------------------------------------------------

    def render(self, template: str, data: Mapping[str, Any], *, field: str = "template") -> Message:
        try:
            return self.renderer.render(template, data)
        except RenderError as exc:
            if exc.code == "unknown_template":
                names = ", ".join(self.renderer.names())
                raise Rejected(422, "unknown_template", f"no template named {template!r} (templates: {names})",
                               field) from None
            if exc.code == "undefined":
                raise Rejected(422, "template_variable_missing",
                               f"template {template!r} needs {exc.field or 'a variable'}, which the data lacks",
                               f"data.{exc.field}" if exc.field else "data") from None
            raise Rejected(422, "invalid_message", f"template {template!r}: {exc.message}",
                           exc.field or "data") from None

    def parse(self, payload: Any, *, field: str = "message") -> Message:
        try:
            return parse_message(payload)
        except MessageInvalid as exc:
            where = f"{field}.{exc.field}" if exc.field else field
            raise Rejected(422, "invalid_message", str(exc), where) from None

    # -- accepting -----------------------------------------------------------------------------------------

    def check(self, message: Message, robots: Sequence[str], *, field: str = "content",
              payload: bytes | None = None) -> None:
        """Refuse at the door what DingTalk would refuse later: a missing keyword, more than 20,000 bytes, or for an
        app robot what its OpenAPI cannot take (a feedCard, @mentions, more than 5 buttons, see ``msgkeys``)."""
        size = len(payload) if payload is not None else message.size()
        if size > MAX_BODY_BYTES:
            raise Rejected(422, "too_large", f"the message is {size} bytes; DingTalk accepts at most "
                           f"{MAX_BODY_BYTES}; shorten it", field)
        self.check_app_robots(message, robots, field=field)
        for name in dict.fromkeys(r for target in robots for r in self.tables.robots_of(target)):
            keywords = self.tables.robots[name].keywords
            if not satisfies_keywords(message, keywords):
                wanted = " or ".join(keywords)
                raise Rejected(422, "keyword_missing",
                               f"robot {name} requires keyword {wanted}; the message lacks it", field)

    def check_app_robots(self, message: Message, robots: Sequence[str], *, field: str = "content") -> None:
        """``invalid_message`` (422) when an app robot among ``robots`` cannot send ``message`` by the OpenAPI."""
        for name in dict.fromkeys(r for target in robots for r in self.tables.robots_of(target)):
            if self.tables.robots[name].app:
                try:
                    to_msg_key(message)
                except MessageInvalid as exc:
                    raise Rejected(422, "invalid_message", f"robot {name} is an app robot: {exc}", field) from None

    def with_keywords(self, message: Message, robots: Sequence[str], *, template: str) -> Message:
        """``message`` (a card rendered by ``template``) carrying a keyword of every robot of ``robots`` (a pool:
        of each member): a missing one is put in front, ``【告警】…``, as digests do, and logged once per robot
        and template. A card that grows past DingTalk's 20,000 bytes by it is an ``invalid_message``."""
        for name in dict.fromkeys(r for target in robots for r in self.tables.robots_of(target)):
            keywords = self.tables.robots[name].keywords
            if satisfies_keywords(message, keywords):
                continue
            try:
                message = with_keyword(message, keywords[0])
            except ValueError as exc:
                raise Rejected(422, "invalid_message", f"template {template!r}: with robot {name}'s keyword "
                               f"{keywords[0]} put in front, {exc}", "template") from None
            self._keyword_added(name, template, keywords[0])
        return message

    def _keyword_added(self, robot: str, template: str, keyword: str) -> None:
        with self._keywords_lock:
            if (robot, template) in self._keywords_added:
                return
            self._keywords_added.add((robot, template))
        log.warning("robot %s requires keyword %s, which cards of template %s lack: putting 【%s】 in front of "
                    "them (logged once per robot and template)", robot, keyword, template, keyword)

    def accept(self, source: str, message: Message, robots: Sequence[str], *,
               idempotency_key: str | None = None, fingerprint: Fingerprint | None = None) -> Accepted:
        return self.accept_many(source, [(message, robots)], idempotency_key=idempotency_key,
                                fingerprints=[fingerprint])[0]

    def accept_many(self, source: str, items: Sequence[tuple[Message, Sequence[str]]], *,
                    idempotency_key: str | None = None, fingerprints: Sequence[Fingerprint | None] | None = None,
                    alert: bool = False) -> list[Accepted]:
        """Check every (message, robots) pair, then store them all in one transaction: all or nothing.

        ``fingerprints`` (one per item) say which messages are about the same alert group and say the same about
        it; by default, the same body is both. ``alert``: cards of the alert hooks, whose repeats are suppressed
        by default (:meth:`Tables.suppress_seconds`).
        """
        new: list[NewMessage] = []
        sizes: list[int] = []
        picked: dict[str, int] = {}
        for i, (message, robots) in enumerate(items):
            payload = message.to_json()
            self.check(message, robots, payload=payload)
            body = hashlib.sha256(payload).hexdigest()
            fingerprint = (fingerprints[i] if fingerprints else None) or Fingerprint(body, body)
            targets: dict[str, str] = {}   # robot -> the robot or pool it was picked for: where repeats are judged
            for r in robots:
                targets.setdefault(self._pick(r, picked), r)
            new += [NewMessage(queue=r, robot=r, payload=payload, msgtype=message.msgtype, title=message.summary,
                               source=source, fingerprint=fingerprint.state,
                               repeat_key=_repeat_key(shown_on, fingerprint.identity))
                    for r, shown_on in targets.items()]
            sizes.append(len(targets))
        key = (source, idempotency_key) if idempotency_key else None
        window = self.tables.suppress_seconds(source, alert=alert)
        stored, created = self.store.enqueue(new, now=self.clock(), idempotency=key, suppress_seconds=window)
        if created:
            self._count(source, stored)
        if not created and len(items) == 1:  # a repeated request: the first request's messages
            return [Accepted(stored, created)]
        return _split(stored, sizes, created)

    def _count(self, source: str, stored: Sequence[StoredMessage]) -> None:
        endpoint = current_endpoint.get()
        for m in stored:
            self.metrics.accepted(source, m.queue, endpoint)
            if m.status is Status.SUPPRESSED:
                self.metrics.outcome(m.queue, "suppressed")

    def _pick(self, target: str, picked: dict[str, int]) -> str:
        """``target`` itself, or for a pool its robot with the least backlog (``picked`` counts this request's)."""
        members = self.tables.pools.get(target)
        if members is None:
            return target
        if len(members) == 1:
            return members[0]
        backlog = self.store.backlogs(members)
        with self._turns_lock:
            turn = next(self._turns[target])
        order = members[turn % len(members):] + members[:turn % len(members)]
        robot = min(order, key=lambda r: backlog.get(r, 0) + picked.get(r, 0))
        picked[robot] = picked.get(robot, 0) + 1
        return robot

    def lookup(self, source: str, message_id: str) -> StoredMessage:
        """A message of ``source``, or a digest carrying one of its messages."""
        m = self.store.get(message_id)
        if m is None or not (m.source == source or
                             (m.is_digest and any(c.source == source for c in self.store.carried(m.id)))):
            raise Rejected(404, "not_found", f"no message {message_id} for this source", "id")
        return m


def _find(table: Sequence[tuple[str, bytes]], token: str) -> str | None:
    """The name whose token is ``token``; every entry is compared, in constant time, so timing tells nothing."""
    given = token.encode()
    found = None
    for name, expected in table:
        if hmac.compare_digest(given, expected):
            found = name
    return found


def _repeat_key(shown_on: str, identity: str) -> str:
    """The key a repeat shares: what it is about (``identity``), on the robot or pool it is shown on."""
    return hashlib.sha256(f"{shown_on}\n{identity}".encode()).hexdigest()


def _split(stored: list[StoredMessage], sizes: Sequence[int], created: bool) -> list[Accepted]:
    out, start = [], 0
    for n in sizes:
        out.append(Accepted(stored[start:start + n], created))
        start += n
    return out


def with_mentions(message: Message, at: Mapping[str, Any] | None) -> Message:
    """Add an ``at`` object (DingTalk's field names) to a text or markdown message."""
    if not at:
        return message
    if not isinstance(message, Text | Markdown):
        raise Rejected(422, "invalid_message", f"@mentions work only for text and markdown, not {message.msgtype}",
                       "at")
    try:
        extra = At.model_validate(at)
    except ValueError as exc:
        raise Rejected(422, "invalid_message", f"at: {exc}".splitlines()[0], "at") from None
    base = message.at or At()
    merged = At(mobiles=[*base.mobiles, *extra.mobiles], user_ids=[*base.user_ids, *extra.user_ids],
                all=base.all or extra.all)
    return message.model_copy(update={"at": merged})


def message_json(m: StoredMessage, attempts: Sequence[Attempt] = ()) -> dict[str, Any]:
    """A message as the API shows it: its status, ``attempts`` (each send attempt, oldest first), ``why`` (merged,
    suppressed, or a digest, and by which message) and the exact DingTalk JSON."""
    return m.to_json(attempts)
