"""``metrics.token``: with it set, ``/metrics`` answers only ``Authorization: Bearer <token>``; without it, anyone.
Each app built in a process counts apart (no global registry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from metrics_rig import TOKEN, MetricsRig, make_rig, samples, value

from dingrelay import __version__

METRICS_TOKEN = "scrape-me-5c1f0e2a9b"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[MetricsRig]:
    yield from make_rig(tmp_path, f"sqlite:///{tmp_path / 'dingrelay.db'}", metrics={"token": METRICS_TOKEN})


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong-token"),
    pytest.param({"Authorization": f"Bearer {METRICS_TOKEN}x"}, id="token-with-more"),
    pytest.param({"Authorization": f"Bearer {TOKEN}"}, id="a-sources-token"),
    pytest.param({"Authorization": METRICS_TOKEN}, id="no-bearer-scheme"),
])
def test_without_the_metrics_token_a_scrape_gets_401_json(guarded: MetricsRig, headers: dict[str, str]) -> None:
    r = guarded.scrape(**headers)
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == "unauthorized" and "metrics.token" in error["message"]
    assert METRICS_TOKEN not in r.text


def test_with_the_metrics_token_a_scrape_gets_the_metrics(guarded: MetricsRig) -> None:
    guarded.scrape()   # refused: counted all the same
    r = guarded.scrape(Authorization=f"Bearer {METRICS_TOKEN}")
    assert r.status_code == 200
    m = samples(r.text)
    assert value(m, "dingrelay_http_requests_total", endpoint="/metrics", status="401") == 1
    assert METRICS_TOKEN not in r.text


def test_without_a_metrics_token_anyone_may_scrape(tmp_path: Path) -> None:
    for rig in make_rig(tmp_path, f"sqlite:///{tmp_path / 'dingrelay.db'}"):
        assert rig.scrape().status_code == 200


def test_two_apps_in_one_process_count_apart(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for a in make_rig(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}"):
        for b in make_rig(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}"):
            a.gateway.http.get("/ding/send")
            a.gateway.http.get("/ding/send")
            b.gateway.http.get("/ding/send")
            ma, mb = samples(a.scrape().text), samples(b.scrape().text)
            assert value(ma, "dingrelay_http_requests_total", endpoint="/ding/send", status="200") == 2
            assert value(mb, "dingrelay_http_requests_total", endpoint="/ding/send", status="200") == 1


def test_a_scrape_while_the_database_cannot_be_read_still_answers_and_says_so(guarded: MetricsRig) -> None:
    from sqlalchemy import text

    with guarded.gateway.services.store.engine.begin() as conn:   # the send log is gone: robot_stats fails
        conn.execute(text("DROP TABLE dr_sends"))
    r = guarded.scrape(Authorization=f"Bearer {METRICS_TOKEN}")
    assert r.status_code == 200
    m = samples(r.text)
    assert value(m, "dingrelay_database_up") == 0
    assert value(m, "dingrelay_queue_depth", robot="ops") is None
    assert value(m, "dingrelay_build_info", version=__version__) == 1
