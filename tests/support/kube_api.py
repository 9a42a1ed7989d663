"""Kubernetes client failures without a server, for the unit tests of the retry policy and its users.

``api_error`` builds the ``ApiException`` the official client raises (status, reason, a JSON
body, headers); ``RecordingPolicy`` is a :class:`RetryPolicy` whose back-off sleeps are recorded
instead of slept, so a test sees how long the policy would have waited without waiting.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.kube.retry import RetryPolicy

_REASONS = {403: "Forbidden", 409: "Conflict", 422: "Unprocessable Entity"}


def api_error(status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason=_REASONS.get(status, "Error"))
    exc.body = json.dumps(body).encode() if body is not None else None
    exc.headers = headers
    return exc


class RecordingPolicy:
    """A :class:`RetryPolicy` (``.policy``) whose sleeps land in ``.sleeps`` instead of being slept."""

    def __init__(self, **kwargs: Any) -> None:
        self.sleeps: list[float] = []
        self.policy = RetryPolicy(sleep=self.sleeps.append, jitter=lambda: 0.5, **kwargs)
