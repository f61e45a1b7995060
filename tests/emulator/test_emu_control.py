"""The /_emulator/* control endpoints and the Python-side API that tests and people use."""

from __future__ import annotations

import logging
import threading

import httpx
import pytest
from emu_helpers import OK, OTHER_TOKEN, SECRET, TOKEN, answer, post, robot, text

from dingrelay.emulator import Emulator, Fault


def test_messages_endpoint_lists_accepted_messages_filtered_by_robot(start, client):
    emu = start(robot("ops"), robot("dev", token=OTHER_TOKEN))
    post(client, emu.webhook_url("ops"), text("监控 ops"))
    post(client, emu.webhook_url("dev"), text("监控 dev"))

    everything = client.get(f"{emu.server.url}/_emulator/messages").json()["messages"]
    only_dev = client.get(f"{emu.server.url}/_emulator/messages", params={"robot": "dev"}).json()["messages"]

    assert [(m["robot"], m["text"]) for m in everything] == [("ops", "监控 ops"), ("dev", "监控 dev")]
    assert [m["body"] for m in only_dev] == [text("监控 dev")]
    assert only_dev[0]["msgtype"] == "text"


def test_rejections_endpoint_lists_errcodes(start, client):
    emu = start(robot(keywords=["监控"]))
    post(client, emu.webhook_url("ops"), text("nothing"))

    [rejection] = client.get(f"{emu.server.url}/_emulator/rejections").json()["rejections"]

    assert (rejection["robot"], rejection["errcode"], rejection["errmsg"]) == (
        "ops", 310000, "keywords not in content")


def test_delete_messages_resets_everything(start, client):
    emu = start(robot(rate_limit=1))
    post(client, emu.webhook_url("ops"), text())
    post(client, emu.webhook_url("ops"), text())

    response = client.delete(f"{emu.server.url}/_emulator/messages")

    assert response.json() == OK
    assert (emu.messages(), emu.rejections()) == ([], [])
    assert post(client, emu.webhook_url("ops"), text()) == OK


def test_faults_endpoint_injects_lists_and_clears(start, client):
    emu = start(robot())
    faults = f"{emu.server.url}/_emulator/faults"

    added = client.post(faults, json={"kind": "errcode", "errcode": -1, "errmsg": "系统繁忙", "count": 1})
    listed = client.get(faults).json()["faults"]
    busy = post(client, emu.webhook_url("ops"), text())
    client.post(faults, json={"kind": "http_status", "status": 503})
    cleared = client.delete(faults)

    assert added.json()["errcode"] == 0
    assert [f["kind"] for f in listed] == ["errcode"]
    assert busy == answer(-1, "系统繁忙")
    assert cleared.json() == OK
    assert post(client, emu.webhook_url("ops"), text()) == OK


@pytest.mark.parametrize(
    "payload",
    [{"kind": "boom"}, {"errcode": -1}, {"kind": "errcode", "count": "2"}, {"kind": "drop", "colour": "red"}, [1]],
)
def test_malformed_fault_is_http_400(start, client, payload):
    emu = start(robot())

    response = client.post(f"{emu.server.url}/_emulator/faults", json=payload)

    assert response.status_code == 400
    assert emu.state.faults() == []


def test_robots_endpoint_shows_masked_webhooks_and_never_secrets(start, client):
    emu = start(robot(secret=SECRET, keywords=["监控"]), robot("dev", token=OTHER_TOKEN))

    response = client.get(f"{emu.server.url}/_emulator/robots")

    robots = response.json()["robots"]
    assert [r["name"] for r in robots] == ["ops", "dev"]
    assert robots[0]["signed"] is True and robots[1]["signed"] is False
    assert robots[0]["webhook"] == f"{emu.server.url}/robot/send?access_token=0123****"
    for secret in (TOKEN, OTHER_TOKEN, SECRET, SECRET[3:]):
        assert secret not in response.text


def test_unknown_control_path_is_404(start, client):
    emu = start(robot())

    response = client.get(f"{emu.server.url}/_emulator/nothing")

    assert (response.status_code, response.json()) == (404, answer(404, "not found"))


