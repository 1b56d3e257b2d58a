"""Debian's headless chromium driven by selenium, for the dashboard's end-to-end test (and
the README screenshot). `headless_chromium()` skips the test, with the reason, where no
browser, driver or selenium is installed (.ci/run installs them)."""
from __future__ import annotations

import base64
import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")


def headless_chromium(width: int = 1280, height: int = 900, password: str | None = None):
    """A started headless browser; with `password`, every request it sends carries the
    gateway's basic auth (what a person types once into the browser's prompt)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install .[test])")
    from selenium.webdriver.chrome.service import Service

    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} not found: apt-get install {package} (make test does, as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if password is not None:
        token = base64.b64encode(f"admin:{password}".encode()).decode()
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    return driver
