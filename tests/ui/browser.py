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
from selenium.webdriver.chrome.service import Service

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