def test_on_message_is_called_for_each_accepted_message_only(start, client):
    emu = start(robot(keywords=["监控"]))
    seen = []
    emu.on_message = seen.append

    post(client, emu.webhook_url("ops"), text("监控 1"))
    post(client, emu.webhook_url("ops"), text("refused"))
    post(client, emu.webhook_url("ops"), text("监控 2"))

    assert [r.text() for r in seen] == ["监控 1", "监控 2"]


def test_failing_on_message_callback_does_not_break_delivery(start, client, caplog):
    emu = start(robot())

    def explode(_):
        raise RuntimeError("printer on fire")

    emu.on_message = explode

    assert post(client, emu.webhook_url("ops"), text()) == OK
    assert len(emu.messages()) == 1


def test_wait_for_returns_once_messages_arrive_from_another_thread(start, ssl_context):
    emu = start(robot())

    def send_later():
        with httpx.Client(verify=ssl_context) as c:
            for i in range(3):
                post(c, emu.webhook_url("ops"), text(f"监控 {i}"))

    sender = threading.Thread(target=send_later)
    sender.start()
    try:
        received = emu.wait_for(3, robot="ops", timeout=10)
    finally:
        sender.join()

    assert [m.text() for m in received] == ["监控 0", "监控 1", "监控 2"]


def test_wait_for_timeout_says_how_many_arrived(start, client):
    emu = start(robot())
    post(client, emu.webhook_url("ops"), text())

    with pytest.raises(TimeoutError, match=r"3 message\(s\) for robot 'ops'; 1 arrived"):
        emu.wait_for(3, robot="ops", timeout=0.05)


def test_webhook_url_needs_a_running_server_and_a_known_robot(start):
    idle = Emulator([robot()])
    served = start(robot())

    with pytest.raises(RuntimeError, match="serve"):
        idle.webhook_url("ops")
    with pytest.raises(RuntimeError, match="serve"):
        idle.create_session()
    with pytest.raises(KeyError, match="nope"):
        served.webhook_url("nope")


def test_robot_added_later_is_served(start, client):
    emu = start()
    emu.add_robot(robot())

    assert post(client, emu.webhook_url("ops"), text()) == OK


@pytest.mark.parametrize("clash", [robot("ops", token=OTHER_TOKEN), robot("dev", token=TOKEN)])
def test_duplicate_robot_name_or_token_is_refused(clash):
    emu = Emulator([robot()])

    with pytest.raises(ValueError, match=r"already exists|reuses"):
        emu.add_robot(clash)


def test_server_can_be_stopped_with_idle_keep_alive_connections_and_served_again(client):
    emu = Emulator([robot()])
    with emu.serve() as server:
        assert post(client, emu.webhook_url("ops"), text()) == OK  # the client keeps the connection open
    assert not server.running
    with pytest.raises(httpx.TransportError):
        client.post(f"{server.url}/robot/send?access_token={TOKEN}", json=text())

    with emu.serve():
        assert post(client, emu.webhook_url("ops"), text()) == OK
    assert len(emu.messages()) == 2


def test_serving_twice_at_once_is_refused(start):
    emu = start(robot())

    with pytest.raises(RuntimeError, match="already serving"):
        emu.serve()


def test_tokens_and_sessions_never_reach_the_log(start, client, caplog):
    caplog.set_level(logging.DEBUG, logger="dingrelay.emulator")
    emu = start(robot(secret=SECRET))
    session = emu.create_session()
    emu.inject(Fault(kind="errcode", count=1))

    post(client, emu.webhook_url("ops") + "&timestamp=1&sign=abc", text())
    post(client, emu.webhook_url("ops") + "&timestamp=1&sign=abc", text())
    post(client, session, text())
    client.get(f"{emu.server.url}/nothing?access_token={TOKEN}")

    assert "/robot/send" in caplog.text
    for secret in (TOKEN, SECRET, session.rsplit("=", 1)[1]):
        assert secret not in caplog.text


def test_robot_repr_hides_token_and_secret():
    shown = repr(robot(secret=SECRET))

    assert "ops" in shown
    assert TOKEN not in shown and SECRET not in shown
