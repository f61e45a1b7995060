"""A template previewed with a sample, through the gateway's own render path: the DingTalk JSON each card would be,
its size against DingTalk's 20,000 bytes, and whether each robot's keywords are in it.

The sample reaches the template as its endpoint would pass it: the tutorial's fields as ``/ding/send`` builds
them; an Alertmanager or Grafana group split into cards by the source's routes (one card per set of robots, cut
with "+N more" to fit, as the hook does); a Zabbix, GitLab or Jenkins event as one card, cut the same way; a
generic hook's JSON with ``body`` and ``args``. Nothing is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..adapters import PayloadInvalid
from ..adapters.alertmanager import Alert, AlertGroup, parse_alertmanager
from ..adapters.cards import fit
from ..adapters.events import Event, EventIgnored
from ..adapters.grafana import parse_grafana
from ..adapters.routing import Card, plan
from ..adapters.sources import PARSERS
from ..dingtalk.keywords import satisfies_keywords
from ..dingtalk.messages import MAX_BODY_BYTES, Message
from ..gateway import Gateway, Rejected
from ..tables import SourceEntry
from .samples import Sample


@dataclass(frozen=True)
class KeywordCheck:
    robot: str
    keywords: tuple[str, ...]
    ok: bool                     # the card contains one of them (or the robot has none)
    addressed: bool              # the card would go to this robot


@dataclass(frozen=True)
class CardPreview:
    robots: tuple[str, ...]      # where it would go (a pool is named as itself)
    message: Message
    size: int                    # bytes of the JSON as sent
    checks: tuple[KeywordCheck, ...]
    limit: int = MAX_BODY_BYTES

    @property
    def payload(self) -> dict[str, Any]:
        return self.message.to_payload()

    @property
    def pretty(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, indent=2)

    @property
    def fits(self) -> bool:
        return self.size <= self.limit


@dataclass(frozen=True)
class Preview:
    template: str
    sample: Sample
    cards: tuple[CardPreview, ...] = ()
    error: str | None = None     # why nothing could be rendered (what the sender would be told)


def preview(gw: Gateway, template: str, sample: Sample, *, now: float) -> Preview:
    try:
        cards = _cards(gw, template, sample, datetime.fromtimestamp(now, UTC))
    except Rejected as exc:
        return Preview(template, sample, error=exc.message)
    except PayloadInvalid as exc:
        return Preview(template, sample, error=f"{exc.message} ({exc.field})" if exc.field else exc.message)
    except EventIgnored as exc:
        return Preview(template, sample, error=f"ignored, no card: {exc.reason}")
    return Preview(template, sample, tuple(_card(gw, robots, message) for robots, message in cards))


def _card(gw: Gateway, robots: tuple[str, ...], message: Message) -> CardPreview:
    addressed = {r for target in robots for r in gw.tables.robots_of(target)}
    checks = tuple(KeywordCheck(name, entry.keywords, satisfies_keywords(message, entry.keywords), name in addressed)
                   for name, entry in gw.tables.robots.items())
    return CardPreview(robots, message, len(message.to_json()), checks)


def _cards(gw: Gateway, template: str, sample: Sample, now: datetime) -> list[tuple[tuple[str, ...], Message]]:
    entry: SourceEntry | None = gw.tables.sources.get(sample.source)
    robots = entry.robots if entry is not None else ()
    body = sample.body
    if sample.kind == "tutorial":
        data = body if isinstance(body, dict) else {}
        fields = {"title": str(data.get("title", "")), "content": str(data.get("content", "")),
                  "author": str(data.get("author") or "巡检机器人"),
                  "url": str(data.get("url") or gw.tables.public_url),
                  "level": str(data.get("level") or "info"), "source": sample.source}
        return [(robots, gw.render(template, fields))]
    if sample.kind in ("alertmanager", "grafana"):
        group = (parse_alertmanager if sample.kind == "alertmanager" else parse_grafana)(body)
        planned = (plan(group.alerts, entry.router, entry.mentions) if entry is not None
                   else [Card((), tuple(group.alerts), ())])   # no such source here: one card, routed nowhere
        return [(card.robots, _fitted(gw, template, group, card, sample.source, now)) for card in planned]
    if sample.kind in PARSERS:
        event = PARSERS[sample.kind](body, None)
        labels = event.route_labels()
        routed = entry.router.robots_for(labels) if entry is not None else ()
        mobiles = entry.mentions.mobiles_for(labels) if entry is not None and event.firing else []
        return [(routed, _fitted_event(gw, template, event, sample.source, list(dict.fromkeys(mobiles))))]
    data = {**(body if isinstance(body, dict) else {}), "body": body, "args": {}, "source": sample.source}
    return [(robots, gw.render(template, data))]


def _fitted(gw: Gateway, template: str, group: AlertGroup, card: Card[Alert], source: str, now: datetime
            ) -> Message:
    def render(shown: int) -> Message:
        data = group.card_data(card.alerts, shown=shown, now=now, at_mobiles=card.mobiles)
        return gw.render(template, {**data, "source": source})

    return fit(render, len(card.alerts), too_large=_too_large)


def _fitted_event(gw: Gateway, template: str, event: Event, source: str, mobiles: list[str]) -> Message:
    def render(shown: int) -> Message:
        return gw.render(template, {**event.card_data(shown), "at_mobiles": mobiles, "source": source})

    return fit(render, event.items, too_large=_too_large)


def _too_large(exc: Exception) -> bool:
    """A card over DingTalk's 20,000 bytes fails as an invalid message; showing fewer alerts may fix it."""
    return isinstance(exc, Rejected) and exc.code == "invalid_message"
