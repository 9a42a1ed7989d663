"""``SecretsKubernetesHook``: every Secret call this package makes, on cncf.kubernetes' hook.

Why a subclass of ``KubernetesHook`` rather than a client of our own: the connection, kube
config, context and in-cluster rules, and the client-side request timeout
(``_TimeoutK8sApiClient``: a half-open connection fails instead of hanging) are the ones
KubernetesPodOperator uses, so the operator, the project store and the secrets backend reach
the cluster exactly as KPO does. What the subclass adds is one place where Secret calls go
through :mod:`.kube_retry`'s policy and come back as :mod:`.kube_errors`' value-free errors.

Pod reads and deletes are KPO's own (``PodManager.read_pod`` / ``delete_pod``, which retry with
``generic_api_retry``); :meth:`SecretsKubernetesHook.translate` only turns their errors into ours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from kubernetes.client import CoreV1Api, V1DeleteOptions, V1Secret, V1SecretList

from airflow_secrets_provider.hooks.kube_errors import KubeTarget
from airflow_secrets_provider.hooks.kube_retry import DEFAULT_POLICY, RetryPolicy, call_kube

T = TypeVar("T")

NO_RETRY = RetryPolicy(max_attempts=1)
"""For calls that already retry themselves (KPO's PodManager): translate errors, nothing more."""


class SecretsKubernetesHook(KubernetesHook):
    """A ``KubernetesHook`` whose Secret calls retry transient failures and fail clearly.

    :param core_v1: use this ``CoreV1Api`` instead of building one from the connection (the
        project store is handed a client; tests hand in a faulty one).
    :param retry_policy: how hard transient failures are retried (see :mod:`.kube_retry`).
    :param request_timeout: client-side timeout of each request in seconds; ``None`` keeps
        ``KubernetesHook``'s default (``API_TIMEOUT``, 60 s).
    Every other argument is ``KubernetesHook``'s (``conn_id``, ``config_file``,
    ``cluster_context``, ``in_cluster`` ...).
    """

    def __init__(
        self,
        *args: Any,
        core_v1: CoreV1Api | None = None,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        request_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.retry_policy = retry_policy
        self.request_timeout = request_timeout
        if core_v1 is not None:
            self.__dict__["core_v1_client"] = core_v1  # fills KubernetesHook's cached_property

    @classmethod
    def for_client(cls, core_v1: CoreV1Api, retry_policy: RetryPolicy = DEFAULT_POLICY) -> SecretsKubernetesHook:
        """A hook over an existing client; no Airflow connection is looked up."""
        return cls(kubernetes_conn_id=None, core_v1=core_v1, retry_policy=retry_policy)

    # -- the policy ------------------------------------------------------------------------

    def call(self, fn: Callable[[], T], operation: str, target: KubeTarget, *, retry_conflicts: bool = False) -> T:
        """``fn`` (one request, or a whole read-modify-write) under this hook's retry policy."""
        return call_kube(fn, operation, target, retry_conflicts=retry_conflicts, policy=self.retry_policy)

    @staticmethod
    def translate(fn: Callable[[], T], operation: str, target: KubeTarget) -> T:
        """``fn`` once, its errors translated: for helpers with a retry of their own."""
        return call_kube(fn, operation, target, policy=NO_RETRY)

    def _timeout(self) -> dict[str, Any]:
        return {} if self.request_timeout is None else {"_request_timeout": self.request_timeout}

    # -- Secrets ---------------------------------------------------------------------------

    def read_secret(self, name: str, namespace: str) -> V1Secret:
        """The Secret; :class:`~.kube_errors.KubernetesNotFoundError` when it does not exist."""
        api = self.core_v1_client
        return self.call(
            lambda: api.read_namespaced_secret(name, namespace, **self._timeout()),
            "read",
            KubeTarget("Secret", name, namespace),
        )

    def list_secrets(self, namespace: str, label_selector: str) -> V1SecretList:
        api = self.core_v1_client
        return self.call(
            lambda: api.list_namespaced_secret(namespace, label_selector=label_selector, **self._timeout()),
            "list",
            KubeTarget(f"Secrets labelled {label_selector!r}", None, namespace),
        )

    def create_secret(self, body: V1Secret, namespace: str | None = None) -> V1Secret:
        """Create ``body``; a 409 is :class:`~.kube_errors.KubernetesConflictError`, never retried."""
        api = self.core_v1_client
        namespace = namespace or body.metadata.namespace
        return self.call(
            lambda: api.create_namespaced_secret(namespace, body, **self._timeout()),
            "create",
            KubeTarget("Secret", body.metadata.name, namespace),
        )

    def replace_secret(self, body: V1Secret, namespace: str) -> V1Secret:
        """Write ``body`` back; its ``resourceVersion`` makes a concurrent write a 409."""
        api = self.core_v1_client
        return self.call(
            lambda: api.replace_namespaced_secret(body.metadata.name, namespace, body, **self._timeout()),
            "replace",
            KubeTarget("Secret", body.metadata.name, namespace),
        )

    def delete_secret(self, name: str, namespace: str, body: V1DeleteOptions | None = None) -> None:
        """Delete the Secret; :class:`~.kube_errors.KubernetesNotFoundError` when it is gone already."""
        api = self.core_v1_client
        kwargs: dict[str, Any] = {**self._timeout()}
        if body is not None:
            kwargs["body"] = body
        self.call(
            lambda: api.delete_namespaced_secret(name, namespace, **kwargs),
            "delete",
            KubeTarget("Secret", name, namespace),
        )
