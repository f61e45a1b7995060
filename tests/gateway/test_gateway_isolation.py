"""A bad request fails alone: while one client sends every hostile request we know, six clients sending valid
requests get 202 for each, and each of their messages reaches DingTalk; and a request the database refuses fails
without failing the requests that share its group commit. On SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import threading

import httpx
from gateway_harness import wait_until
from group_commit import held
from hostile import HOSTILE, TOKEN, Rig

from dingrelay.delivery.sql import SqlStore

CLIENTS = 6
REQUESTS_PER_CLIENT = 25
#: The attacker goes on while the clients send, but never past this many rounds of the whole catalogue.
MAX_ROUNDS = 20


def test_six_clients_get_202_for_every_request_while_a_seventh_sends_hostile_ones(rig: Rig) -> None:
    url = rig.gateway.url
    statuses: list[int] = []
    failures: list[str] = []
    attacks: list[str] = []
    clients_done = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(REQUESTS_PER_CLIENT):
                r = http.post("/ding/send", json={"source": TOKEN, "title": f"client {n} #{i}", "content": "正常"})
                with lock:
                    statuses.append(r.status_code)

    def attacker() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(MAX_ROUNDS):
                for hostile in HOSTILE:
                    try:
                        hostile.check(hostile.send(rig, http))
                    except AssertionError as exc:
                        failures.append(f"{hostile.name}: {exc}")
                    attacks.append(hostile.name)
                if clients_done.is_set():
                    return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    bad = threading.Thread(target=attacker)
    bad.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    clients_done.set()
    bad.join(120)

    assert statuses == [202] * (CLIENTS * REQUESTS_PER_CLIENT), sorted(set(statuses))
    assert failures == []
    assert len(attacks) >= len(HOSTILE)
    expected = CLIENTS * REQUESTS_PER_CLIENT
    assert wait_until(lambda: len(rig.emulator.messages()) >= expected, 60)
    assert len(rig.emulator.messages()) == expected   # every valid message, and nothing of the attacker's


POISON = "poison"
IS_POISON = f"substr(NEW.title, 1, {len(POISON)}) = '{POISON}'"


def _refuse_poison_rows(store: SqlStore) -> None:
    """A trigger that makes the database refuse one kind of row, as it would refuse a value it cannot store."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER poison BEFORE INSERT ON dr_messages WHEN {IS_POISON} "
                                 "BEGIN SELECT RAISE(ABORT, 'poison row'); END")
        else:
            conn.exec_driver_sql(f"CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF {IS_POISON} THEN "
                                 "RAISE EXCEPTION 'poison row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON dr_messages FOR EACH ROW "
                                 "EXECUTE FUNCTION poison()")


def test_a_request_the_database_refuses_fails_alone_in_its_group_commit(rig: Rig) -> None:
    store = rig.gateway.services.store
    assert isinstance(store, SqlStore)
    _refuse_poison_rows(store)
    acceptor = store._accept
    texts = [f"good {i} 巡检" for i in range(6)] + [f"{POISON} 巡检"]
    answers: dict[str, httpx.Response] = {}

    def send(text: str) -> None:
        with httpx.Client(base_url=rig.gateway.url, timeout=30) as http:
            answers[text] = http.post("/api/v1/messages", headers={"Authorization": f"Bearer {TOKEN}"},
                                      json={"message": {"msgtype": "text", "text": {"content": text}}})

    threads = [threading.Thread(target=send, args=(t,)) for t in texts]
    # Hold the group commit's leadership until all seven requests wait for it: they are then written as one batch.
    with held(acceptor._batches, len(texts)):
        for t in threads:
            t.start()
    for t in threads:
        t.join(30)

    poisoned = answers.pop(f"{POISON} 巡检")
    assert poisoned.status_code == 503 and poisoned.json()["error"]["code"] == "storage_unavailable"
    assert {text: r.status_code for text, r in answers.items()} == {text: 202 for text in answers}
    delivered = rig.emulator.wait_for(6, robot="ops", timeout=30)
    assert sorted(m.body["text"]["content"] for m in delivered) == sorted(answers)
