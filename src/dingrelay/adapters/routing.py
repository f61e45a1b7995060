"""Which robots get which alerts, and whom to @: label routes and label mentions, per source.

Each alert goes to the robots of the first route whose matchers all match its labels, else to the source's
robots. Then each robot gets ONE card holding every alert routed to it; robots that get the same alerts share
the card. So a group of three alerts, one of them ``severity="critical"``, with a route for critical alerts,
becomes two cards: the critical alert for the on-call robot, the other two for the default robots.

Mentions come from the labels of the card's *firing* alerts (a resolution does not page anyone):

- ``mention_label: owner`` -> the ``owner`` label's value holds mobiles (comma- or space-separated);
  anything that is not a phone number is ignored;
- ``mentions: {team: {dba: [13800000000]}}`` -> an alert with ``team="dba"`` @s 13800000000.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ..dingtalk.messages import MOBILE
from .matchers import Matcher, matches_all

_SEPARATORS = re.compile(r"[\s,;]+")


class Labelled(Protocol):
    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def firing(self) -> bool: ...


A = TypeVar("A", bound=Labelled)


@dataclass(frozen=True)
class Route:
    matchers: tuple[Matcher, ...]
    robots: tuple[str, ...]
    card: str | None = None   # the kind of card its alerts get (markdown, actioncard); None: the source's

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)


@dataclass(frozen=True)
class Router:
    default: tuple[str, ...]
    routes: tuple[Route, ...] = ()

    def robots_for(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        for route in self.routes:
            if route.matches(labels):
                return route.robots
        return self.default

    def card_for(self, labels: Mapping[str, str], default: str) -> str:
        """The kind of card an alert with ``labels`` gets: its route's, else ``default`` (the source's)."""
        for route in self.routes:
            if route.matches(labels):
                return route.card or default
        return default


@dataclass(frozen=True)
class Mentions:
    label: str | None = None
    table: Mapping[str, Mapping[str, Sequence[str]]] | None = None

    def mobiles_for(self, labels: Mapping[str, str]) -> list[str]:
        found: list[str] = []
        if self.label and labels.get(self.label):
            found += [p for p in _SEPARATORS.split(labels[self.label]) if MOBILE.fullmatch(p)]
        for name, values in (self.table or {}).items():
            value = labels.get(name)
            if value is not None:
                found += values.get(value, ())
        return found


@dataclass(frozen=True)
class Card(Generic[A]):
    """One message: ``alerts`` for ``robots``, @-ing ``mobiles``."""

    robots: tuple[str, ...]
    alerts: tuple[A, ...]
    mobiles: tuple[str, ...]


def plan(alerts: Sequence[A], router: Router, mentions: Mentions) -> list[Card[A]]:
    """The cards for one alert group: one per distinct set of alerts, each for every robot that gets that set."""
    per_robot: dict[str, list[int]] = {}
    for i, alert in enumerate(alerts):
        for robot in router.robots_for(alert.labels):
            per_robot.setdefault(robot, []).append(i)
    robots_by_alerts: dict[tuple[int, ...], list[str]] = {}
    for robot, indexes in per_robot.items():
        robots_by_alerts.setdefault(tuple(indexes), []).append(robot)
    cards = []
    for chosen_indexes, robots in robots_by_alerts.items():
        chosen = tuple(alerts[i] for i in chosen_indexes)
        mobiles = [m for a in chosen if a.firing for m in mentions.mobiles_for(a.labels)]
        cards.append(Card(tuple(robots), chosen, tuple(dict.fromkeys(mobiles))))
    return cards
