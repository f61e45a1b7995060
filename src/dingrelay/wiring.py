"""The composition root: the one place that reads settings and chooses concrete classes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import httpx

from . import __version__
from .adapters.matchers import parse_matchers
from .adapters.routing import Mentions, Route, Router
from .bot import Bots, BotSpec, HandlersNotLoaded, Pipeline, ReplyRule, load_handlers
from .bot.dedup import ReplyLog
from .chatops.api import Alertmanager
from .chatops.commands import WORDS as CHATOPS_WORDS
from .chatops.commands import ChatOps
from .chatops.links import CardLinks, LinkSigner, derive_key
from .config import BotSettings, ConfigError, Problem, Settings, SourceSettings
from .delivery.model import SESSION_LIMIT
from .delivery.pool import SendPool
from .delivery.retention import Retention, RetentionPolicy
from .delivery.retry import RetryPolicy
from .delivery.sender import BotApp, Sender
from .delivery.sql import SqlStore
from .delivery.worker import Digests, Worker
from .dingtalk.callback import UrlPrefix
from .dingtalk.client import Robot, RobotClient
from .dingtalk.masking import Secret
from .dingtalk.msgkeys import MAX_MSG_PARAM_BYTES
from .dingtalk.openapi import AppRobot, OpenApiClient
from .dingtalk.tokens import App
from .gateway import Gateway
from .prometheus import Prometheus
from .rendering import Renderer
from .tables import Limits, RobotEntry, SourceEntry, Tables


@dataclass
class Services:
    settings: Settings
    store: SqlStore
    renderer: Renderer
    client: RobotClient
    gateway: Gateway
    worker: Worker
    executor: SendPool | None = None
    bots: Bots | None = None
    metrics: Prometheus | None = None
    retention: Retention | None = None   # run by the runtime of a process that delivers
    chatops: dict[str, ChatOps] = field(default_factory=dict)   # bot -> its Alertmanager commands
    links: CardLinks | None = None       # the alert cards' silence buttons (server.link_secret and public_url)
    openapi: OpenApiClient | None = None  # app robots' and bot fallbacks' sends
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        if self.bots is not None:
            self.bots.close()  # before the store: a finishing slow handler still queues its reply
        for ops in self.chatops.values():
            ops.am.close()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        self.client.close()
        if self.links is not None:
            self.links.close()
        if self.openapi is not None:
            self.openapi.close()
        self.store.close()


def robots(settings: Settings) -> dict[str, Robot]:
    """The webhook robots."""
    return {
        name: Robot(webhook=rs.webhook.reveal(), secret=rs.secret.reveal() if rs.secret else None,
                    keywords=tuple(rs.keywords), name=name)
        for name, rs in settings.robots.items() if rs.webhook is not None
    }


def app_robots(settings: Settings) -> dict[str, AppRobot]:
    """The app robots: they send through the OpenAPI, to a group or to up to 20 people."""
    return {
        name: AppRobot(name, App(rs.app.client_id, rs.app.client_secret, api=rs.app.api),
                       robot_code=rs.app.robot_code or rs.app.client_id,
                       open_conversation_id=rs.open_conversation_id, user_ids=tuple(rs.user_ids))
        for name, rs in settings.robots.items() if rs.app is not None
    }


def bot_apps(settings: Settings) -> dict[str, BotApp]:
    """The bots whose app credentials are known (``client_id``): their replies outlive an expired sessionWebhook
    by the OpenAPI, at ``stream_api`` (DingTalk's api.dingtalk.com serves both)."""
    return {name: BotApp(App(bs.client_id, bs.app_secret, api=bs.stream_api.rstrip("/")),
                         robot_code=bs.robot_code or bs.client_id)
            for name, bs in settings.bots.items() if bs.client_id}


def router(source: SourceSettings) -> Router:
    """A source's alert routes, matchers parsed once."""
    routes = tuple(Route(tuple(m for line in r.matchers for m in parse_matchers(line)), tuple(r.robots), r.card)
                   for r in source.routes)
    return Router(tuple(source.robots), routes)


def mentions(source: SourceSettings) -> Mentions:
    return Mentions(source.mention_label,
                    MappingProxyType({label: MappingProxyType({value: tuple(mobiles) for value, mobiles in by.items()})
                                      for label, by in source.mentions.items()}))


def gateway_tables(settings: Settings) -> Tables:
    """What the gateway and the web layer look up: robots, sources (tokens, routers), pools, limits."""
    return Tables(
        robots=MappingProxyType({
            name: RobotEntry(name, access_token=Secret(rs.access_token) if rs.access_token is not None else None,
                             secret=rs.secret, keywords=tuple(rs.keywords),
                             rate_limit=rs.rate_limit, rate_window_seconds=rs.rate_window_seconds,
                             app=rs.app is not None)
            for name, rs in settings.robots.items()}),
        sources=MappingProxyType({
            name: SourceEntry(name, token=src.token, robots=tuple(src.robots), router=router(src),
                              mentions=mentions(src), suppress_window_seconds=src.suppress_window_seconds,
                              card=src.card)
            for name, src in settings.sources.items()}),
        pools=MappingProxyType({name: tuple(members) for name, members in settings.pools.items()}),
        limits=Limits(max_body_bytes=settings.server.max_body_bytes),
        suppress_window_seconds=settings.delivery.suppress_window_seconds,
        public_url=settings.server.base_url,
        metrics_token=settings.metrics.token,
        users=MappingProxyType({name: u.password_hash for name, u in settings.dashboard.users.items()}),
        digest_after_seconds=settings.delivery.digest_after_seconds if settings.delivery.digest else None,
    )


def card_links(settings: Settings, *, clock: Callable[[], float] = time.time) -> CardLinks | None:
    """The alert cards' buttons: signed with ``server.link_secret``, pointing at ``server.public_url``, silencing in
    each source's own ``alertmanager`` (never one a payload names). None without a secret or a public URL."""
    s = settings.server
    if s.link_secret is None or not s.public_url:
        return None
    alertmanagers = {
        name: Alertmanager(src.alertmanager.url,
                           token=src.alertmanager.token.reveal() if src.alertmanager.token else None)
        for name, src in settings.sources.items() if src.alertmanager is not None}
    return CardLinks(LinkSigner(derive_key(s.link_secret.reveal()), clock=clock), s.public_url,
                     MappingProxyType(alertmanagers))


def bot_spec(name: str, bs: BotSettings) -> BotSpec:
    return BotSpec(name, app_secret=bs.app_secret,
                   rules=tuple(ReplyRule(i, re.compile(r.match), r.template, r.text) for i, r in enumerate(bs.replies)),
                   vars=MappingProxyType(dict(bs.vars)), reply_budget_seconds=bs.reply_budget_seconds,
                   session_webhook_prefixes=tuple(UrlPrefix.parse(p) for p in bs.session_webhook_prefixes),
                   robot_code=bs.robot_code, corp_id=bs.corp_id, callback_window_seconds=bs.callback_window_seconds,
                   openapi_fallback=bool(bs.client_id))


def chatops_of(name: str, bs: BotSettings, *, clock: Callable[[], float] = time.time) -> ChatOps | None:
    """The ChatOps commands of a bot with ``alertmanager`` configured."""
    if bs.alertmanager is None:
        return None
    am = Alertmanager(bs.alertmanager.url, token=bs.alertmanager.token)
    return ChatOps(name, am, silencers=frozenset(bs.silencers) if bs.silencers is not None else None, clock=clock)


def build(settings: Settings, *, clock: Callable[[], float] = time.time,
          transport: httpx.BaseTransport | None = None,
          threads: int | Literal["concurrency"] | None = "concurrency") -> Services:
    """Wire the gateway for ``settings``: sends run in a pool of ``delivery.concurrency`` threads (or ``threads``);
    ``threads=None`` delivers inline (deterministic tests)."""
    store = SqlStore(settings.storage.url, sqlite_synchronous=settings.storage.sqlite_synchronous)
    renderer = Renderer(settings.templates.dir, clock=clock)
    d = settings.delivery
    client = RobotClient(transport=transport, clock=clock, max_connections=max(50, d.concurrency),
                         timeout=httpx.Timeout(d.request_timeout_seconds, connect=min(5.0, d.request_timeout_seconds)))
    policy = RetryPolicy(give_up_after_seconds=d.give_up_after_seconds, max_attempts=d.max_attempts,
                         base_seconds=d.backoff_base_seconds,
                         max_seconds=d.backoff_max_seconds, penalty_seconds=d.penalty_seconds)

    def limits(queue: str) -> tuple[int, float]:
        rs = settings.robots.get(queue)
        return (rs.rate_limit, rs.rate_window_seconds) if rs else SESSION_LIMIT

    metrics = Prometheus(store, {name: (rs.rate_limit, rs.rate_window_seconds) for name, rs in settings.robots.items()},
                         version=__version__, bots=list(settings.bots), clock=clock)
    size = d.concurrency if threads == "concurrency" else threads
    executor = SendPool(size) if size else None
    digests = Digests(after_seconds=d.digest_after_seconds,
                      keywords={name: tuple(rs.keywords) for name, rs in settings.robots.items()},
                      max_bytes={name: MAX_MSG_PARAM_BYTES for name, rs in settings.robots.items() if rs.app}
                      ) if d.digest else None
    timeout = httpx.Timeout(d.request_timeout_seconds, connect=min(5.0, d.request_timeout_seconds))
    openapi = OpenApiClient(transport=transport, clock=clock, max_connections=max(50, d.concurrency), timeout=timeout)
    sender = Sender(client, robots(settings), openapi=openapi, apps=app_robots(settings), bot_apps=bot_apps(settings),
                    clock=clock)
    worker = Worker(store, sender, limits=limits, policy=policy, clock=clock,
                    lease_seconds=d.request_timeout_seconds * 3 + 5, executor=executor, digests=digests,
                    metrics=metrics, claim_batch=d.concurrency)
    gateway = Gateway(gateway_tables(settings), store, renderer, clock=clock, metrics=metrics)
    r = settings.retention
    retention = Retention(store, RetentionPolicy(delivered_days=r.delivered_days, dead_days=r.dead_days,
                                                 interval_seconds=r.interval_seconds, batch=r.batch), clock=clock)
    services = Services(settings, store, renderer, client, gateway, worker, executor, metrics=metrics,
                        retention=retention, links=card_links(settings, clock=clock))
    services.openapi = openapi
    try:
        services.bots = gateway.bots = bots(settings, store, renderer, clock=clock,
                                            chatops=services.chatops)
    except ConfigError:
        services.close()
        raise
    return services


def bots(settings: Settings, store: SqlStore, renderer: Renderer, *, clock: Callable[[], float] = time.time,
         chatops: dict[str, ChatOps] | None = None) -> Bots | None:
    """The two-way bots of ``settings.bots``; a handlers module that fails to import, or a reply rule naming a
    template that does not exist, is a :class:`ConfigError` naming the key."""
    if not settings.bots:
        return None
    pipelines: dict[str, Pipeline] = {}
    problems: list[Problem] = []
    for name, bs in settings.bots.items():
        try:
            handlers = load_handlers(bs.handlers)
        except HandlersNotLoaded as exc:
            problems.append(Problem(f"bots.{name}.handlers", str(exc)))
            continue
        problems += [Problem(f"bots.{name}.replies.{i}.template", f"no template named {r.template!r} "
                             f"(templates: {', '.join(renderer.names())})")
                     for i, r in enumerate(bs.replies) if r.template is not None and not renderer.exists(r.template)]
        ops = chatops_of(name, bs, clock=clock)
        if ops is not None and chatops is not None:
            chatops[name] = ops
        taken = sorted({h.name for h in handlers if h.name and h.name.casefold() in CHATOPS_WORDS}) if ops else []
        if taken:
            problems.append(Problem(f"bots.{name}.handlers", f"{bs.handlers} registers {', '.join(taken)}, a ChatOps "
                                    "command of this bot (it has alertmanager); choose another word"))
        pipelines[name] = Pipeline(bot_spec(name, bs), renderer=renderer, status=store, handlers=handlers,
                                   commands=ops.handlers() if ops else (), clock=clock)
    if problems:
        raise ConfigError(problems)
    return Bots(pipelines, replies=ReplyLog(store), queue=store, clock=clock,
                max_workers=settings.server.threads)
