"""A real Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium, headless.

``scripts/test`` installs both when it can. Without them the browser tests are skipped locally and fail under
``CI=true``. Selenium is given the driver's path, so it never downloads one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

BROWSERS = ("chromium", "chromium-browser")
DRIVERS = ("chromedriver",)
#: Where to copy the screenshots when DINGRELAY_SCREENSHOTS names a folder (the README's are in docs/).
SCREENSHOTS_ENV = "DINGRELAY_SCREENSHOTS"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _find(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def binaries() -> tuple[str, str]:
    browser, driver = _find(BROWSERS), _find(DRIVERS)
    if browser and driver:
        return browser, driver
    reason = "Chromium is not installed (apt-get install chromium chromium-driver)"
    if _in_ci():
        pytest.fail(f"{reason}. CI=true: the browser tests must run.", pytrace=False)
    pytest.skip(reason)


@contextmanager
def chromium(downloads: Path) -> Iterator[webdriver.Chrome]:
    browser, driver = binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN",
                "--window-size=1440,1000", "--hide-scrollbars", f"--user-data-dir={downloads / 'profile'}"):
        options.add_argument(arg)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    session.set_page_load_timeout(30)
    try:
        yield session
    finally:
        session.quit()


#: A property set on the page before a click; a new document does not have it.
_MARK = "__dingrelayOldPage"


def _new_page_loaded(session: WebDriver) -> bool:
    return bool(session.execute_script(f"return window.{_MARK} === undefined && document.readyState === 'complete'"))


def follow(session: WebDriver, element: WebElement, timeout: float = 20) -> None:
    """Click ``element`` and wait until the page it leads to has loaded.

    The old page is marked with a window property, and the wait ends on a complete document without the mark.
    While the browser swaps documents, chromedriver answers a command with one of several errors (stale element,
    "Node with given id does not belong to the document", no execution context); every such error means "not
    yet", so the wait asks again instead of failing on whichever the race produced.
    """
    session.execute_script(f"window.{_MARK} = true")
    element.click()
    WebDriverWait(session, timeout, ignored_exceptions=(WebDriverException,)).until(_new_page_loaded)


def screenshot(session: webdriver.Chrome, folder: Path, name: str) -> Path:
    """The whole page as PNG in ``folder``; also in $DINGRELAY_SCREENSHOTS when set."""
    height = int(session.execute_script("return document.documentElement.scrollHeight"))
    session.set_window_size(1440, max(700, min(height + 40, 2400)))
    path = folder / name
    session.save_screenshot(str(path))
    target = os.environ.get(SCREENSHOTS_ENV)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / name)
    return path
