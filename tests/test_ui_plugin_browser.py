"""The Secrets page in a real browser, inside the quickstart stack's Airflow UI.

Log in, open "Secrets" from the UI's navigation, add a key to a project, see it listed with its
value absent from the DOM (page and iframe, input fields included) and from every network
response the browser received (Chrome's performance log, bodies read over DevTools), delete it.
A screenshot of each step goes to ``test-artifacts/browser/secrets-*.png``. Reuses the session's
stack (``airflow_stack``) and the browser harness (tests/support/browser.py).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from devstack.stack_home import ADMIN_USER
from tests.support.browser import log_in, response_bodies
from tests.support.stack_fixtures import START_TIMEOUT_S, RunningStack

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(START_TIMEOUT_S + 300)]

WAIT_S = 120  # bounded waits for a condition (page rendered, list refreshed)
KEY = "BROWSER_TOKEN"


def test_add_see_and_delete_a_key_from_the_secrets_page(
    airflow_stack: RunningStack, browser: Any, artifacts: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # The page redraws its tables after every change: a row found a moment ago may be replaced
    # before its attribute is read. Such a condition is simply evaluated again.
    wait = WebDriverWait(browser, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))
    value = secrets.token_hex(16)
    project = f"ui-{secrets.token_hex(4)}"  # a project of this test's own: the stack is shared
    bodies: dict[str, str] = {}

    def shot(name: str) -> None:
        browser.save_screenshot(str(artifacts / f"secrets-{name}.png"))

    def text_of(testid: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, f"[data-testid={testid}]").text)

    def key_rows() -> list[str]:
        return [row.get_attribute("data-key") for row in browser.find_elements(By.CSS_SELECTOR, "#keys tr[data-key]")]

    def value_in_dom() -> bool:
        """The value anywhere in the frame's or the outer page's DOM, or in any input's current value."""
        inputs = browser.execute_script("return Array.from(document.querySelectorAll('input')).map(i => i.value)")
        found = value in browser.page_source or any(value in str(v) for v in inputs)
        browser.switch_to.default_content()
        found = found or value in browser.page_source
        enter_frame()
        return found

    def enter_frame() -> None:
        browser.switch_to.default_content()
        frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[title=Secrets]")))
        browser.switch_to.frame(frame)

    # 1. Log in and open Secrets from the navigation.
    log_in(browser, airflow_stack.url, ADMIN_USER, airflow_stack.password(), WAIT_S)
    nav = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "a[href$='plugin/secrets']")))
    shot("01-home-with-nav")
    nav.click()
    wait.until(lambda d: d.current_url.endswith("/plugin/secrets"))
    enter_frame()
    wait.until(lambda d: "signed in as admin" in text_of("context"))
    assert "Namespace ml" in text_of("context")
    shot("02-secrets-page")

    # 2. Add a key to a new project.
    browser.find_element(By.CSS_SELECTOR, "[data-testid=set-project]").send_keys(project)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=set-key]").send_keys(KEY)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=set-value]").send_keys(value)
    shot("03-form-filled")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=set-submit]").click()
    wait.until(lambda d: f"Set {KEY} in project {project}" in text_of("notice"))

    # 3. The key is listed (with its time), the project too, the change is in the audit table.
    wait.until(lambda d: key_rows() == [KEY])
    wait.until(
        lambda d: any(
            r.get_attribute("data-project") == project for r in d.find_elements(By.CSS_SELECTOR, "#projects tr")
        )
    )
    wait.until(lambda d: "admin (Airflow UI)" in text_of("history") and KEY in text_of("history"))
    shot("04-key-listed")
    assert not value_in_dom(), "the value is in the page's DOM"
    bodies.update(response_bodies(browser))

    # 4. Delete it (the page asks first, in the row: the UI's iframe sandbox blocks dialogs).
    row = browser.find_element(By.CSS_SELECTOR, f"#keys tr[data-key={KEY}]")
    row.find_element(By.CSS_SELECTOR, "[data-testid=delete-key]").click()
    confirm = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=confirm-delete]")))
    shot("05-confirm-delete")
    assert key_rows() == [KEY]  # asking is not deleting
    confirm.click()
    wait.until(lambda d: f"Deleted {KEY} from project {project}" in text_of("notice"))
    wait.until(
        lambda d: (
            not any(
                r.get_attribute("data-project") == project for r in d.find_elements(By.CSS_SELECTOR, "#projects tr")
            )
        )
    )
    wait.until(lambda d: "unset" in text_of("history"))
    shot("06-key-deleted")
    assert not value_in_dom(), "the value is in the page's DOM"
    bodies.update(response_bodies(browser))

    # 5. Every response the browser received: the page's API calls were among them, none held the value.
    api_calls = [url for url in bodies if "/secrets-provider/api/" in url]
    assert any(f"/api/projects/{project}/keys" in url for url in api_calls), sorted(bodies)
    assert any("/secrets-provider/static/secrets.js" in url for url in bodies), sorted(bodies)
    # The bodies really were read (the check below is not vacuous): the PUT's answer is among them.
    assert any(f'"set":"{KEY}"' in body for body in bodies.values()), "no response body was read"
    leaked = [url for url, body in bodies.items() if value in body]
    assert not leaked, f"responses holding the value: {leaked}"
