"""Burst: N messages posted at once to one robot allowed 20 per window (the emulator enforces the same limit and
answers DingTalk's rate-limit errcode if it is exceeded). How long until all are delivered, whether DingTalk
refused any, and the most messages it saw in any sliding window.

    .venv/bin/python bench/burst.py                 # 60 messages, 20 per 4 s window (quick: ~10 s)
    .venv/bin/python bench/burst.py --window 60     # DingTalk's real 20 per minute (~2 min)
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from harness import Robot, free_port, running, serve_cmd, setup, table, tutorial_body

from dingrelay.emulator import max_in_window


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--count", type=int, default=60)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--window", type=float, default=4.0, help="rate window, seconds (default 4; DingTalk's is 60)")
    a = p.parse_args()
    expected = max(0, (a.count - 1) // a.limit) * a.window
    timeout = expected + a.window + 30

    with setup(Robot(rate_limit=a.limit, rate_window_seconds=a.window)) as s:
        port = free_port()
        with running(serve_cmd(s.config, port), port, s.dir / "serve.log") as server:
            start = threading.Barrier(a.count)

            def post(i: int) -> tuple[int, float, float]:
                with httpx.Client(base_url=server.url, timeout=30) as http:
                    http.get("/healthz")  # connect first, so the POSTs really start together
                    start.wait(30)
                    t = time.time()
                    status = http.post("/ding/send", json=tutorial_body(s.source_token, f"burst {i}")).status_code
                    return status, t, time.time()

            with ThreadPoolExecutor(max_workers=a.count) as pool:
                results = list(pool.map(post, range(a.count)))
            statuses = [r[0] for r in results]
            t0 = min(r[1] for r in results)
            accepted_s = max(r[2] for r in results) - t0
            deadline = time.monotonic() + timeout
            while len(s.emulator.messages()) < statuses.count(202) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(min(a.window, 2.0))  # anything sent late (a duplicate, a retry) would show up here
            received = s.emulator.messages()
            rejections = s.emulator.rejections()

    times = [r.received_at for r in received]
    all_in = (max(times) - t0) if len(received) >= statuses.count(202) and times else None
    print(f"## burst: {a.count} messages at once, robot limit {a.limit} per {a.window:g} s; "
          f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}")
    print(table(["figure", "measured", "target / expected"], [
        ["answered 202", f"{statuses.count(202)} of {a.count} (all answered in {accepted_s:.2f} s)", str(a.count)],
        ["delivered", str(len(received)), str(a.count)],
        ["first POST -> last delivered", f"{all_in:.1f} s" if all_in is not None else f"not within {timeout:.0f} s",
         f">= {expected:g} s ({(a.count - 1) // a.limit} full windows)"],
        ["rejected by DingTalk (emulator)", str(len(rejections)), "0"],
        [f"max delivered in any {a.window:g} s window", str(max_in_window(times, a.window)), f"<= {a.limit}"],
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
