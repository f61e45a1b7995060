"""The built-in ``alertmanager_actioncard`` template: an actionCard with the card's buttons under the markdown card's
text; markdown when it must @ someone (DingTalk's actionCard cannot) or has no buttons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dingrelay.adapters.alertmanager import parse_alertmanager
from dingrelay.adapters.cards import with_keyword
from dingrelay.dingtalk.keywords import satisfies_keywords
from dingrelay.dingtalk.messages import Markdown, MultiActionCard
from dingrelay.rendering import Renderer

BUTTONS = [{"title": "静默 1h", "url": "https://relay.example.com/silence/a.b"},
           {"title": "静默 4h", "url": "https://relay.example.com/silence/c.d"},
           {"title": "查看", "url": "http://prometheus:9090/graph"}]


def data(*, mobiles: tuple[str, ...] = (), buttons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    group = parse_alertmanager({"version": "4", "status": "firing", "alerts": [{
        "status": "firing", "labels": {"alertname": "DiskFull", "instance": "web-1"},
        "annotations": {"summary": "/data 已用 95%"}, "startsAt": "2026-12-01T10:00:00Z"}]})
    card = group.card_data(group.alerts, shown=1, now=datetime(2026, 12, 1, 11, tzinfo=UTC), at_mobiles=mobiles)
    return {**card, "source": "am", "buttons": BUTTONS if buttons is None else buttons}


def test_the_card_is_an_actioncard_with_the_buttons_under_the_alert() -> None:
    message = Renderer().render("alertmanager_actioncard", data())
    assert isinstance(message, MultiActionCard)
    assert [(b.title, b.action_url) for b in message.buttons] == [(b["title"], b["url"]) for b in BUTTONS]
    assert message.title == "[告警] [FIRING:1] DiskFull" and "/data 已用 95%" in message.text
    marked = with_keyword(message, "巡检")   # a robot's keyword the card lacks goes in front, as for markdown
    assert satisfies_keywords(marked, ("巡检",)) and marked.title.startswith("【巡检】")


def test_a_card_that_must_at_someone_stays_markdown_with_the_buttons_as_links() -> None:
    message = Renderer().render("alertmanager_actioncard", data(mobiles=("13800000000",)))
    assert isinstance(message, Markdown) and message.at is not None and message.at.mobiles == ["13800000000"]
    assert "[静默 1h](https://relay.example.com/silence/a.b)" in message.text
    assert "[查看](http://prometheus:9090/graph)" in message.text


def test_a_card_without_buttons_is_the_markdown_card() -> None:
    plain = Renderer().render("alertmanager", data(buttons=[]))
    message = Renderer().render("alertmanager_actioncard", data(buttons=[]))
    assert isinstance(message, Markdown) and message.text == plain.text and message.title == plain.title
