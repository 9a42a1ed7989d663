"""kube/body_logging.py: the Kubernetes client's DEBUG log of a Secret response never holds its data."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from airflow_secrets_provider.kube.body_logging import KUBE_REST_LOGGER, WITHHELD, withhold_secret_bodies
from tests.support.canaries import canary


def _secret_body(kind: str, value: str) -> bytes:
    encoded = base64.b64encode(value.encode()).decode()
    if kind == "SecretList":
        return json.dumps({"kind": "SecretList", "items": [{"kind": "Secret", "data": {"K": encoded}}]}).encode()
    return json.dumps({"kind": "Secret", "data": {"K": encoded}}).encode()


@pytest.mark.parametrize("kind", ["Secret", "SecretList"])
@pytest.mark.parametrize("as_text", [False, True])
def test_a_logged_secret_response_is_withheld(kind: str, as_text: bool, caplog: pytest.LogCaptureFixture) -> None:
    value = canary("body")
    body: bytes | str = _secret_body(kind, value)
    if as_text:
        body = body.decode()
    withhold_secret_bodies()
    with caplog.at_level(logging.DEBUG, logger=KUBE_REST_LOGGER):
        logging.getLogger(KUBE_REST_LOGGER).debug("response body: %s", body)
    text = caplog.text
    assert WITHHELD in text
    assert value not in text and base64.b64encode(value.encode()).decode() not in text


def test_other_responses_are_logged_as_they_are(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"kind": "Pod", "metadata": {"name": "task-pod"}})
    withhold_secret_bodies()
    with caplog.at_level(logging.DEBUG, logger=KUBE_REST_LOGGER):
        logging.getLogger(KUBE_REST_LOGGER).debug("response body: %s", body)
    assert "task-pod" in caplog.text and WITHHELD not in caplog.text


def test_the_filter_is_installed_once() -> None:
    logger = logging.getLogger(KUBE_REST_LOGGER)
    withhold_secret_bodies()
    withhold_secret_bodies()
    assert sum(type(f).__name__ == "SecretBodyFilter" for f in logger.filters) == 1
