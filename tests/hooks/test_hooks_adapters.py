"""The adapters without HTTP: parsing payloads, card data, and cutting a card to fit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hooks_payloads import EXTERNAL_URL, am_alert, am_payload, grafana_alert, grafana_payload

from dingrelay.adapters import PayloadInvalid
from dingrelay.adapters.alertmanager import parse_alertmanager
from dingrelay.adapters.cards import fit, with_keyword
from dingrelay.adapters.grafana import parse_grafana
from dingrelay.dingtalk import Markdown
from dingrelay.dingtalk.messages import MAX_BODY_BYTES, Message, parse_message
from dingrelay.rendering import Renderer

NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


def test_go_times_parse_with_nanoseconds_and_offsets_and_the_zero_time_is_none() -> None:
    payload = am_payload(am_alert("A", starts="2024-05-01T10:00:00.123456789+08:00"))
    payload["alerts"][0]["someFutureField"] = {"ignored": True}

    [alert] = parse_alertmanager(payload).alerts

    assert alert.starts_at == datetime(2024, 5, 1, 2, 0, 0, 123456, tzinfo=UTC)
    assert alert.starts_at.utcoffset() == timedelta(hours=8)
    assert alert.ends_at is None


def test_duration_runs_to_now_while_firing_and_to_the_end_once_resolved() -> None:
    firing, resolved = parse_alertmanager(am_payload(
        am_alert("A", starts="2024-05-01T01:00:00Z"),
        am_alert("B", status="resolved", starts="2024-05-01T01:00:00Z", ends="2024-05-01T01:20:00Z"))).alerts
    assert firing.duration(NOW) == 3 * 3600
    assert resolved.duration(NOW) == 20 * 60


def test_the_silence_link_filters_on_every_label_quoted_and_escaped() -> None:
    [alert] = parse_alertmanager(am_payload(am_alert("A", path='C:\\"x"'))).alerts
    url = alert.silence_url(EXTERNAL_URL + "/")
    assert url.startswith(f"{EXTERNAL_URL}/#/silences/new?filter=%7Balertname%3D%22A%22%2C")
    assert "path%3D%22C%3A%5C%5C%5C%22x%5C%22%22" in url
    assert alert.silence_url("") == ""


def test_card_data_lists_firing_by_severity_then_resolved_and_counts_what_it_leaves_out() -> None:
    group = parse_alertmanager(am_payload(
        am_alert("Warn", severity="warning"), am_alert("Gone", status="resolved", ends="2024-05-01T03:00:00Z"),
        am_alert("Crit", severity="critical"), am_alert("Info", severity="info"), truncated=7))

    data = group.card_data(group.alerts, shown=2, now=NOW, at_mobiles=["13800000000"])

    assert [a["alertname"] for a in data["firing"]] == ["Crit", "Warn"] and data["resolved"] == []
    assert (data["firing_count"], data["resolved_count"], data["more"]) == (3, 1, 2 + 7)
    assert data["at_mobiles"] == ["13800000000"] and data["status"] == "firing"
    full = group.card_data(group.alerts, shown=4, now=NOW)
    assert [a["alertname"] for a in full["firing"] + full["resolved"]] == ["Crit", "Warn", "Info", "Gone"]


def test_grafana_keeps_its_own_silence_link_and_title_for_a_whole_group() -> None:
    group = parse_grafana(grafana_payload(grafana_alert("A"), grafana_alert("B"), title="[FIRING:2]"))

    whole = group.card_data(group.alerts, shown=2, now=NOW)
    part = group.card_data(group.alerts[:1], shown=1, now=NOW)

    assert whole["firing"][0]["silence_url"].startswith("https://grafana.example/alerting/silence/new")
    assert whole["firing"][0]["values"] == {"B": 44.23943737541908, "C": 1}
    assert (whole["title"], part["title"]) == ("[FIRING:2]", "")


def test_the_builtin_card_shows_shanghai_times_and_durations() -> None:
    renderer = Renderer(clock=NOW.timestamp)
    group = parse_alertmanager(am_payload(
        am_alert("DiskFull", starts="2024-05-01T01:00:00Z"),
        am_alert("NodeDown", status="resolved", starts="2024-04-30T23:00:00Z", ends="2024-05-01T00:30:00Z")))

    message = renderer.render("alertmanager", group.card_data(group.alerts, shown=2, now=NOW))

    assert isinstance(message, Markdown)
    assert "- 开始：2024-05-01 09:00:00\n- 持续：3h" in message.text
    assert "- 开始：2024-05-01 07:00:00\n- 结束：2024-05-01 08:30:00（持续 1h30m）" in message.text


class Big(Exception):
    pass


def test_fit_shows_as_many_items_as_fit() -> None:
    def render(n: int) -> int:
        if n > 37:
            raise Big
        return n

    assert fit(render, 100, too_large=lambda e: isinstance(e, Big)) == 37
    assert fit(render, 20, too_large=lambda e: isinstance(e, Big)) == 20


def test_fit_raises_other_errors_at_once_and_the_first_error_when_nothing_fits() -> None:
    calls: list[int] = []

    def broken(n: int) -> int:
        calls.append(n)
        raise KeyError("template bug")

    with pytest.raises(KeyError):
        fit(broken, 10, too_large=lambda e: isinstance(e, Big))
    assert calls == [10]

    first = Big("at 10")

    def never(n: int) -> int:
        raise first if n == 10 else Big(f"at {n}")

    with pytest.raises(Big) as caught:
        fit(never, 10, too_large=lambda e: isinstance(e, Big))
    assert caught.value is first


@pytest.mark.parametrize(("payload", "field"), [
    ("not an object", None),
    ({"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}, "alerts.0.labels"),
])
def test_an_unusable_payload_raises_payload_invalid_naming_the_field(payload: object, field: str | None) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        parse_alertmanager(payload)
    assert caught.value.field == field and caught.value.code == "invalid_payload"


@pytest.mark.parametrize(("message", "expected"), [
    pytest.param({"msgtype": "text", "text": {"content": "disk full"}},
                 {"msgtype": "text", "text": {"content": "【巡检】disk full"}}, id="text"),
    pytest.param({"msgtype": "markdown", "markdown": {"title": "[FIRING] Disk", "text": "### <b>Disk</b>\n\nfull"}},
                 {"msgtype": "markdown", "markdown": {"title": "【巡检】[FIRING] Disk",
                                                      "text": "### 【巡检】<b>Disk</b>\n\nfull"}},
                 id="markdown-after-the-heading"),
    pytest.param({"msgtype": "markdown", "markdown": {"title": "Disk", "text": "full"},
                  "at": {"atMobiles": ["13800000000"]}},
                 {"msgtype": "markdown", "markdown": {"title": "【巡检】Disk", "text": "【巡检】full\n@13800000000"},
                  "at": {"atMobiles": ["13800000000"], "isAtAll": False}}, id="markdown-mentions-kept"),
    pytest.param({"msgtype": "link", "link": {"title": "Disk", "text": "full", "messageUrl": "https://e.com"}},
                 {"msgtype": "link", "link": {"title": "【巡检】Disk", "text": "【巡检】full",
                                              "messageUrl": "https://e.com"}}, id="link"),
    pytest.param({"msgtype": "feedCard", "feedCard": {"links": [
        {"title": "Disk", "messageURL": "https://e.com/1", "picURL": "https://e.com/1.png"},
        {"title": "CPU", "messageURL": "https://e.com/2", "picURL": "https://e.com/2.png"}]}},
                 {"msgtype": "feedCard", "feedCard": {"links": [
                     {"title": "【巡检】Disk", "messageURL": "https://e.com/1", "picURL": "https://e.com/1.png"},
                     {"title": "CPU", "messageURL": "https://e.com/2", "picURL": "https://e.com/2.png"}]}},
                 id="feedcard-first-link"),
])
def test_with_keyword_puts_the_keyword_in_front_of_title_and_text(message: dict[str, object],
                                                                  expected: dict[str, object]) -> None:
    marked: Message = with_keyword(parse_message(message), "巡检")

    assert marked.to_payload() == expected


def test_with_keyword_refuses_to_grow_a_message_past_dingtalks_limit() -> None:
    content = "x" * (MAX_BODY_BYTES - 60)
    message = parse_message({"msgtype": "text", "text": {"content": content}})

    with pytest.raises(ValueError, match="bytes"):
        with_keyword(message, "巡检" * 10)
