"""What a confirmed card link does, against a fake Alertmanager (httpx MockTransport): one silence per link, the
audit entry and the notice after it, and a storage failure that keeps the silence."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from dingrelay.adapters.matchers import parse_matchers
from dingrelay.chatops.api import Alertmanager, AlertmanagerError
from dingrelay.chatops.links import LinkSigner, derive_key
from dingrelay.chatops.silence_page import CardSilencer, clean_name, human_duration

NOW = 1_780_000_000.0


class FakeAlertmanager:
    def __init__(self, status: int = 200) -> None:
        self.silences: list[dict[str, Any]] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=self.silences)
        if self.status != 200:
            return httpx.Response(self.status, json="bad matchers")
        body = json.loads(request.content)
        sid = f"sid-{len(self.silences) + 1}"
        self.silences.append({**body, "id": sid, "status": {"state": "active"}})
        return httpx.Response(200, json={"silenceID": sid})


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.entries: list[dict[str, Any]] = []
        self.notices: list[tuple[str, str, tuple[str, ...], str]] = []
        self.fail = fail

    def record_audit(self, *, actor: str, action: str, target: str, detail: str, now: float) -> None:
        if self.fail:
            raise RuntimeError("database is down")
        self.entries.append({"actor": actor, "action": action, "target": target, "detail": detail})

    def notify(self, source: str, text: str, robots: Sequence[str], *, key: str) -> None:
        self.notices.append((source, text, tuple(robots), key))


def rig(fake: FakeAlertmanager, recorder: Recorder) -> tuple[CardSilencer, LinkSigner]:
    am = Alertmanager("http://am.test", client=httpx.Client(transport=httpx.MockTransport(fake)))
    silencer = CardSilencer({"am": am}, audit=recorder, notices=recorder, clock=lambda: NOW)
    return silencer, LinkSigner(derive_key("k" * 32), clock=lambda: NOW)


def link(signer: LinkSigner, seconds: int = 3600) -> Any:
    return signer.new_link(source="am", matchers=parse_matchers('alertname="DiskFull"'), seconds=seconds,
                           alertname="DiskFull", summary="", robots=["ops"])


def test_a_link_used_twice_makes_one_silence_one_audit_entry_and_one_notice() -> None:
    fake, recorder = FakeAlertmanager(), Recorder()
    silencer, signer = rig(fake, recorder)
    the_link = link(signer)
    first = silencer.silence(the_link, who="张三", address="10.0.0.7")
    again = silencer.silence(the_link, who="李四", address="10.0.0.8")
    assert (first.created, again.created, first.silence_id, again.silence_id) == (True, False, "sid-1", "sid-1")
    assert len(fake.silences) == 1 and fake.silences[0]["createdBy"] == "张三 via DingTalk card"
    assert [e["actor"] for e in recorder.entries] == ["card:张三"] and "10.0.0.7" in recorder.entries[0]["detail"]
    [(source, text, robots, key)] = recorder.notices
    assert (source, robots, key) == ("am", ("ops",), f"silence-link:{the_link.id}")
    assert text.startswith("张三 静默了 DiskFull 1小时（至 ") and "北京时间" in text


def test_another_link_for_the_same_alert_makes_its_own_silence() -> None:
    fake, recorder = FakeAlertmanager(), Recorder()
    silencer, signer = rig(fake, recorder)
    silencer.silence(link(signer), who="张三", address="")
    silencer.silence(link(signer, 4 * 3600), who="张三", address="")
    assert len(fake.silences) == 2


def test_a_storage_failure_after_the_silence_keeps_it_and_says_the_group_was_not_told() -> None:
    fake, recorder = FakeAlertmanager(), Recorder(fail=True)
    silencer, signer = rig(fake, recorder)
    done = silencer.silence(link(signer), who="张三", address="")
    assert done.created and not done.notified and len(fake.silences) == 1


def test_a_refused_silence_is_an_error_that_a_retry_cannot_fix() -> None:
    fake, recorder = FakeAlertmanager(status=400), Recorder()
    silencer, signer = rig(fake, recorder)
    with pytest.raises(AlertmanagerError) as caught:
        silencer.silence(link(signer), who="张三", address="")
    assert not caught.value.retryable and recorder.entries == [] and recorder.notices == []


@pytest.mark.parametrize(("raw", "name"), [("  张三 ", "张三"), ("张\u0000三", "张三"), ("a  b", "a b"), ("", None),
                                           ("   ", None), ("长" * 41, None)])
def test_names_are_trimmed_and_bounded(raw: str, name: str | None) -> None:
    assert clean_name(raw) == name


@pytest.mark.parametrize(("seconds", "text"), [(3600, "1小时"), (4 * 3600, "4小时"), (5400, "90分钟"),
                                               (86400, "1天")])
def test_durations_read_in_chinese(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
