"""App credentials and the access-token cache of the app-robot OpenAPI (PROTOCOL.md §4).

``POST {api}/v1.0/oauth2/accessToken {"appKey", "appSecret"}`` answers ``{"accessToken", "expireIn"}`` (7200 s).
A :class:`TokenCache` keeps one token per app until shortly before it expires, shared by every thread: a thread
that finds no valid token fetches one while the others asking for the same app wait for it (one fetch in flight per
app), then all use it. :meth:`TokenCache.invalidate` drops a token DingTalk refused, unless another thread already
replaced it, so a burst of refusals costs one new token, not one each. The clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .masking import Secret

DEFAULT_API = "https://api.dingtalk.com"
TOKEN_PATH = "/v1.0/oauth2/accessToken"  # noqa: S105 (a path)
#: A token is renewed this long before DingTalk says it expires (at most a tenth of its lifetime).
RENEW_BEFORE_SECONDS = 300.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class App:
    """An enterprise-internal app: its AppKey (``client_id``), AppSecret and the OpenAPI base URL."""

    client_id: str
    client_secret: Secret = field(repr=False)
    api: str = DEFAULT_API

    @property
    def key(self) -> tuple[str, str]:
        return (self.api.rstrip("/"), self.client_id)


@dataclass(frozen=True)
class AccessToken:
    value: Secret = field(repr=False)
    expires_in: float   # seconds, as DingTalk said


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: Secret | None = None
    renew_at: float = 0.0


class TokenCache:
    """One access token per app, fetched through ``fetch`` when missing or about to expire."""

    def __init__(self, fetch: Callable[[App], AccessToken], *, clock: Clock = time.time,
                 renew_before: float = RENEW_BEFORE_SECONDS) -> None:
        self._fetch = fetch
        self._clock = clock
        self._renew_before = renew_before
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        #: How many tokens were fetched, per app key (for tests and metrics).
        self.fetches: dict[tuple[str, str], int] = {}

    def _entry(self, app: App) -> _Entry:
        with self._lock:
            return self._entries.setdefault(app.key, _Entry())

    def get(self, app: App) -> Secret:
        """A valid token for ``app``: the cached one, or a new one (raises what ``fetch`` raises)."""
        entry = self._entry(app)
        with entry.lock:   # held while fetching: the other threads wait for this fetch instead of starting theirs
            now = self._clock()
            if entry.token is not None and now < entry.renew_at:
                return entry.token
            token = self._fetch(app)
            margin = min(self._renew_before, token.expires_in / 10)
            entry.token, entry.renew_at = token.value, self._clock() + token.expires_in - margin
            self.fetches[app.key] = self.fetches.get(app.key, 0) + 1
            return entry.token

    def invalidate(self, app: App, token: Secret) -> None:
        """Forget ``token`` (DingTalk refused it); a newer token another thread fetched meanwhile stays."""
        entry = self._entry(app)
        with entry.lock:
            if entry.token == token:
                entry.token, entry.renew_at = None, 0.0
