"""The retry policy and error translation every Kubernetes call follows (hooks/kube_retry.py,
hooks/kube_errors.py): what is retried, what fails at once, budgets, and what a message may contain.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable

import pytest
import urllib3.exceptions

from airflow_secrets_provider.core.errors import SecretAccessError
from airflow_secrets_provider.kube.retry import (
    KubernetesAccessError,
    KubernetesApiError,
    KubernetesConflictError,
    KubernetesInvalidError,
    KubernetesNotFoundError,
    KubernetesUnavailableError,
    KubeTarget,
    RetryPolicy,
    call_kube,
    call_with_retries,
)
from tests.support.canaries import canary
from tests.support.kube_api import RecordingPolicy, api_error

SENTINEL = canary("sentinel")  # must never show up in a message or returned structure
TARGET = KubeTarget("Secret", "airflow-project-secrets-p", "ns")


def _flaky(errors: list[BaseException], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


# -- the retry rules (unit) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        api_error(500),
        api_error(503),
        api_error(429),
        ConnectionResetError(104, "Connection reset by peer"),
        urllib3.exceptions.ProtocolError("Connection aborted."),
        urllib3.exceptions.MaxRetryError(None, "/api", "refused"),  # type: ignore[arg-type]
    ],
    ids=["500", "503", "429", "connection-reset", "protocol-error", "max-retry"],
)
def test_transient_errors_are_retried_with_backoff(error: BaseException) -> None:
    rec = RecordingPolicy(base_delay=0.1)
    fn, calls = _flaky([error, error])
    assert call_kube(fn, "read", TARGET, policy=rec.policy) == "ok"
    assert calls[0] == 3
    assert rec.sleeps == pytest.approx([0.075, 0.15])  # 0.1 then 0.2, each with a half kept by jitter 0.5


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0, jitter=lambda: 1.0)
    assert [policy.delay(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    low = RetryPolicy(base_delay=0.1, max_delay=1.0, jitter=lambda: 0.0)
    assert low.delay(3) == pytest.approx(0.2)  # never less than half the ceiling


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    rec = RecordingPolicy(base_delay=0.01, max_delay=2.0)
    fn, _ = _flaky([api_error(429, headers={"Retry-After": "1"}), api_error(429, headers={"Retry-After": "30"})])
    call_kube(fn, "read", TARGET, policy=rec.policy)
    assert rec.sleeps == pytest.approx([1.0, 2.0])


def test_attempts_are_bounded() -> None:
    rec = RecordingPolicy(max_attempts=4)
    fn, calls = _flaky([api_error(503)] * 10)
    with pytest.raises(KubernetesUnavailableError) as info:
        call_kube(fn, "read", TARGET, policy=rec.policy)
    assert calls[0] == 4 and len(rec.sleeps) == 3
    assert info.value.attempts == 4 and info.value.status == 503
    assert "gave up after 4 attempts" in str(info.value)


def test_time_is_bounded() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    policy = RetryPolicy(
        max_attempts=100,
        base_delay=1.0,
        max_delay=1.0,
        max_elapsed=3.5,
        sleep=sleep,
        jitter=lambda: 1.0,
        clock=lambda: now[0],
    )
    fn, calls = _flaky([ConnectionResetError()] * 100)
    with pytest.raises(KubernetesUnavailableError) as info:
        call_kube(fn, "read", TARGET, policy=policy)
    assert sum(sleeps) <= 3.5 and calls[0] == 4
    assert "connection error (ConnectionResetError)" in str(info.value)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (403, KubernetesAccessError),
        (401, KubernetesAccessError),
        (422, KubernetesInvalidError),
        (400, KubernetesInvalidError),
        (404, KubernetesNotFoundError),
        (405, KubernetesApiError),
    ],
)
def test_permanent_errors_fail_at_once(status: int, cls: type[KubernetesApiError]) -> None:
    rec = RecordingPolicy()
    fn, calls = _flaky([api_error(status)])
    with pytest.raises(cls) as info:
        call_kube(fn, "replace", TARGET, policy=rec.policy, retry_conflicts=True)
    assert calls[0] == 1 and rec.sleeps == []
    assert type(info.value) is cls
    text = str(info.value)
    assert text.startswith("Kubernetes API: replace Secret 'airflow-project-secrets-p' in namespace 'ns' failed: ")
    assert f"HTTP {status} " in text


def test_access_error_is_a_secret_access_error() -> None:
    fn, _ = _flaky([api_error(403)])
    with pytest.raises(SecretAccessError):
        call_kube(fn, "read", TARGET)


def test_conflicts_are_retried_only_when_the_caller_says_so() -> None:
    rec = RecordingPolicy()
    fn, calls = _flaky([api_error(409)])
    with pytest.raises(KubernetesConflictError):
        call_kube(fn, "create", TARGET, policy=rec.policy)
    assert calls[0] == 1
    fn, calls = _flaky([api_error(409), KubernetesConflictError("replace", TARGET, status=409, reason="Conflict")])
    assert call_kube(fn, "update", TARGET, policy=rec.policy, retry_conflicts=True) == "ok"
    assert calls[0] == 3


def test_exhausted_conflicts_stay_conflicts() -> None:
    rec = RecordingPolicy(max_attempts=3)
    fn, _ = _flaky([api_error(409)] * 5)
    with pytest.raises(KubernetesConflictError) as info:
        call_kube(fn, "update", TARGET, policy=rec.policy, retry_conflicts=True)
    assert info.value.attempts == 3


def test_nested_errors_pass_through_without_a_second_retry_loop() -> None:
    rec = RecordingPolicy()
    inner = KubernetesUnavailableError("read", TARGET, status=503, reason="Service Unavailable", attempts=8)
    fn, calls = _flaky([inner])
    with pytest.raises(KubernetesUnavailableError) as info:
        call_kube(fn, "update", TARGET, policy=rec.policy, retry_conflicts=True)
    assert info.value is inner and calls[0] == 1


def test_messages_never_carry_the_body() -> None:
    """An Invalid Status quotes the value it rejected; only field names may come through."""
    body = {
        "kind": "Status",
        "status": "Failure",
        "reason": "Invalid",
        "message": f'Secret "x" is invalid: metadata.labels: Invalid value: "{SENTINEL}"',
        "details": {
            "causes": [
                {"reason": "FieldValueInvalid", "message": f'Invalid value: "{SENTINEL}"', "field": "metadata.labels"},
                {"reason": "FieldValueInvalid", "message": "x", "field": f"data[{SENTINEL} with spaces]"},
            ]
        },
        "code": 422,
    }
    fn, _ = _flaky([api_error(422, body)])
    with pytest.raises(KubernetesInvalidError) as info:
        call_kube(fn, "create", TARGET)
    err = info.value
    assert "invalid field(s): metadata.labels (FieldValueInvalid)" in str(err)
    assert SENTINEL not in str(err) and SENTINEL not in repr(err)
    # Nothing chained: a traceback printer would otherwise show ApiException's body.
    assert err.__cause__ is None and err.__context__ is None
    assert SENTINEL not in repr(pickle.loads(pickle.dumps(err)).args)


@pytest.mark.parametrize(
    "message",
    [
        f'admission webhook "policy" denied the request: value {SENTINEL} is not allowed',
        f'secrets "x" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "ns": {SENTINEL}',
    ],
)
def test_forbidden_messages_other_than_rbacs_own_are_left_out(message: str) -> None:
    fn, _ = _flaky([api_error(403, {"kind": "Status", "reason": "Forbidden", "message": message, "code": 403})])
    with pytest.raises(KubernetesAccessError) as info:
        call_kube(fn, "create", TARGET)
    assert SENTINEL not in str(info.value)
    assert str(info.value).endswith("HTTP 403 Forbidden")


def test_non_status_bodies_are_ignored() -> None:
    fn, _ = _flaky([api_error(500, {"kind": "Secret", "reason": SENTINEL, "data": {"K": SENTINEL}})] * 20)
    with pytest.raises(KubernetesUnavailableError) as info:
        call_kube(fn, "read", TARGET, policy=RecordingPolicy(max_attempts=2).policy)
    assert SENTINEL not in str(info.value)


def test_call_with_retries_describes_free_text() -> None:
    def read(name: str, namespace: str) -> str:
        raise api_error(404, {"kind": "Status", "reason": "NotFound", "message": "x", "code": 404})

    with pytest.raises(KubernetesNotFoundError) as info:
        call_with_retries("read pod ns/p", read, "p", namespace="ns")
    assert str(info.value) == "Kubernetes API: read pod ns/p failed: HTTP 404 NotFound"


def test_each_retry_is_logged_without_the_body(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_secrets_provider.kube.retry")
    body = {"kind": "Status", "reason": "ServiceUnavailable", "message": SENTINEL, "code": 503}
    fn, _ = _flaky([api_error(503, body), api_error(503, body)])
    call_kube(fn, "read", TARGET, policy=RecordingPolicy().policy)
    retries = [r for r in caplog.records if r.name == "airflow_secrets_provider.kube.retry"]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    assert "read Secret 'airflow-project-secrets-p' in namespace 'ns' failed: HTTP 503" in retries[0].getMessage()
    assert "(attempt 1)" in retries[0].getMessage() and "(attempt 2)" in retries[1].getMessage()
    assert SENTINEL not in caplog.text
