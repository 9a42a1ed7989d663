"""Unit tests of the start-up check that fails a pod at once over a missing Secret or key.

The kubelet's real messages are checked on a real kubelet in tests/test_pods.py; these cover the
decision rules on pod statuses shaped like the kubelet's.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import models as k8s

from airflow_secrets_provider.operators.pod_start import (
    PodSecretReferenceError,
    check_secret_references,
    failing_fast_on_missing_secrets,
    reference_error_in,
    unresolved_secret_references,
)


def waiting_pod(*messages: tuple[str, str], reason: str = "CreateContainerConfigError") -> k8s.V1Pod:
    statuses = [
        k8s.V1ContainerStatus(
            name=name,
            image="img",
            image_id="",
            ready=False,
            restart_count=0,
            state=k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason=reason, message=message)),
        )
        for name, message in messages
    ]
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="p", namespace="ns"),
        status=k8s.V1PodStatus(phase="Pending", container_statuses=statuses),
    )


def test_missing_key_and_missing_secret_are_read_from_the_kubelet_messages() -> None:
    pod = waiting_pod(
        ("base", "couldn't find key password in Secret ns/db"),
        ("side", 'secret "absent" not found'),
    )
    problems = unresolved_secret_references(pod)
    assert [(p.container, p.secret, p.key) for p in problems] == [("base", "db", "password"), ("side", "absent", None)]
    with pytest.raises(PodSecretReferenceError) as info:
        check_secret_references(pod, None, ())
    message = str(info.value)
    assert "Pod ns/p cannot start" in message
    assert "container 'base' references key 'password' of Secret 'db'" in message
    assert "container 'side' references Secret 'absent'" in message


def test_other_waiting_reasons_and_unknown_messages_are_not_reference_errors() -> None:
    assert unresolved_secret_references(waiting_pod(("base", "pulling"), reason="ContainerCreating")) == []
    assert unresolved_secret_references(waiting_pod(("base", 'configmap "x" not found'))) == []
    check_secret_references(k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="p", namespace="ns")), None, ())


def test_the_tasks_own_secret_seen_before_it_was_created_is_not_an_error() -> None:
    own = waiting_pod(("base", "couldn't find key A in Secret ns/p-secrets"))
    check_secret_references(own, "p-secrets", {"A"})
    whole = waiting_pod(("base", 'secret "p-secrets" not found'))
    check_secret_references(whole, "p-secrets", {"A"})
    # A key the task never wrote is a real problem, even in its own Secret.
    with pytest.raises(PodSecretReferenceError):
        check_secret_references(waiting_pod(("base", "couldn't find key B in Secret ns/p-secrets")), "p-secrets", {"A"})


class FakePodManager:
    """Only what the check wraps: ``read_pod``."""

    def __init__(self, pod: k8s.V1Pod) -> None:
        self.pod = pod

    def read_pod(self, pod: Any) -> k8s.V1Pod:
        return self.pod


def test_the_wrapper_checks_reads_only_while_active() -> None:
    bad = waiting_pod(("base", 'secret "absent" not found'))
    manager = FakePodManager(bad)
    with failing_fast_on_missing_secrets(manager), pytest.raises(PodSecretReferenceError):
        manager.read_pod(bad)
    assert manager.read_pod(bad) is bad  # restored: cleanup may read the failed pod
    assert "read_pod" not in vars(manager)


def test_the_reference_error_is_found_behind_a_cleanup_error() -> None:
    error = PodSecretReferenceError(
        "ns", "p", unresolved_secret_references(waiting_pod(("base", 'secret "x" not found')))
    )
    try:
        try:
            raise error
        except PodSecretReferenceError:
            raise RuntimeError("Pod p returned a failure.") from None
    except RuntimeError as outer:
        assert reference_error_in(outer) is error
    assert reference_error_in(ValueError("other")) is None
