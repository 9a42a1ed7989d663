"""Configuration errors found at execute time fail the task without retries (no cluster needed).

The requests here fail on the worker before any Kubernetes call (a missing or malformed
secrets file), so ``execute()`` can be called directly. The cluster-side cases (a missing
project key, a transient API error that must stay retryable) are in test_operator_kubernetes.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_secrets_provider import SecretConfigError, SecretNotFoundError, SecretTaskOperator, with_secrets


def _operator(source: str) -> SecretTaskOperator:
    return SecretTaskOperator(
        task_id="fails", image="busybox:1.36", namespace="ns", secrets=[with_secrets("file", source)]
    )


def test_a_missing_secrets_file_fails_the_task_without_retries(tmp_path: Path) -> None:
    op = _operator(str(tmp_path / secrets.token_hex(8)))
    with pytest.raises(AirflowFailException) as info:
        op.execute(context={})  # type: ignore[arg-type]
    assert isinstance(info.value, SecretNotFoundError)  # still the package's own type
    assert info.value.__context__ is None


def test_a_malformed_secrets_file_fails_the_task_without_retries(tmp_path: Path) -> None:
    canary = secrets.token_hex(16)
    path = tmp_path / "s.txt"
    path.write_text(f"{canary}\n")  # no '=': the line is malformed, and may be a value
    op = _operator(str(path))
    with pytest.raises(AirflowFailException) as info:
        op.execute(context={})  # type: ignore[arg-type]
    assert isinstance(info.value, SecretConfigError)
    assert info.value.field == f"{path} line 1"
    assert canary not in str(info.value)
