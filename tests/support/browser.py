"""Pytest plugin: the browser harness of the UI tests (Debian's chromium through chromium-driver).

``browser`` is a fresh headless Chromium per test, driven by selenium with an explicit
``Service("/usr/bin/chromedriver")`` so selenium never looks for (or downloads) a browser or a
driver of its own. The machine has no outside network, hence the flags that stop Chromium from
calling home. Chrome's performance log is on, so a test can read every network response the
page received (:func:`response_bodies`). ``artifacts`` is where screenshots go:
``test-artifacts/browser/`` (git-ignored; ``ASP_TEST_ARTIFACTS`` puts them elsewhere), emptied
once per session.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack_fixtures import REPO
from tests.support.tiers import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    root = Path(os.environ.get("ASP_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


@pytest.fixture
def browser() -> Iterator[Any]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            skip_or_fail(f"{path} is missing (apt-get install chromium chromium-driver; scripts/test.sh does)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip_or_fail("selenium is not installed (pip install -e '.[test]')")
    profile = tempfile.mkdtemp(prefix="asp-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def response_bodies(driver: Any) -> dict[str, str]:
    """URL -> body of every response that finished loading since the last call (performance log).

    Bodies are fetched over the DevTools protocol (``Network.getResponseBody``) while Chrome
    still holds them; a response without a body (a redirect, a 204) is recorded as ``""``.
    """
    urls: dict[str, str] = {}
    finished: list[str] = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.responseReceived":
            urls[params["requestId"]] = params["response"]["url"]
        elif message.get("method") == "Network.loadingFinished":
            finished.append(params["requestId"])
    bodies: dict[str, str] = {}
    for request_id in finished:
        if request_id not in urls:
            continue
        try:
            reply = driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": request_id})
        except Exception:  # no body kept for this response (redirect, 204, data: URL)
            reply = {"body": ""}
        bodies[f"{urls[request_id]} #{request_id}"] = str(reply.get("body", ""))
    return bodies


def log_in(driver: Any, url: str, user: str, password: str, wait_s: float) -> None:
    """Sign in through the UI's own login form (the Simple auth manager's)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, wait_s)
    driver.get(url + "/")
    wait.until(ec.presence_of_element_located((By.NAME, "username")))
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)
