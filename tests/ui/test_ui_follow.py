"""``follow``, the browser tests' "click and wait for the next page": it returns only once the new page has
loaded, it fails when a click does not navigate, and the errors chromedriver gives while documents swap mean
"not yet" rather than a failed test (a CI run once failed on "Node with given id does not belong to the
document" from the old staleness wait)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser import chromium, follow
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.common.by import By

FIRST = ("<!doctype html><html><body><h1>第一页</h1>"
         "<form method=post action=/next><button id=go>下一页</button></form>"
         "<button id=same onclick=\"document.querySelector('h1').textContent='仍是第一页'\">不跳转</button>"
         "</body></html>")
SECOND = "<!doctype html><html><body><h1>第二页</h1></body></html>"


class _Pages(BaseHTTPRequestHandler):
    def _answer(self, page: str) -> None:
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(FIRST)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(1.5)  # the old page stays on screen meanwhile: a wait that ends early sees it
        self._answer(SECOND)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_follow_returns_once_the_slow_next_page_has_loaded_and_fails_when_nothing_navigates(
        site: str, tmp_path: Path) -> None:
    with chromium(tmp_path) as browser:
        browser.get(site)
        follow(browser, browser.find_element(By.ID, "go"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "第二页"

        browser.get(site)
        with pytest.raises(TimeoutException):
            follow(browser, browser.find_element(By.ID, "same"), timeout=1.5)
        assert browser.find_element(By.TAG_NAME, "h1").text == "仍是第一页"


class _Swapping:
    """A driver in the middle of a page swap: its first answers are the errors chromedriver gives then."""

    def __init__(self, errors: list[WebDriverException]) -> None:
        self.errors = errors
        self.scripts: list[str] = []

    def execute_script(self, script: str) -> object:
        self.scripts.append(script)
        if script.startswith("window."):
            return None
        if self.errors:
            raise self.errors.pop(0)
        return True


class _Button:
    def __init__(self) -> None:
        self.clicks = 0

    def click(self) -> None:
        self.clicks += 1


def test_follow_reads_the_errors_of_a_page_swap_as_not_yet() -> None:
    driver = _Swapping([
        WebDriverException('unknown error: unhandled inspector error: {"code":-32000,'
                           '"message":"Node with given id does not belong to the document"}'),
        StaleElementReferenceException("stale element reference"),
        WebDriverException("javascript error: Execution context was destroyed"),
    ])
    button = _Button()
    follow(driver, button, timeout=10)  # type: ignore[arg-type]
    assert button.clicks == 1
    assert driver.errors == []                    # every error was asked past
    assert len(driver.scripts) == 1 + 3 + 1       # mark, three errors, then the new page
