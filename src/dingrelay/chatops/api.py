"""A small client for Alertmanager's API v2: the alerts that fire, the silences that hold, and changing silences.

::

    am = Alertmanager("http://alertmanager:9093", token=Secret("..."))   # token: optional bearer token
    am.alerts([parse_matcher('severity="critical"')])       # active, not silenced, not inhibited
    sid = am.create_silence(matchers, starts_at=now, ends_at=now + timedelta(hours=2),
                            created_by="张三 (manager1234)", comment="扩容中")
    am.expire_silence(sid)

Errors are one type, :class:`AlertmanagerError`, whose message says what failed in words a person can act on and
whose ``retryable`` says whether trying again can help (unreachable, 5xx) or not (a 4xx: Alertmanager refused the
request, and its reason is in the message). The bearer token never appears in an error, a log or a repr.

Matchers keep Alertmanager's semantics: a silence carries each matcher as ``{name, value, isRegex, isEqual}``
(``!=`` and ``!~`` are ``isEqual: false``), and an alert filter is Alertmanager's own matcher syntax.
Alertmanager refuses a silence without ``createdBy`` or ``comment``, or whose matchers all match the empty string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ..adapters.matchers import Matcher, Operator, matcher
from ..dingtalk.masking import Secret

API = "/api/v2"


class AlertmanagerError(Exception):
    """Alertmanager could not do what was asked; ``str()`` says why, ``retryable`` whether a retry can help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.reason = reason        # Alertmanager's own words for a refusal (HTTP 4xx), without our URL


@dataclass(frozen=True)
class Alert:
    """One alert as Alertmanager's ``GET /api/v2/alerts`` returns it."""

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    state: str                      # "active", "suppressed" or "unprocessed"
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Silence:
    """One silence as ``GET /api/v2/silences`` returns it."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: str                      # "active", "pending" or "expired"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_time(value: str | None) -> datetime | None:
    """Alertmanager's RFC 3339 times (``2026-12-01T12:00:00.123456789Z``); Go's zero time is None."""
    if not value or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    head, sep, rest = text.partition(".")
    if sep:  # Go writes up to nine fraction digits; Python reads six
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def matcher_json(m: Matcher) -> dict[str, Any]:
    return {"name": m.name, "value": m.value, "isRegex": m.op in ("=~", "!~"), "isEqual": m.op in ("=", "=~")}


def matcher_from_json(data: Mapping[str, Any]) -> Matcher:
    regex, equal = bool(data.get("isRegex")), data.get("isEqual", True) is not False
    op: Operator = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
    return matcher(str(data.get("name", "")), op, str(data.get("value", "")))


class Alertmanager:
    """Alertmanager's API v2 at ``url``; ``client`` is injectable (tests use the real Alertmanager or MockTransport)."""

    def __init__(self, url: str, *, token: Secret | str | None = None, client: httpx.Client | None = None,
                 timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"Alertmanager({self.url!r})"

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def alerts(self, matchers: Sequence[Matcher] = (), *, silenced: bool = False,
               inhibited: bool = False) -> list[Alert]:
        """Active alerts matching every matcher; silenced and inhibited ones only when asked for."""
        params: list[tuple[str, str]] = [("active", "true"), ("silenced", str(silenced).lower()),
                                         ("inhibited", str(inhibited).lower()), ("unprocessed", "true")]
        params += [("filter", str(m)) for m in matchers]
        return [alert_from_json(a) for a in self._json("GET", "/alerts", params=params) or []]

    def silences(self, *, states: Sequence[str] = ("active",)) -> list[Silence]:
        """Silences in ``states`` (all of them when empty), soonest end first."""
        found = [silence_from_json(s) for s in self._json("GET", "/silences") or []]
        return sorted((s for s in found if not states or s.state in states), key=lambda s: s.ends_at)

    def silence(self, silence_id: str) -> Silence:
        return silence_from_json(self._json("GET", f"/silence/{silence_id}"))

    def create_silence(self, matchers: Sequence[Matcher], *, starts_at: datetime, ends_at: datetime,
                       created_by: str, comment: str) -> str:
        """Create a silence and return its id."""
        body = {"matchers": [matcher_json(m) for m in matchers], "startsAt": format_time(starts_at),
                "endsAt": format_time(ends_at), "createdBy": created_by, "comment": comment}
        answer = self._json("POST", "/silences", json=body)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise AlertmanagerError(f"Alertmanager at {self.url} answered a new silence without its id",
                                    retryable=False)
        return silence_id

    def expire_silence(self, silence_id: str) -> None:
        self._json("DELETE", f"/silence/{silence_id}")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json"}
        if self._token is not None:
            raw = self._token.reveal() if isinstance(self._token, Secret) else str(self._token)
            headers["Authorization"] = f"Bearer {raw}"
        what = f"Alertmanager at {self.url} ({method} {API}{path})"
        try:
            response = self._client.request(method, f"{self.url}{API}{path}", headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise AlertmanagerError(f"{what} did not answer in time", retryable=True) from None
        except httpx.HTTPError as exc:
            raise AlertmanagerError(f"{what} is unreachable: {type(exc).__name__}", retryable=True) from None
        if response.status_code >= 400:
            reason = _reason(response)
            raise AlertmanagerError(f"{what} answered HTTP {response.status_code}: {reason}",
                                    retryable=response.status_code >= 500 or response.status_code == 429,
                                    status=response.status_code, reason=reason)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise AlertmanagerError(f"{what} answered something that is not JSON", retryable=False) from None


def _reason(response: httpx.Response) -> str:
    """Alertmanager's own words for a refusal: a JSON string, an object with ``message``, or plain text."""
    try:
        data = response.json()
    except ValueError:
        data = response.text
    if isinstance(data, dict):
        data = data.get("message") or data.get("error") or data
    text = str(data).strip()
    if response.status_code in (401, 403):
        text = "the token is missing or wrong (bots.<name>.alertmanager.token)" + (f": {text}" if text else "")
    return text[:300] or response.reason_phrase


def alert_from_json(data: Mapping[str, Any]) -> Alert:
    status = data.get("status") or {}
    starts = parse_time(data.get("startsAt")) or datetime.now(UTC)
    return Alert(fingerprint=str(data.get("fingerprint", "")),
                 labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
                 annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
                 starts_at=starts, ends_at=parse_time(data.get("endsAt")),
                 generator_url=str(data.get("generatorURL") or ""), state=str(status.get("state", "")),
                 silenced_by=tuple(status.get("silencedBy") or ()),
                 inhibited_by=tuple(status.get("inhibitedBy") or ()))


def silence_from_json(data: Mapping[str, Any]) -> Silence:
    starts = parse_time(data.get("startsAt")) or datetime.now(UTC)
    return Silence(id=str(data.get("id", "")),
                   matchers=tuple(matcher_from_json(m) for m in data.get("matchers") or ()),
                   starts_at=starts, ends_at=parse_time(data.get("endsAt")) or starts,
                   created_by=str(data.get("createdBy", "")), comment=str(data.get("comment", "")),
                   state=str((data.get("status") or {}).get("state", "")), raw=data)
