"""Signed, expiring links for the silence buttons of alert cards.

A link names everything its confirmation page shows and its POST does, so the gateway keeps no state per card::

    token   = base64url(payload) "." base64url(HMAC-SHA256(key, "dingrelay.silence-link.v1." + base64url(payload)))
    payload = {"v": 1, "i": link id, "s": source, "m": [[name, op, value], ...], "d": seconds, "a": alert name,
               "t": summary, "r": [robots the card went to], "e": expiry (epoch seconds)}

The key comes from ``server.link_secret`` (through :func:`derive_key`, so the secret itself signs nothing). A
token is checked in this order: its shape and size (:data:`MAX_TOKEN_CHARS`), then its signature (compared in
constant time, before any of the payload is read), then its expiry (:data:`LIFETIME_SECONDS` after signing), so
"expired" is only ever said of a link the gateway made. Each refusal is a :class:`LinkRefused` whose ``status``
is what a page answers: 400 malformed, 403 bad signature, 410 expired.

The form on the confirmation page carries :meth:`LinkSigner.form_check`, an HMAC of the token and a random value
kept in a cookie, so a POST comes from the page the person saw (a CSRF check bound to the link).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from ..adapters.matchers import Matcher, MatcherError, Operator, matcher
from .api import Alertmanager

#: How long a card's links work.
LIFETIME_SECONDS = 24 * 3600
#: Longer tokens are refused unread (and not made: a card then gets no silence buttons).
MAX_TOKEN_CHARS = 3000
_CONTEXT = b"dingrelay.silence-link.v1."
_OPERATORS: tuple[Operator, ...] = ("=", "!=", "=~", "!~")


class LinkRefused(Exception):
    """A link that cannot be used. ``code`` is ``malformed`` (400), ``bad_signature`` (403) or ``expired`` (410)."""

    STATUS: ClassVar[Mapping[str, int]] = MappingProxyType({"malformed": 400, "bad_signature": 403, "expired": 410})

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = self.STATUS[code]


@dataclass(frozen=True)
class SilenceLink:
    """What one button does: silence ``matchers`` for ``seconds``, on behalf of source ``source``."""

    source: str
    matchers: tuple[Matcher, ...]
    seconds: int
    alertname: str
    summary: str
    robots: tuple[str, ...]
    expires_at: int
    id: str = ""

    def payload(self) -> dict[str, Any]:
        return {"v": 1, "i": self.id, "s": self.source, "m": [[m.name, m.op, m.value] for m in self.matchers],
                "d": self.seconds, "a": self.alertname, "t": self.summary, "r": list(self.robots),
                "e": self.expires_at}


def derive_key(secret: str) -> bytes:
    """The signing key for the links, derived from ``server.link_secret``."""
    return hmac.new(secret.encode(), b"dingrelay silence links", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks link tokens with ``key``; ``clock`` (epoch seconds) is injectable for tests."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time,
                 lifetime_seconds: int = LIFETIME_SECONDS) -> None:
        if len(key) < 16:
            raise ValueError("the link key must be at least 16 bytes")
        self._key = key
        self._clock = clock
        self.lifetime_seconds = lifetime_seconds

    def __repr__(self) -> str:
        return "LinkSigner(key=****)"

    def new_link(self, *, source: str, matchers: Sequence[Matcher], seconds: int, alertname: str, summary: str,
                 robots: Sequence[str], link_id: str | None = None) -> SilenceLink:
        """A link expiring :attr:`lifetime_seconds` from now."""
        return SilenceLink(source=source, matchers=tuple(matchers), seconds=seconds, alertname=alertname,
                           summary=summary, robots=tuple(robots),
                           expires_at=int(self._clock()) + self.lifetime_seconds,
                           id=link_id or secrets.token_urlsafe(9))

    def sign(self, link: SilenceLink) -> str:
        body = _b64(json.dumps(link.payload(), ensure_ascii=False, separators=(",", ":")).encode())
        return f"{body}.{_b64(self._mac(body))}"

    def verify(self, token: str) -> SilenceLink:
        """The link ``token`` stands for; :class:`LinkRefused` when it is malformed, forged or expired."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise LinkRefused("malformed", "the link is incomplete or not a silence link")
        body, _, sig = token.partition(".")
        try:
            given = _unb64(sig)
        except (binascii.Error, ValueError):
            raise LinkRefused("malformed", "the link's signature is not base64url") from None
        if not body or not hmac.compare_digest(given, self._mac(body)):
            raise LinkRefused("bad_signature", "the link's signature does not match: it was changed or cut short")
        link = _parse(body)
        if self._clock() >= link.expires_at:
            raise LinkRefused("expired", "the link has expired")
        return link

    def form_check(self, token: str, nonce: str) -> str:
        """What the confirmation form carries: binds the POST to this link and the browser's ``nonce`` cookie."""
        return _b64(hmac.new(self._key, b"form." + nonce.encode() + b"." + token.encode(), hashlib.sha256).digest())

    def form_check_ok(self, token: str, nonce: str, given: str) -> bool:
        if not nonce or not given:
            return False
        return hmac.compare_digest(given.encode(), self.form_check(token, nonce).encode())

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, _CONTEXT + body.encode("ascii", errors="replace"), hashlib.sha256).digest()


