"""The Alertmanager API v2 client against a real Alertmanager, and its errors against a fake one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alertmanager_proc import Alertmanager as AlertmanagerProcess

from dingrelay.adapters.matchers import parse_matcher, parse_matchers
from dingrelay.chatops.api import Alertmanager, AlertmanagerError, parse_time


@pytest.fixture
def am(am_process: AlertmanagerProcess) -> Iterator[Alertmanager]:
    client = Alertmanager(am_process.url)
    yield client
    client.close()


def post_alert(proc: AlertmanagerProcess, **labels: str) -> None:
    starts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    proc.http.post("/api/v2/alerts", json=[{"labels": labels, "startsAt": starts,
                                            "annotations": {"summary": "磁盘将满"}}]).raise_for_status()


def test_alerts_silence_and_expire_round_trip_through_a_real_alertmanager(
        am_process: AlertmanagerProcess, am: Alertmanager) -> None:
    post_alert(am_process, alertname="DiskFull", instance="web-1", severity="warning")
    post_alert(am_process, alertname="DiskFull", instance="db-1", severity="critical")
    names = sorted(a.labels["instance"] for a in am.alerts())
    assert names == ["db-1", "web-1"]
    assert [a.labels["instance"] for a in am.alerts([parse_matcher('instance=~"web-.*"')])] == ["web-1"]

    now = datetime.now(UTC)
    sid = am.create_silence(parse_matchers('alertname=DiskFull, instance=~"web-.*"'), starts_at=now,
                            ends_at=now + timedelta(hours=2), created_by="张三 (manager1234)", comment="扩容中")
    [held] = am.silences()
    assert (held.id, held.created_by, held.comment) == (sid, "张三 (manager1234)", "扩容中")
    assert [str(m) for m in held.matchers] == ['alertname="DiskFull"', 'instance=~"web-.*"']
    assert held.ends_at - now == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=2))

    am.expire_silence(sid)
    assert am.silences() == []
    assert am.silence(sid).state == "expired"


def test_alertmanager_refusing_a_silence_says_why_and_is_not_retryable(am: Alertmanager) -> None:
    now = datetime.now(UTC)
    with pytest.raises(AlertmanagerError) as caught:  # every matcher matches "": Alertmanager refuses it
        am.create_silence([parse_matcher('team=~".*"')], starts_at=now, ends_at=now + timedelta(hours=1),
                          created_by="张三", comment="x")
    assert caught.value.retryable is False and caught.value.status == 400
    assert "HTTP 400" in str(caught.value)


def test_an_unreachable_alertmanager_is_retryable_and_a_token_never_shows() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client, \
            pytest.raises(AlertmanagerError) as caught:
        am = Alertmanager("http://am.example:9093", token="s3cret-token", client=client)
        am.alerts()
    assert caught.value.retryable is True and "unreachable" in str(caught.value)
    assert "s3cret-token" not in str(caught.value) and "s3cret-token" not in repr(am)


def test_a_wrong_token_is_named_as_the_cause_and_sent_as_a_bearer_token() -> None:
    seen: list[str] = []

    def deny(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(401, text="Unauthorized")

    with httpx.Client(transport=httpx.MockTransport(deny)) as client, pytest.raises(AlertmanagerError) as caught:
        Alertmanager("http://am.example:9093", token="s3cret-token", client=client).silences()
    assert seen == ["Bearer s3cret-token"]
    assert "token" in str(caught.value) and "s3cret-token" not in str(caught.value)
    assert caught.value.retryable is False


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01T12:00:00.123456789Z", datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)),
    ("2026-12-01T20:00:00+08:00", datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", None),
])
def test_alertmanager_times_are_read_with_nanoseconds_and_zones(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected
