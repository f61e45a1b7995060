"""The bots' reply log, through the store: a msgId delivered many times at once (by DingTalk's retries, to several
gateway processes) is taken by exactly one delivery, and the others read what it answered."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from dingrelay.bot.dedup import ReplyLog
from dingrelay.delivery.sql import SqlStore

T0 = 1_700_000_000.0


def test_concurrent_deliveries_of_one_msg_id_to_two_processes_have_exactly_one_taker(store_url: str) -> None:
    stores = [SqlStore(store_url), SqlStore(store_url, upgrade=False)]   # two gateway processes, one database
    logs = [ReplyLog(s) for s in stores]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            seen = list(pool.map(lambda i: logs[i % 2].claim("helper", "msgA==", now=T0), range(16)))
        logs[0].finish("helper", "msgA==", {"msgtype": "text", "text": {"content": "好"}}, via="response", now=T0 + 1)
        later = logs[1].claim("helper", "msgA==", now=T0 + 2)
    finally:
        for s in stores:
            s.close()
    assert sum(s is None for s in seen) == 1
    assert all(s is not None and not s.done for s in seen if s is not None)
    assert later is not None and later.done and later.via == "response"
    assert later.reply == {"msgtype": "text", "text": {"content": "好"}}
