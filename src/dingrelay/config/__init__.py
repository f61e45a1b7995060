"""The configuration file: YAML -> one typed settings tree, parsed once at start-up. ``${ENV_VAR}`` (or
``${ENV_VAR:-default}``) anywhere in a value is replaced from the environment, so secrets stay out of the file, and
every problem is reported at once, each naming its key and the fix. It may import pydantic, YAML, the protocol core,
the adapters' matchers and the dashboard's password check; only the composition root imports its types."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..dashboard.passwords import valid_hash
from ..envvars import substitute
from .bots import AlertmanagerSettings, BotSettings, ReplyRule
from .checks import button_problems, chatops_problems, check_link_secret, optional_http_url
from .errors import ConfigError, Problem, problems_from
from .robots import AppSettings, RobotSettings, robot_shown
from .types import CardKind, MatcherLine, Mobile, OptionalSecret, SecretStr, _Section, label_name

__all__ = ["AlertmanagerSettings", "AppSettings", "BotSettings", "ConfigError", "Problem", "ReplyRule",
           "RobotSettings", "Settings", "load_settings", "parse_settings"]

ENV_VAR = "DINGRELAY_CONFIG"


class ServerSettings(_Section):
    listen: str = "127.0.0.1:8080"
    public_url: Annotated[str, AfterValidator(optional_http_url)] = ""   # where people reach the gateway (card links)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # granian's blocking threads: requests in the app at once. 32 lets the group commit take more requests per
    # commit while others wait on theirs (bench/ingest.py: 8 -> 32 took ingest from 0.16x to 0.31x of bare Flask).
    threads: int = Field(default=32, ge=1, le=256)
    # SIGTERM/SIGINT: how long sends in flight may take to finish before what is left goes back to the queue.
    shutdown_seconds: float = Field(default=10.0, gt=0, le=600)
    # Signs the alert cards' silence links; needed by `card: actioncard` with an Alertmanager. Keep it stable:
    # changing it breaks every link already sent.
    link_secret: Annotated[OptionalSecret, AfterValidator(check_link_secret)] = None

    @field_validator("listen")
    @classmethod
    def _listen_shape(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be HOST:PORT, for example 127.0.0.1:8080")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.listen}"


class MetricsSettings(_Section):
    token: OptionalSecret = None   # when set, GET /metrics needs Authorization: Bearer <token>
    listen: str | None = None      # `dingrelay worker` and `dingrelay stream` (no HTTP API) serve /metrics here

    @field_validator("listen")
    @classmethod
    def _listen_shape(cls, v: str | None) -> str | None:
        return v if v is None else ServerSettings._listen_shape(v)


class StorageSettings(_Section):
    url: str = "sqlite:///dingrelay.db"
    #: ``full``: a 202 survives power loss; ``normal``: faster commits that survive kill -9 but not an OS crash.
    sqlite_synchronous: Literal["full", "normal"] = "full"

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("must be sqlite:///FILE or postgresql+psycopg://USER@HOST/DB")
        return v

    def masked(self) -> str:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:****@", self.url)


class RouteSettings(_Section):
    """Alerts whose labels match every matcher (Alertmanager syntax) go to ``robots`` instead of the source's."""

    matchers: list[MatcherLine] = Field(min_length=1)
    robots: list[str] = Field(min_length=1)
    card: CardKind | None = None   # unset: the source's


class SourceSettings(_Section):
    token: SecretStr
    robots: list[str] = Field(min_length=1)
    routes: list[RouteSettings] = Field(default_factory=list)     # alert and event hooks: the first match wins
    mention_label: Annotated[str | None, AfterValidator(label_name)] = None  # label whose value is mobiles to @
    mentions: dict[str, dict[str, list[Mobile]]] = Field(default_factory=dict)  # label -> value -> mobiles to @
    # A repeat of what this source last showed on a robot, within this many seconds, is suppressed (0: never).
    # Unset: off, except on the alert hooks, which use delivery.suppress_window_seconds.
    suppress_window_seconds: float | None = Field(default=None, ge=0)
    # Alert cards: markdown, or an actionCard with buttons (静默 1h/4h with `alertmanager`, 查看 the generatorURL).
    card: CardKind = "markdown"
    alertmanager: AlertmanagerSettings | None = None   # silences go here, never to a URL taken from a payload


class TemplateSettings(_Section):
    dir: Path | None = None


