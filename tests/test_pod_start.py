"""Unit tests of the start-up check that fails a pod at once over a missing Secret or key.

The kubelet's real messages are checked on a real kubelet in tests/test_pods.py; these cover the
decision rules on pod statuses shaped like the kubelet's.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client import models as k8s

from airflow_secrets_provider.operators.pod_start import (
    PodSecretReferenceError,
    SecretTaskPodManager,
    check_secret_references,
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


class StandInCoreV1Api(CoreV1Api):
    """A test double for the API server's pod calls (the real kubelet path is in tests/test_pods.py)."""

    def __init__(self, pod: k8s.V1Pod) -> None:
        super().__init__(ApiClient())
        self.pod = pod

    def read_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> k8s.V1Pod:
        return self.pod

    def create_namespaced_pod(self, namespace: str, body: Any, **kwargs: Any) -> k8s.V1Pod:
        return self.pod


def test_the_pod_manager_checks_reads_only_while_active() -> None:
    bad = waiting_pod(("base", 'secret "absent" not found'))
    manager = SecretTaskPodManager(kube_client=StandInCoreV1Api(bad))
    assert "read_pod" not in vars(manager)  # a subclass: nothing swapped on the instance
    with manager.failing_fast_on_missing_secrets(), pytest.raises(PodSecretReferenceError):
        manager.read_pod(bad)
    assert manager.read_pod(bad) is bad  # off again: cleanup may read the failed pod
    with manager.failing_fast_on_missing_secrets("absent", {"A"}):
        assert manager.read_pod(bad) is bad  # the task's own Secret, seen before it was created
    assert "read_pod" not in vars(manager) and "create_pod" not in vars(manager)


def test_the_pod_manager_keeps_the_created_pods_answer_only_while_active() -> None:
    answer = waiting_pod()
    manager = SecretTaskPodManager(kube_client=StandInCoreV1Api(answer))
    request = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="p", namespace="ns"))
    with manager.capturing_created_pods() as answers:
        assert manager.create_pod(request) is answer
    assert answers == [answer]
    manager.create_pod(request)
    assert answers == [answer]


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
