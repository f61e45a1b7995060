"""Every request fuzzing found hurting the gateway gets a 4xx JSON answer naming what is wrong, on SQLite and
PostgreSQL alike, and stores nothing: strings that are not text (a lone surrogate, NUL), values longer than their
column, ids that name no message, JSON nested too deep (the catalogue: ``hostile.py``)."""

from __future__ import annotations

import pytest
from hostile import CASES, GOOD, Hostile, Rig


@pytest.mark.parametrize("hostile", CASES)
def test_a_hostile_request_gets_a_4xx_json_answer_and_stores_nothing(rig: Rig, hostile: Hostile) -> None:
    before = rig.gateway.services.store.counts()

    r = hostile.send(rig)

    hostile.check(r)
    assert rig.gateway.services.store.counts() == before
    assert rig.emulator.messages() == []


def test_nul_is_refused_not_dropped_and_the_message_names_it(rig: Rig) -> None:
    r = rig.gateway.http.post("/ding/send", json={**GOOD, "content": "正常\x00"})

    assert r.status_code == 422
    assert "NUL" in r.json()["error"]["message"]


def test_an_escaped_surrogate_pair_is_text_and_is_accepted(rig: Rig) -> None:
    # json.dumps writes 😀 as the pair \ud83d\ude00: one character, not two lone surrogates
    r = rig.gateway.http.post("/ding/send", content=b'{"source": "heian-token", "title": "ok \\ud83d\\ude00", '
                              b'"content": "\\u6b63\\u5e38"}', headers={"Content-Type": "application/json"})

    assert r.status_code == 202, r.text


def test_an_idempotency_key_of_200_characters_is_taken(rig: Rig) -> None:
    headers = {"Idempotency-Key": "k" * 200}
    first = rig.gateway.http.post("/ding/send", json=GOOD, headers=headers)
    again = rig.gateway.http.post("/ding/send", json=GOOD, headers=headers)

    assert first.status_code == 202, first.text
    assert again.json()["id"] == first.json()["id"]