def _parse(body: str) -> SilenceLink:
    """A signed payload (so made by us) back into a link; a payload of another version is malformed."""
    try:
        data = json.loads(_unb64(body))
        if data.get("v") != 1:
            raise ValueError("unknown version")
        matchers = tuple(matcher(str(n), _operator(op), str(v)) for n, op, v in data["m"])
        return SilenceLink(source=str(data["s"]), matchers=matchers, seconds=int(data["d"]),
                           alertname=str(data["a"]), summary=str(data["t"]),
                           robots=tuple(str(r) for r in data["r"]), expires_at=int(data["e"]), id=str(data["i"]))
    except (ValueError, KeyError, TypeError, AttributeError, MatcherError, binascii.Error):
        raise LinkRefused("malformed", "the link's content cannot be read") from None


def _operator(op: Any) -> Operator:
    if op not in _OPERATORS:
        raise ValueError(f"unknown operator {op!r}")
    found: Operator = op
    return found


# -- the buttons of a card -----------------------------------------------------------------------------------------

#: The silence buttons of a card: (seconds, title).
DURATIONS: tuple[tuple[int, str], ...] = ((3600, "静默 1h"), (4 * 3600, "静默 4h"))
VIEW_TITLE = "查看"
_SUMMARY_BYTES = 300
_RE2_META = frozenset("\\.+*?()|[]{}^$")


class Labelled(Protocol):
    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    @property
    def generator_url(self) -> str: ...

    @property
    def firing(self) -> bool: ...


def _quote_meta(value: str) -> str:
    """``value`` as a regular expression matching exactly it, as Go's ``regexp.QuoteMeta`` writes it."""
    return "".join("\\" + ch if ch in _RE2_META else ch for ch in value)


def silence_matchers(label_sets: Sequence[Mapping[str, str]]) -> tuple[Matcher, ...]:
    """Matchers that hold exactly the alerts with ``label_sets``: a label with one value is ``name="value"``;
    one whose values differ (or that some alerts lack) is ``name=~"v1|v2"``, ``|`` ending the list when some lack
    it (a missing label is ``""`` to Alertmanager). Empty when nothing would be held but those alerts: no alert,
    or no label every alert has with one non-empty value (Alertmanager refuses a silence matching everything)."""
    if not label_sets:
        return ()
    found: list[Matcher] = []
    for name in sorted(set().union(*label_sets)):
        values = sorted({labels.get(name, "") for labels in label_sets}, key=lambda v: (v == "", v))
        if len(values) == 1:
            found.append(matcher(name, "=", values[0]))
        else:
            found.append(matcher(name, "=~", "|".join(_quote_meta(v) for v in values)))
    if not any(m.op == "=" and m.value for m in found):
        return ()
    return tuple(found)


def view_url(alerts: Sequence[Labelled]) -> str:
    """The first alert's ``generatorURL`` when it is an http(s) URL (never a ``javascript:`` or relative one)."""
    for alert in alerts:
        url = alert.generator_url.strip()
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc and not any(ch in url for ch in "\r\n\t "):
            return url
    return ""


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit - 3].decode(errors="ignore") + "…"


def view_buttons(alerts: Sequence[Labelled]) -> list[dict[str, str]]:
    """查看: the generatorURL of the first firing alert that has an http(s) one (else of any alert)."""
    view = view_url([a for a in alerts if a.firing]) or view_url(alerts)
    return [{"title": VIEW_TITLE, "url": view}] if view else []


@dataclass(frozen=True)
class CardLinks:
    """Makes the buttons of actionCard alert cards: silence links to ``public_url`` for the sources that have an
    Alertmanager (``alertmanagers``: source -> its API client, from the configuration only), and 查看."""

    signer: LinkSigner
    public_url: str
    alertmanagers: Mapping[str, Alertmanager]

    def url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/silence/{token}"

    def close(self) -> None:
        for am in self.alertmanagers.values():
            am.close()

    def buttons(self, source: str, alerts: Sequence[Labelled], robots: Sequence[str]) -> list[dict[str, str]]:
        """The buttons for a card of ``alerts`` (most severe first) sent to ``robots``: 静默 1h and 静默 4h for its
        firing alerts when the source can silence, then 查看."""
        return self.silence_buttons(source, [a for a in alerts if a.firing], robots) + view_buttons(alerts)

    def silence_buttons(self, source: str, firing: Sequence[Labelled], robots: Sequence[str]
                        ) -> list[dict[str, str]]:
        if source not in self.alertmanagers or not firing:
            return []
        matchers = silence_matchers([a.labels for a in firing])
        if not matchers:
            return []
        names = list(dict.fromkeys(a.labels.get("alertname", "") for a in firing if a.labels.get("alertname")))
        summaries = list(dict.fromkeys(a.annotations.get("summary", "") for a in firing
                                       if a.annotations.get("summary")))
        summary = summaries[0] if len(summaries) == 1 else (f"{len(firing)} 条告警" if len(firing) > 1 else "")
        out = []
        link_id = secrets.token_urlsafe(9)
        for seconds, title in DURATIONS:
            link = self.signer.new_link(source=source, matchers=matchers, seconds=seconds,
                                        alertname=_cut(", ".join(names) or "?", 200),
                                        summary=_cut(summary, _SUMMARY_BYTES), robots=robots,
                                        link_id=f"{link_id}{seconds // 3600}h")
            token = self.signer.sign(link)
            if len(token) > MAX_TOKEN_CHARS:
                return []   # too many alerts to carry in a link: no silence buttons rather than a broken one
            out.append({"title": title, "url": self.url(token)})
        return out
