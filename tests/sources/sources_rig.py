"""The sources under test: a Zabbix, a GitLab and a Jenkins source, their robots, and how their senders post.

Robot ``ops`` (keyword 告警, which the Zabbix card carries itself) takes the Zabbix alerts, ``oncall`` those
routed to it; robot ``dev`` (keyword 发布, which no built-in card says: the gateway puts 【发布】 in front) takes
GitLab and Jenkins."""

from __future__ import annotations

import itertools
from typing import Any

from gateway_harness import InProcessGateway, RobotSpec

from dingrelay.emulator import Received

TOKENS = {"zabbix": "zabbix-source-token", "gitlab": "gitlab-source-token", "jenkins": "jenkins-source-token"}
KEYWORDS = {"zabbix": "告警", "gitlab": "发布", "jenkins": "发布"}
ROBOT = {"zabbix": "ops", "gitlab": "dev", "jenkins": "dev"}
SOURCES: dict[str, Any] = {kind: {"token": token, "robots": [ROBOT[kind]]} for kind, token in TOKENS.items()}
#: Zabbix events tagged team=dba go to robot oncall; problems @ the mobiles of their `owner` tag, and tagged
#: service=shop @ 13800000000. Failing builds of Jenkins job shop/main @ 13700000000.
SOURCES["zabbix"] |= {"routes": [{"matchers": ['team="dba"'], "robots": ["oncall"]}], "mention_label": "owner",
                      "mentions": {"service": {"shop": ["13800000000"]}}}
SOURCES["jenkins"] |= {"mentions": {"job": {"shop/main": ["13700000000"]}}}


def source_robots() -> list[RobotSpec]:
    # budgets far above what a test module sends, so no card waits for a rate window
    return [RobotSpec("ops", keywords=["告警"], rate_limit=1000), RobotSpec("dev", keywords=["发布"], rate_limit=1000),
            RobotSpec("oncall", keywords=["告警"], rate_limit=1000)]


def fresh(body: dict[str, Any]) -> dict[str, Any]:
    """A Zabbix body with an event id no other test used: the gateway suppresses a repeat of an alert's state."""
    return {**body, "event_id": str(next(_EVENT_IDS))}


_EVENT_IDS = itertools.count(100_000)


def auth(kind: str, *, event: str | None = None) -> dict[str, str]:
    """The headers a sender of ``kind`` sends: GitLab its Secret token and event name, the others a Bearer token."""
    if kind == "gitlab":
        return {"X-Gitlab-Token": TOKENS[kind], **({"X-Gitlab-Event": event} if event else {})}
    return {"Authorization": f"Bearer {TOKENS[kind]}"}


GITLAB_EVENTS = {"pipeline": "Pipeline Hook", "merge_request": "Merge Request Hook", "push": "Push Hook",
                 "tag_push": "Tag Push Hook"}


def post(gateway: InProcessGateway, kind: str, body: Any, **params: str) -> Any:
    """``body`` posted to ``kind``'s hook as its sender posts it (GitLab: with the event's X-Gitlab-Event)."""
    kind_of = body.get("object_kind") if isinstance(body, dict) else None
    event = GITLAB_EVENTS.get(str(kind_of)) if kind == "gitlab" else None
    return gateway.http.post(f"/hooks/{kind}/{kind}", json=body, headers=auth(kind, event=event), params=params)


def card(received: Received) -> tuple[str, str]:
    md = received.body["markdown"]
    return str(md["title"]), str(md["text"])
