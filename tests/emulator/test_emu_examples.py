"""Every example body of PROTOCOL.md §5 is accepted by a robot with keyword 监控 and 加签."""

from __future__ import annotations

import json

import pytest
from emu_helpers import OK, SECRET, VECTOR_SIGN_ENCODED, VECTOR_TS, post, robot

EXAMPLES = [
    '{"msgtype":"text","text":{"content":"监控报警: disk 91% on web-1"}}',
    '{"msgtype":"text","text":{"content":"监控报警 @13800000000 @manager1234 please check"},"at":{"atMobiles":'
    '["13800000000"],"atUserIds":["manager1234"],"isAtAll":false}}',
    '{"msgtype":"link","link":{"title":"监控报警 weekly report","text":"CPU and memory summary for week 46",'
    '"messageUrl":"https://example.com/r/46","picUrl":"https://example.com/r/46.png"}}',
    '{"msgtype":"link","link":{"title":"监控报警 deploy done","text":"v1.2.3 rolled out","messageUrl":'
    '"dingtalk://dingtalkclient/page/link?url=https%3A%2F%2Fexample.com&pc_slide=true"}}',
    '{"msgtype":"markdown","markdown":{"title":"监控报警","text":"#### 监控报警 @13800000000\\n> CPU **95%**\\n\\n'
    '- host: web-1\\n- [details](https://example.com)"},"at":{"atMobiles":["13800000000"],"isAtAll":false}}',
    '{"msgtype":"markdown","markdown":{"title":"日报","text":"## 日报 监控报警\\n1. ok\\n2. '
    '![chart](https://example.com/c.png)"},"at":{"isAtAll":true}}',
    '{"msgtype":"actionCard","actionCard":{"title":"监控报警 incident","text":"### Incident 42\\nservice down",'
    '"singleTitle":"Open","singleURL":"https://example.com/i/42","btnOrientation":"0"}}',
    '{"msgtype":"actionCard","actionCard":{"title":"监控报警","text":"Only button","singleTitle":"阅读全文",'
    '"singleURL":"https://www.dingtalk.com/"}}',
    '{"msgtype":"actionCard","actionCard":{"title":"监控报警 approve?","text":"Deploy v2?","btnOrientation":"1",'
    '"btns":[{"title":"Yes","actionURL":"https://example.com/y"},{"title":"No","actionURL":"https://example.com/n"}]}}',
    '{"msgtype":"actionCard","actionCard":{"title":"监控报警","text":"pick","btnOrientation":"0","hideAvatar":"0",'
    '"btns":[{"title":"A","actionURL":"https://e.com/a"},{"title":"B","actionURL":"https://e.com/b"},'
    '{"title":"C","actionURL":"https://e.com/c"}]}}',
    '{"msgtype":"feedCard","feedCard":{"links":[{"title":"监控报警 1","messageURL":"https://e.com/1",'
    '"picURL":"https://e.com/1.png"},{"title":"监控报警 2","messageURL":"https://e.com/2","picURL":"https://e.com/2.png"}]}}',
    '{"msgtype":"feedCard","feedCard":{"links":[{"title":"监控报警 only","messageURL":"https://e.com/x",'
    '"picURL":"https://e.com/x.png"}]}}',
]

EXPECTED_TEXT = [
    "监控报警: disk 91% on web-1",
    "监控报警 @13800000000 @manager1234 please check",
    "CPU and memory summary for week 46",
    "v1.2.3 rolled out",
    "#### 监控报警 @13800000000\n> CPU **95%**\n\n- host: web-1\n- [details](https://example.com)",
    "## 日报 监控报警\n1. ok\n2. ![chart](https://example.com/c.png)",
    "### Incident 42\nservice down",
    "Only button",
    "Deploy v2?",
    "pick",
    "监控报警 1\n监控报警 2",
    "监控报警 only",
]


@pytest.mark.parametrize(("raw", "expected_text"), list(zip(EXAMPLES, EXPECTED_TEXT, strict=True)),
                         ids=[f"example-{i + 1}" for i in range(len(EXAMPLES))])
def test_protocol_example_is_accepted_and_recorded_exactly(start, client, raw, expected_text):
    emu = start(robot(secret=SECRET, keywords=["监控"]))
    url = f"{emu.webhook_url('ops')}&timestamp={VECTOR_TS}&sign={VECTOR_SIGN_ENCODED}"
    body = json.loads(raw)

    response = client.post(url, content=raw.encode(), headers={"Content-Type": "application/json; charset=utf-8"})

    assert response.json() == OK
    [received] = emu.messages("ops")
    assert received.body == body
    assert received.msgtype == body["msgtype"]
    assert received.text() == expected_text


def test_all_examples_fit_in_one_minute_of_rate_limit(start, client):
    emu = start(robot(keywords=["监控"]))

    results = [post(client, emu.webhook_url("ops"), json.loads(raw)) for raw in EXAMPLES]

    assert results == [OK] * len(EXAMPLES)
    assert [m.msgtype for m in emu.wait_for(12)] == [json.loads(raw)["msgtype"] for raw in EXAMPLES]
