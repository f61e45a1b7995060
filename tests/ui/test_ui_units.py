"""The dashboard's domain side on its own: password hashes and their config key, the throttle, DingTalk markdown as
safe HTML, masking, the sample recorder, the overview's chart."""

from __future__ import annotations

import json

import pytest

from dingrelay.config import ConfigError, parse_settings
from dingrelay.dashboard.markup import excerpt, markdown_html, message_html
from dingrelay.dashboard.passwords import HashInvalid, hash_password, valid_hash, verify
from dingrelay.dashboard.samples import SampleRecorder, mask_payload
from dingrelay.dashboard.throttle import Throttle
from dingrelay.delivery.browse import HookSample
from dingrelay.dingtalk.masking import Secret
from dingrelay.web.ui.overview import polyline


def test_a_hash_verifies_its_password_and_nothing_else() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("scrypt$16384$8$5$")
    assert verify("correct horse", hashed)
    assert not verify("correct horsE", hashed) and not verify("", hashed)
    assert hash_password("correct horse") != hashed               # salted
    assert not verify("correct horse", None)                      # no such user


def test_a_hash_with_other_costs_still_verifies() -> None:
    assert verify("pw-12345678", hash_password("pw-12345678", n=2**10, r=8, p=1))


@pytest.mark.parametrize("bad", ["", "hunter2", "scrypt$16384$8$5$salt", "bcrypt$1$2$3$4$5",
                                 "scrypt$1000$8$5$AAAA$BBBB", "scrypt$16384$8$5$!!!$BBBB"])
def test_something_that_is_not_a_hash_is_refused(bad: str) -> None:
    with pytest.raises(HashInvalid):
        valid_hash(Secret(bad))


def test_the_config_names_the_user_whose_hash_is_wrong_and_masks_good_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"dashboard": {"users": {"alice": {"password_hash": "hunter2"}}}}, env={})
    [problem] = caught.value.problems
    assert problem.key == "dashboard.users.alice.password_hash" and "dingrelay passwd" in problem.message
    assert "hunter2" not in str(caught.value)
    hashed = hash_password("a long passphrase")
    s = parse_settings({"dashboard": {"users": {"bob": {"password_hash": hashed}}}}, env={})
    assert s.dashboard.users["bob"].password_hash.reveal() == hashed
    assert hashed not in json.dumps(s.masked()) and hashed not in repr(s)


def test_the_throttle_locks_after_five_failures_and_a_success_clears_the_count() -> None:
    now = [0.0]
    t = Throttle(clock=lambda: now[0])
    key = t.key(" Admin ", "10.0.0.1")
    assert key == t.key("admin", "10.0.0.1")
    for _ in range(4):
        t.failed(key)
    t.succeeded(key)
    for _ in range(4):
        t.failed(key)
    assert t.retry_after(key) == 0.0
    t.failed(key)
    assert t.retry_after(key) == 300.0
    assert t.retry_after(t.key("admin", "10.0.0.2")) == 0.0   # another address
    now[0] = 300.0
    assert t.retry_after(key) == 0.0


def test_markdown_keeps_what_dingtalk_shows_and_drops_what_could_run() -> None:
    html = markdown_html("### <font color=#FF0000>告警</font>\n\n**粗** *斜* [链接](https://x.example/a)\n\n"
                         "<img src=x onerror=alert(1)> [坏](javascript:alert(1)) ![图](https://x.example/i.png)\n\n"
                         "<script>alert(2)</script>")
    assert '<h3><font color="#FF0000">告警</font></h3>' in html
    assert "<strong>粗</strong>" in html and "<em>斜</em>" in html
    assert '<a href="https://x.example/a" rel="noopener noreferrer nofollow">链接</a>' in html
    assert "<img" not in html and "onerror" not in html and "<script" not in html and "alert(2)" not in html
    assert "href=\"javascript" not in html                                    # left as plain text
    assert '<a href="https://x.example/i.png"' in html and "[图片]" in html    # an image is a link, never loaded


def test_text_is_escaped_and_every_msgtype_has_a_preview() -> None:
    assert message_html({"msgtype": "text", "text": {"content": "<b>a</b>\nb"}}) == "<p>&lt;b&gt;a&lt;/b&gt;<br>b</p>"
    link = message_html({"msgtype": "link", "link": {"title": "标题", "text": "正文", "messageUrl": "https://x.example"}})
    assert 'href="https://x.example"' in link and "正文" in link
    card = message_html({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "**卡片**",
                                                                 "btns": [{"title": "看", "actionURL": "https://b"}]}})
    assert "<strong>卡片</strong>" in card and 'href="https://b"' in card
    feed = message_html({"msgtype": "feedCard", "feedCard": {"links": [{"title": "一", "messageURL": "https://1"}]}})
    assert 'href="https://1"' in feed
    assert "无法预览" in message_html({"msgtype": "image", "image": {}})
    assert "无法预览" in message_html({"nothing": 1})


def test_urls_in_messages_keep_their_shape_with_tokens_masked() -> None:
    html = markdown_html("[群](https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef&x=1) "
                         "https://h.example/?sign=abcdefgh1234")
    assert "access_token=0123****" in html and "sign=abcd****" in html and "0123456789abcdef" not in html
    assert excerpt({"msgtype": "markdown", "markdown": {"title": "T", "text": "T\n\n**标题**：[看](https://a)"}},
                   skip="T") == "标题：看"


def test_received_payloads_are_masked_by_key_by_known_secret_and_in_urls() -> None:
    body = {"token": "abc", "nested": [{"Authorization": "Bearer x", "ApiKey": "k", "ok": "keep"}],
            "note": "the token is s3cr3t-value here", "url": "http://h/?access_token=0123456789abcdef"}
    masked = mask_payload(body, ["s3cr3t-value", "tiny"])
    assert masked == {"token": "****", "nested": [{"Authorization": "****", "ApiKey": "****", "ok": "keep"}],
                      "note": "the token is **** here", "url": "http://h/?access_token=0123****"}


class FakeDashboard:
    def __init__(self) -> None:
        self.kept: list[tuple[str, str, str]] = []

    def record_sample(self, hook: str, source: str, body: str, *, now: float, keep: int = 20) -> None:
        self.kept.append((hook, source, body))

    def samples(self) -> list[HookSample]:
        return []


def test_the_recorder_keeps_at_most_one_payload_a_second_per_hook_and_source() -> None:
    now = [100.0]
    fake = FakeDashboard()
    recorder = SampleRecorder(fake, ["secret-token-1"], clock=lambda: now[0])  # type: ignore[arg-type]
    assert recorder.record("alertmanager", "am", {"a": "secret-token-1"})
    assert not recorder.record("alertmanager", "am", {"a": 2})
    assert recorder.record("grafana", "am", {"a": 3})
    now[0] += 1.0
    assert recorder.record("alertmanager", "am", {"a": 4})
    assert not recorder.record("generic", "x", {"big": "x" * 300_000})
    assert [(h, json.loads(b)) for h, _, b in fake.kept] == [("alertmanager", {"a": "****"}), ("grafana", {"a": 3}),
                                                             ("alertmanager", {"a": 4})]


def test_the_chart_puts_the_peak_at_the_top_and_zero_at_the_bottom() -> None:
    points = [tuple(map(float, p.split(","))) for p in polyline([0, 5, 10], width=100, height=20).split()]
    assert points == [(0.0, 18.0), (50.0, 10.0), (100.0, 2.0)]
    assert polyline([0, 0]) != "" and polyline([]) == ""
