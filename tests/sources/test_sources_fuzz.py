"""Random, truncated and mangled bodies never make a source hook answer 5xx: every answer is a 202 or our JSON
error, over real HTTP. Each case starts from a built-in sample (so most of it is still valid and reaches deep
into the adapter and the template) and drops, keeps or replaces each field at every level with any JSON."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from gateway_harness import InProcessGateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sources_rig import GITLAB_EVENTS, auth

from dingrelay.dashboard.samples import BUILTIN

SAMPLES = {kind: [s.body for s in BUILTIN if s.kind == kind] for kind in ("zabbix", "gitlab", "jenkins")}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
EXAMPLES = 60


def mangled(data: st.DataObject, value: Any, odds: int) -> Any:
    """``value`` with each field kept (and mangled further down), or, at 1 in ``odds`` each, dropped or replaced
    with random JSON."""
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            roll = data.draw(st.integers(0, odds - 1))
            if roll == 1:
                out[key] = data.draw(JSON)
            elif roll != 0:
                out[key] = mangled(data, inner, odds)
        return out
    if isinstance(value, list):
        kept = value[: data.draw(st.integers(0, len(value)))]
        return [mangled(data, v, odds) for v in kept]
    if data.draw(st.integers(0, odds - 1)) == 0:
        return data.draw(JSON)
    return value


def is_our_answer(status: int, body: Any) -> bool:
    if status == 202:
        return isinstance(body, dict) and body.get("status") in ("queued", "suppressed", "ignored")
    return (isinstance(body, dict) and set(body) == {"error"}
            and {"code", "message", "field"} <= set(body["error"]))


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_mangled_bodies_never_get_a_5xx(gateway: InProcessGateway, kind: str) -> None:
    seen: Counter[int] = Counter()

    @given(data=st.data(), which=st.integers(0, 10), header=st.booleans(), odds=st.sampled_from([3, 20, 200]))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(data: st.DataObject, which: int, header: bool, odds: int) -> None:
        sample = SAMPLES[kind][which % len(SAMPLES[kind])]
        body = mangled(data, sample, odds)
        event = GITLAB_EVENTS.get(str(sample.get("object_kind"))) if kind == "gitlab" and header else None
        r = gateway.http.post(f"/hooks/{kind}/{kind}", json=body, headers=auth(kind, event=event))
        seen[r.status_code] += 1
        assert r.status_code < 500, r.text
        assert is_our_answer(r.status_code, r.json()), r.text

    fuzz()
    assert seen[202] and seen[422], seen   # the cases reach both the template and the adapter's checks


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_bodies_cut_short_at_any_byte_get_a_json_4xx(gateway: InProcessGateway, kind: str) -> None:
    raw = json.dumps(SAMPLES[kind][0], ensure_ascii=False).encode()

    @given(cut=st.integers(0, len(raw) - 1))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(cut: int) -> None:
        r = gateway.http.post(f"/hooks/{kind}/{kind}", content=raw[:cut],
                              headers={**auth(kind), "Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, r.text
        assert is_our_answer(r.status_code, r.json()), r.text

    fuzz()


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_any_json_at_all_never_gets_a_5xx(gateway: InProcessGateway, kind: str) -> None:
    @given(body=JSON)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(body: Any) -> None:
        r = gateway.http.post(f"/hooks/{kind}/{kind}", json=body, headers=auth(kind))
        assert r.status_code < 500, r.text
        assert is_our_answer(r.status_code, r.json()), r.text

    fuzz()