class DeliverySettings(_Section):
    give_up_after_seconds: float = Field(default=86400.0, gt=0)
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    penalty_seconds: float = Field(default=600.0, ge=0)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # Sends in flight at once (the send pool's threads). 64 fills 1,000 robots' budgets (333/s) at a round trip
    # up to ~190 ms: sends in flight = rate x round trip.
    concurrency: int = Field(default=64, ge=1, le=1024)
    # Storms: a robot whose backlog would take longer than digest_after_seconds to drain at its rate gets digests.
    digest: bool = True
    digest_after_seconds: float = Field(default=120.0, gt=0)
    # Alert hooks: a card repeating the last card shown for its alert group on a robot (or pool) this many seconds
    # ago is suppressed (0: never). Other endpoints: sources.<s>.suppress_window_seconds.
    suppress_window_seconds: float = Field(default=300.0, ge=0)


class RetentionSettings(_Section):
    """How long finished messages are kept (null: forever); the worker prunes a batch every interval."""

    delivered_days: float | None = Field(default=7.0, gt=0)   # delivered and suppressed messages
    dead_days: float | None = Field(default=30.0, gt=0)
    interval_seconds: float = Field(default=60.0, gt=0)
    batch: int = Field(default=500, ge=1, le=10_000)


class DashboardUser(_Section):
    password_hash: Annotated[SecretStr, AfterValidator(valid_hash)]   # what `dingrelay passwd` prints


class DashboardSettings(_Section):
    users: dict[str, DashboardUser] = Field(default_factory=dict)     # who may sign in to /ui/ (none: nobody)


class Settings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    robots: dict[str, RobotSettings] = Field(default_factory=dict)
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    bots: dict[str, BotSettings] = Field(default_factory=dict)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    # Robot pools: robots added to the same group. A source or route naming a pool sends each message to ONE of
    # its robots (the one with the least backlog), so the pool's rate limit is the sum of theirs.
    pools: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        problems = [p for name, rs in self.robots.items() for p in rs.problems(f"robots.{name}")]
        for name, members in self.pools.items():
            if name in self.robots:
                problems.append(f"pools.{name}: a robot has this name too; pool and robot names must be unique")
            for i, robot in enumerate(members):
                if robot not in self.robots:
                    problems.append(f"pools.{name}.{i}: no robot named {robot!r} "
                                    f"(robots: {', '.join(self.robots) or 'none'})")
                elif robot in members[:i]:
                    problems.append(f"pools.{name}.{i}: {robot} is listed twice")
        known = f"robots: {', '.join(self.robots) or 'none'}" + (f"; pools: {', '.join(self.pools)}" if self.pools
                                                                  else "")
        unknown = "no robot or pool named" if self.pools else "no robot named"
        for name, src in self.sources.items():
            for key, names in [("robots", src.robots),
                               *((f"routes.{r}.robots", route.robots) for r, route in enumerate(src.routes))]:
                problems += [f"sources.{name}.{key}.{i}: {unknown} {robot!r} ({known})"
                             for i, robot in enumerate(names) if robot not in self.robots and robot not in self.pools]
        problems += button_problems(self) + chatops_problems(self)
        tokens: dict[str, str] = {}
        for name, src in self.sources.items():
            t = src.token.reveal()
            if t in tokens:
                problems.append(f"sources.{name}.token: same token as source {tokens[t]}; give each its own")
            tokens[t] = name
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def robots_of(self, name: str) -> list[str]:
        """The robots a source or route entry names: a pool's robots, or the robot itself."""
        return list(self.pools.get(name, [name]))

    def masked(self) -> dict[str, Any]:
        """The effective configuration with every secret masked, for printing."""
        data = self.model_dump(mode="json")
        data["storage"]["url"] = self.storage.masked()
        data["robots"] = {name: robot_shown(robot) for name, robot in data["robots"].items()}
        return data


def parse_settings(data: Any, *, env: Mapping[str, str] | None = None, source: str = "config") -> Settings:
    """Validate an already-loaded mapping (``None`` gives the defaults)."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the file must be a YAML mapping of sections (robots:, sources:, ...)")],
                          source)
    problems: list[Problem] = []
    data = substitute(data, "", os.environ if env is None else env,
                      lambda key, msg: problems.append(Problem(key, msg)))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        reported = {p.key for p in problems}
        problems.extend(p for p in problems_from(exc, Settings) if p.key not in reported)
        raise ConfigError(problems, source) from None
    if problems:
        raise ConfigError(problems, source)
    return settings


def load_settings(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file at ``path`` (or ``$DINGRELAY_CONFIG``); raise :class:`ConfigError` listing every problem."""
    environ = os.environ if env is None else env
    path = environ.get(ENV_VAR) if path is None else path
    if not path:
        raise ConfigError([Problem("", f"no configuration file: pass --config FILE or set {ENV_VAR}")])
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {p}: {exc.strerror}")], str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([Problem("", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}")], str(p)) from None
    settings = parse_settings(data, env=environ, source=str(p))
    if settings.templates.dir is not None and not settings.templates.dir.is_absolute():
        settings = settings.model_copy(update={
            "templates": TemplateSettings(dir=(p.parent / settings.templates.dir).resolve())})
    return settings
