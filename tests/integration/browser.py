"""A real headless browser for pages meant for people: Debian's Chromium, driven by
Selenium through chromedriver (``scripts/test`` installs both)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def _required(name: str, env: str) -> str:
    path = os.environ.get(env) or shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: scripts/test installs it, or set {env}")
    return path


@contextmanager
def headless_chromium() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = _required("chromium", "CHROMIUM")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    # Paths given, Selenium looks nothing up online.
    driver = webdriver.Chrome(
        service=Service(_required("chromedriver", "CHROMEDRIVER")), options=options
    )
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s}s: {what}")
