"""In a real browser: log in to the stack's UI, see the examples, trigger one, read its masked log.

Debian's ``chromium`` driven through Debian's ``chromium-driver`` by selenium (the harness, the
``browser`` and ``artifacts`` fixtures, is tests/support/browser.py). A screenshot of each step
goes to ``test-artifacts/browser/`` (git-ignored; set ``ASP_TEST_ARTIFACTS`` to put them elsewhere).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack_fixtures import START_TIMEOUT_S, RunningStack

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(START_TIMEOUT_S + 300)]

DAG_ID = "example_backend_lookup"
TASK_ID = "read_through_backend"
WAIT_S = 120  # bounded waits for a condition (page rendered, run finished)


def test_trigger_from_the_ui_and_read_the_masked_log(
    airflow_stack: RunningStack, browser: Any, artifacts: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)

    def shot(name: str) -> None:
        browser.save_screenshot(str(artifacts / f"{name}.png"))

    def body_text() -> str:
        return str(browser.find_element(By.TAG_NAME, "body").text)

    # 1. Log in with the generated password (read from its 0600 file, as the banner says).
    browser.get(airflow_stack.url + "/")
    wait.until(ec.presence_of_element_located((By.NAME, "username")))
    shot("01-login")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(airflow_stack.password())
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)

    # 2. The example DAGs are listed.
    browser.get(airflow_stack.url + "/dags")
    wait.until(lambda d: DAG_ID in d.find_element(By.TAG_NAME, "body").text)
    shot("02-dags")
    listed = body_text()
    for dag_id in ("example_project_secrets", "example_external_secrets", "example_azure_vault", DAG_ID):
        assert dag_id in listed

    # 3. Trigger one from its page: the Trigger button, then the dialog's Trigger.
    browser.get(f"{airflow_stack.url}/dags/{DAG_ID}")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=trigger-dag-button]"))).click()
    submit = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=trigger-dag-submit]")))
    shot("03-trigger-dialog")
    submit.click()
    wait.until(lambda d: "/runs/" in d.current_url)
    run_id = urllib.parse.unquote(browser.current_url.split("/runs/", 1)[1].split("/")[0].split("?")[0])
    shot("04-run-triggered")
    assert run_id.startswith("manual__")

    # 4. Wait for the run to succeed; the run page shows it.
    assert airflow_stack.api().wait_for_run(DAG_ID, run_id, timeout=WAIT_S * 3) == "success"
    browser.refresh()
    wait.until(lambda d: "Success" in d.find_element(By.TAG_NAME, "body").text)
    shot("05-run-succeeded")

    # 5. Open the task's log from the run page: *** where the task printed secrets, never a value.
    def task_instance_link(driver: Any) -> Any:
        # The row of the run's task-instance table (the grid also links each task and each run's cell).
        for link in driver.find_elements(By.CSS_SELECTOR, f"a[href$='/tasks/{TASK_ID}']"):
            href = urllib.parse.unquote(link.get_attribute("href") or "")
            if f"/runs/{run_id}/" in href and link.text.strip() == TASK_ID and link.is_displayed():
                return link
        return None

    wait.until(task_instance_link).click()
    # (Airflow may file a print that arrives after the task's last log record under the collapsed
    # "Post Execute" group, so the check is on the lines printed first; the e2e test reads them all.)
    wait.until(lambda d: "variable demo_api_token:" in d.find_element(By.TAG_NAME, "body").text)
    shot("06-task-log")
    log = body_text()
    assert "password=***" in log
    assert "variable demo_api_token: ***" in log
    page = browser.page_source
    leaked = [name for name, value in airflow_stack.secret_values().items() if value in log or value in page]
    assert not leaked, f"the UI shows the value of {leaked}"
