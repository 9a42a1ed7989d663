"""Fail a pod's start at once when the kubelet says a referenced Secret or key is missing.

Why: a container whose ``secretKeyRef`` or ``envFrom`` names a Secret (or key) that does not
exist waits in ``CreateContainerConfigError``, and the kubelet retries it forever. Kubernetes
keeps the pod ``Pending``, and KubernetesPodOperator only gives up after
``startup_timeout_seconds`` with a generic "Pod took too long to start". The pod status already
says why, naming the Secret and the key (never a value), so the task can fail with that at once.

One exception: this task's own per-task Secret is created right after its pod, so a kubelet that
looks at the pod within those milliseconds reports it missing and then retries. A message about
that Secret and a key the operator wrote into it is not a reason to fail.

The pure part (:func:`unresolved_secret_references`) reads a pod; the edge
(:class:`SecretTaskPodManager`, a ``PodManager`` subclass) checks every pod read during
KubernetesPodOperator's own start-up wait, which reads the pod every check interval.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from airflow.providers.cncf.kubernetes.utils.pod_manager import PodLaunchFailedException
from kubernetes.client import models as k8s

from airflow_secrets_provider.operators.pod_logs import CompleteLogsPodManager

#: The waiting reason kubelets give a container whose config (env) cannot be built.
CONFIG_ERROR_REASON = "CreateContainerConfigError"

# The kubelet's messages (pkg/kubelet/kubelet_pods.go), stable since 1.x:
#   secret "NAME" not found
#   couldn't find key KEY in Secret NAMESPACE/NAME
_SECRET_NOT_FOUND = re.compile(r'secret "(?P<name>[^"]+)" not found')
_KEY_NOT_FOUND = re.compile(r"couldn't find key (?P<key>\S+) in Secret (?P<namespace>[^/\s]+)/(?P<name>\S+)")


@dataclass(frozen=True)
class UnresolvedReference:
    """A container the kubelet cannot start because a Secret (``key`` None) or key is missing."""

    container: str
    secret: str
    key: str | None
    kubelet_message: str

    def describe(self) -> str:
        what = f"key {self.key!r} of Secret {self.secret!r}" if self.key else f"Secret {self.secret!r}"
        return f"container {self.container!r} references {what}, which does not exist"


class PodSecretReferenceError(PodLaunchFailedException):
    """The pod cannot start: a Secret or key it references is missing (names only, no values)."""

    def __init__(self, namespace: str, pod_name: str, problems: list[UnresolvedReference]) -> None:
        self.problems = problems
        details = "; ".join(p.describe() for p in problems)
        kubelet = "; ".join(sorted({p.kubelet_message for p in problems}))
        super().__init__(
            f"Pod {namespace}/{pod_name} cannot start: {details} "
            f"(kubelet: {CONFIG_ERROR_REASON}: {kubelet}). Create it, or fix the reference."
        )


def unresolved_secret_references(pod: k8s.V1Pod) -> list[UnresolvedReference]:
    """Every container of ``pod`` waiting in ``CreateContainerConfigError`` over a Secret."""
    status = pod.status
    if status is None:
        return []
    problems: list[UnresolvedReference] = []
    for container in [*(status.init_container_statuses or []), *(status.container_statuses or [])]:
        waiting = container.state.waiting if container.state else None
        if waiting is None or waiting.reason != CONFIG_ERROR_REASON:
            continue
        message = waiting.message or ""
        if match := _KEY_NOT_FOUND.search(message):
            problems.append(UnresolvedReference(container.name, match["name"], match["key"], message))
        elif match := _SECRET_NOT_FOUND.search(message):
            problems.append(UnresolvedReference(container.name, match["name"], None, message))
    return problems


def check_secret_references(pod: k8s.V1Pod, own_secret: str | None, own_keys: Collection[str]) -> None:
    """Raise :class:`PodSecretReferenceError` if the kubelet reports a missing Secret or key.

    ``own_secret``/``own_keys``: the per-task Secret this task created and its keys; a report
    about them is the kubelet having looked before the Secret existed, and it will retry.
    """
    problems = [
        p
        for p in unresolved_secret_references(pod)
        if not (p.secret == own_secret and (p.key is None or p.key in own_keys))
    ]
    if problems:
        raise PodSecretReferenceError(pod.metadata.namespace, pod.metadata.name, problems)


class SecretTaskPodManager(CompleteLogsPodManager):
    """KPO's ``PodManager`` (with complete logs, :mod:`.pod_logs`) that also watches Secret references.

    A subclass, so KubernetesPodOperator's own calls reach these methods with no method swapped
    on an instance at run time. Both additions are off until the operator switches them on:

    * :meth:`failing_fast_on_missing_secrets`: while active, every :meth:`read_pod` also checks
      the pod's Secret references (KPO's start-up wait reads the pod once per check interval and
      stops on an exception, so the wait ends at the first read that shows a missing Secret);
    * :meth:`capturing_created_pods`: while active, every pod :meth:`create_pod` returns is kept.
      KPO's ``get_or_create_pod`` drops the API server's answer to the create (it returns the
      request), yet that answer is the pod with its UID, which the per-task Secret's
      ``ownerReferences`` need: keeping it saves reading the pod back.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked_references: tuple[str | None, frozenset[str]] | None = None
        self._created: list[k8s.V1Pod] | None = None

    @contextmanager
    def failing_fast_on_missing_secrets(
        self, own_secret: str | None = None, own_keys: Collection[str] = ()
    ) -> Iterator[None]:
        """While active, :meth:`read_pod` raises :class:`PodSecretReferenceError` (see :func:`check_secret_references`)."""
        previous = self._checked_references
        self._checked_references = (own_secret, frozenset(own_keys))
        try:
            yield
        finally:
            self._checked_references = previous

    @contextmanager
    def capturing_created_pods(self) -> Iterator[list[k8s.V1Pod]]:
        """While active, every pod :meth:`create_pod` returns is appended to the yielded list."""
        previous = self._created
        answers: list[k8s.V1Pod] = []
        self._created = answers
        try:
            yield answers
        finally:
            self._created = previous

    def read_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        remote: k8s.V1Pod = super().read_pod(pod)
        if self._checked_references is not None:
            check_secret_references(remote, *self._checked_references)
        return remote

    def create_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        answer: k8s.V1Pod = super().create_pod(pod)
        if self._created is not None and isinstance(answer, k8s.V1Pod):
            self._created.append(answer)
        return answer


def reference_error_in(exc: BaseException) -> PodSecretReferenceError | None:
    """The :class:`PodSecretReferenceError` that ``exc`` is, or was raised while handling.

    KubernetesPodOperator's cleanup raises its own "Pod ... returned a failure" while our error
    is being handled; the task should fail with the error that says why.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PodSecretReferenceError):
            return current
        seen.add(id(current))
        current = current.__context__
    return None
