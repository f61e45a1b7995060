"""The configuration file: YAML -> one typed settings tree, parsed once at start-up.

``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) anywhere in a value is replaced from the environment, so secrets
stay out of the file. Every problem is reported at once, each naming its key and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from .adapters.matchers import parse_matchers
from .config_errors import ConfigError, Problem, problems_from
from .config_robots import robot_kind_problems, robot_shown
from .dashboard.passwords import valid_hash
from .dingtalk.callback import DEFAULT_SESSION_WEBHOOK_PREFIXES, UrlPrefixText
from .dingtalk.masking import Secret, WebhookURL
from .dingtalk.messages import MOBILE
from .envvars import substitute

ENV_VAR = "DINGRELAY_CONFIG"


def _to_secret(v: Any) -> Any:
    if isinstance(v, Secret) or v is None:
        return v
    if isinstance(v, str):
        return Secret(v) if v else None
    raise ValueError("must be a string")


def _to_webhook(v: Any) -> Any:
    if isinstance(v, WebhookURL):
        return v
    if not isinstance(v, str) or not v:
        raise ValueError("must be the webhook URL copied from DingTalk")
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL like https://oapi.dingtalk.com/robot/send?access_token=...")
    if not parse_qs(parts.query).get("access_token"):
        raise ValueError("lacks ?access_token=...; copy the whole webhook URL from the robot's settings")
    return WebhookURL(v)


def _masked(v: Any) -> str | None:
    return None if v is None else str(v)


def _to_required_secret(v: Any) -> Any:
    if v is None or v == "":
        raise ValueError("is empty; set it (or the environment variable it names)")
    return _to_secret(v)


SecretStr = Annotated[Secret, BeforeValidator(_to_required_secret), PlainSerializer(_masked)]
OptionalSecret = Annotated[Secret | None, BeforeValidator(_to_secret), PlainSerializer(_masked)]
WebhookStr = Annotated[WebhookURL, BeforeValidator(_to_webhook), PlainSerializer(str, return_type=str)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


class AppSettings(_Section):
    """An app robot's app: AppKey (client_id), AppSecret, RobotCode and the OpenAPI's URL."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    robot_code: str | None = None            # default: the client_id (as DingTalk's SDKs do)
    api: str = "https://api.dingtalk.com"    # tests and demos: the emulator's URL

    @field_validator("api")
    @classmethod
    def _api_shape(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://api.dingtalk.com")
        return v.rstrip("/")


class RobotSettings(_Section):
    """A custom robot (``webhook``) or an app robot (``app`` plus ``open_conversation_id`` or ``user_ids``)."""

    webhook: WebhookStr | None = None
    secret: OptionalSecret = None
    keywords: list[str] = Field(default_factory=list, max_length=10)
    rate_limit: int = Field(default=20, ge=1, le=1000)
    rate_window_seconds: float = Field(default=60.0, gt=0)
    app: AppSettings | None = None
    open_conversation_id: str | None = Field(default=None, min_length=1)   # an app robot's group (cid…)
    user_ids: list[str] = Field(default_factory=list, max_length=20)       # an app robot's 1:1 recipients

    def problems(self, key: str) -> list[str]:
        """What is wrong with the robot's kind, as ``key.field: message`` lines (checked once fields are valid)."""
        return robot_kind_problems(self, key)

    @field_validator("secret")
    @classmethod
    def _secret_shape(cls, v: Secret | None) -> Secret | None:
        if v is not None and not v.reveal().startswith("SEC"):
            raise ValueError("a 加签 secret starts with SEC; copy it from the robot's 安全设置")
        return v

    @property
    def access_token(self) -> str | None:
        """The access_token of its webhook URL (``None``: an app robot)."""
        if self.webhook is None:
            return None
        return parse_qs(urlsplit(self.webhook.reveal()).query)["access_token"][0]


class ServerSettings(_Section):
    listen: str = "127.0.0.1:8080"
    public_url: str = ""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    threads: int = Field(default=8, ge=1, le=256)
    # SIGTERM/SIGINT: how long sends in flight may take to finish before what is left goes back to the queue.
    shutdown_seconds: float = Field(default=10.0, gt=0, le=600)

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


def _matcher_line(v: str) -> str:
    parse_matchers(v)  # a MatcherError says what is wrong
    return v


def _to_mobile(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)  # YAML reads 13800000000 as a number
    if not isinstance(v, str) or not MOBILE.fullmatch(v):
        raise ValueError("must be a mobile number as DingTalk's atMobiles takes it, for example 13800000000")
    return v


def _label_name(v: str | None) -> str | None:
    if v is not None and not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", v):
        raise ValueError("must be a label name, for example owner")
    return v


MatcherLine = Annotated[str, AfterValidator(_matcher_line)]
Mobile = Annotated[str, BeforeValidator(_to_mobile)]


class RouteSettings(_Section):
    """Alerts whose labels match every matcher (Alertmanager syntax) go to ``robots`` instead of the source's."""

    matchers: list[MatcherLine] = Field(min_length=1)
    robots: list[str] = Field(min_length=1)


class SourceSettings(_Section):
    token: SecretStr
    robots: list[str] = Field(min_length=1)
    routes: list[RouteSettings] = Field(default_factory=list)     # alert hooks: the first route that matches wins
    mention_label: Annotated[str | None, AfterValidator(_label_name)] = None  # label whose value is mobiles to @
    mentions: dict[str, dict[str, list[Mobile]]] = Field(default_factory=dict)  # label -> value -> mobiles to @
    # A repeat of what this source last showed on a robot, within this many seconds, is suppressed (0: never).
    # Unset: off, except on the alert hooks, which use delivery.suppress_window_seconds.
    suppress_window_seconds: float | None = Field(default=None, ge=0)


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


class ReplyRule(_Section):
    match: str
    template: str | None = None
    text: str | None = None

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _one_answer(self) -> ReplyRule:
        if (self.template is None) == (self.text is None):
            raise ValueError("give exactly one of template (a template name) or text (an inline Jinja2 template)")
        return self


class BotSettings(_Section):
    app_secret: SecretStr
    client_id: str | None = None
    replies: list[ReplyRule] = Field(default_factory=list)
    handlers: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)   # extra variables every reply template sees
    reply_budget_seconds: float = Field(default=1.5, gt=0, le=10)
    stream_api: str = "https://api.dingtalk.com"        # stream mode registers here (tests: the emulator's URL)
    session_webhook_prefixes: tuple[UrlPrefixText, ...] = DEFAULT_SESSION_WEBHOOK_PREFIXES  # replies go only there
    robot_code: str | None = None                       # set: callbacks with another robotCode are refused
    corp_id: str | None = None                          # set: callbacks with another chatbotCorpId are refused
    callback_window_seconds: float = Field(default=3600.0, gt=0, le=3600)  # how old a signed timestamp may be


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
