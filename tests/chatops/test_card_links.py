"""The silence links of alert cards: signed, expiring, refused when changed; and the matchers a card's button holds."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import pytest

from dingrelay.adapters.matchers import matches_all, parse_matchers
from dingrelay.chatops.links import (
    LIFETIME_SECONDS,
    LinkRefused,
    LinkSigner,
    derive_key,
    silence_matchers,
    view_url,
)

KEY = derive_key("0123456789abcdef0123456789abcdef")
T0 = 1_780_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, key: bytes = KEY) -> tuple[LinkSigner, str]:
    signer = LinkSigner(key, clock=clock)
    link = signer.new_link(source="am", matchers=parse_matchers('alertname="DiskFull", instance="web-1"'),
                           seconds=3600, alertname="DiskFull", summary="磁盘将满", robots=["ops"])
    return signer, signer.sign(link)


def test_a_signed_link_reads_back_as_what_it_was_made_of() -> None:
    clock = Clock()
    signer, token = make(clock)
    link = signer.verify(token)
    assert (link.source, link.seconds, link.alertname, link.summary, link.robots) == (
        "am", 3600, "DiskFull", "磁盘将满", ("ops",))
    assert [str(m) for m in link.matchers] == ['alertname="DiskFull"', 'instance="web-1"']
    assert link.expires_at == T0 + LIFETIME_SECONDS
    assert all(ch.isalnum() or ch in "-_." for ch in token)   # URL-safe as it is


def test_a_link_works_until_24_hours_after_it_was_made_then_is_refused_as_expired() -> None:
    clock = Clock()
    signer, token = make(clock)
    clock.now = T0 + LIFETIME_SECONDS - 1
    assert signer.verify(token).alertname == "DiskFull"
    clock.now = T0 + LIFETIME_SECONDS
    with pytest.raises(LinkRefused) as caught:
        signer.verify(token)
    assert (caught.value.code, caught.value.status) == ("expired", 410)


def _flip(text: str, i: int) -> str:
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]


@pytest.mark.parametrize("where", ["payload-start", "payload-middle", "signature"])
def test_a_changed_character_anywhere_is_a_bad_signature(where: str) -> None:
    signer, token = make(Clock())
    dot = token.index(".")
    i = {"payload-start": 0, "payload-middle": dot // 2, "signature": dot + 5}[where]
    with pytest.raises(LinkRefused) as caught:
        signer.verify(_flip(token, i))
    assert (caught.value.code, caught.value.status) == ("bad_signature", 403)


def test_a_payload_rewritten_to_a_longer_silence_or_later_expiry_is_refused() -> None:
    signer, token = make(Clock())
    body, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["d"], data["e"] = 30 * 86400, data["e"] + 10 * 86400
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(LinkRefused) as caught:
        signer.verify(f"{forged}.{sig}")
    assert caught.value.code == "bad_signature"


def test_a_link_signed_with_another_key_is_refused() -> None:
    _, token = make(Clock(), derive_key("another-secret-another-secret-xx"))
    signer, _ = make(Clock())
    with pytest.raises(LinkRefused) as caught:
        signer.verify(token)
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize("cut", ["", "abc", "no-dot-at-all", "a.b.c", "x" * 4000 + ".y", "tail"])
def test_a_truncated_or_malformed_link_is_refused_with_400_or_403(cut: str) -> None:
    signer, token = make(Clock())
    candidate = token[: len(token) // 2] if cut == "tail" else cut
    with pytest.raises(LinkRefused) as caught:
        signer.verify(candidate)
    assert caught.value.status in (400, 403)


def test_the_form_check_is_bound_to_the_link_and_the_browser_cookie() -> None:
    signer, token = make(Clock())
    _, other = make(Clock())
    check = signer.form_check(token, "nonce-1")
    assert signer.form_check_ok(token, "nonce-1", check)
    assert not signer.form_check_ok(token, "nonce-2", check)
    assert not signer.form_check_ok(other, "nonce-1", check)
    assert not signer.form_check_ok(token, "", check)
    assert not signer.form_check_ok(token, "nonce-1", "")


def test_one_alert_is_silenced_by_exactly_its_labels() -> None:
    labels = {"alertname": "DiskFull", "instance": "web-1:9100", "mountpoint": "/data (x)"}
    found = silence_matchers([labels])
    assert [str(m) for m in found] == ['alertname="DiskFull"', 'instance="web-1:9100"', 'mountpoint="/data (x)"']


def test_a_group_is_silenced_by_matchers_holding_exactly_its_alerts_values() -> None:
    a = {"alertname": "DiskFull", "instance": "web-1", "job": "node"}
    b = {"alertname": "DiskFull", "instance": "web.2", "job": "node", "owner": "dba"}
    found = silence_matchers([a, b])
    assert [str(m) for m in found] == ['alertname="DiskFull"', 'instance=~"web-1|web\\\\.2"', 'job="node"',
                                       'owner=~"dba|"']
    assert matches_all(found, a) and matches_all(found, b)
    assert not matches_all(found, {**a, "instance": "web-3"})
    assert not matches_all(found, {**a, "instance": "webx2"})   # the dot is literal
    assert not matches_all(found, {**a, "alertname": "NodeDown"})


def test_no_matchers_when_nothing_but_the_alerts_could_be_held() -> None:
    assert silence_matchers([]) == ()
    assert silence_matchers([{"instance": "a"}, {"job": "b"}]) == ()   # every matcher would match ""


@pytest.mark.parametrize(("url", "kept"), [
    ("http://prometheus:9090/graph?g0.expr=up", True),
    ("https://grafana.example/d/x", True),
    ("javascript:alert(1)", False),
    ("/graph?g0.expr=up", False),
    ("ftp://files.example/x", False),
    ("http://", False),
])
def test_the_view_button_takes_only_http_urls(url: str, kept: bool) -> None:
    @dataclass
    class A:
        generator_url: str
        labels: dict[str, str] = field(default_factory=dict)
        annotations: dict[str, str] = field(default_factory=dict)
        firing: bool = True

    assert view_url([A(url)]) == (url if kept else "")
