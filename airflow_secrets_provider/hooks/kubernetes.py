"""``SecretsKubernetesHook``: every Secret call this package makes, on cncf.kubernetes' hook.

Why a subclass of ``KubernetesHook`` rather than a client of our own: the connection, kube
config, context and in-cluster rules, and the client-side request timeout
(``_TimeoutK8sApiClient``: a half-open connection fails instead of hanging) are the ones
KubernetesPodOperator uses, so the operator, the project store and the secrets backend reach
the cluster exactly as KPO does. What the subclass adds is one place where Secret calls go
through :mod:`~airflow_secrets_provider.kube.retry`'s policy and come back as :mod:`~airflow_secrets_provider.kube.errors`' value-free errors.

Pod reads and deletes are KPO's own (``PodManager.read_pod`` / ``delete_pod``, which retry with
``generic_api_retry``); :meth:`SecretsKubernetesHook.translate` only turns their errors into ours.

**Request timeouts.** Every request made through the hook's client, KPO's pod calls included,
has a client-side timeout (``request_timeout``, else Airflow's config
``[secrets_provider] kube_request_timeout``, else 60 s): an API server that accepts the
connection and never answers fails the call with a ``KubernetesUnavailableError`` ("timed out")
that the retry policy repeats within its budget, instead of blocking ``execute()`` or
``set_secrets`` until an outer bound. Calls that set their own timeout (KPO's log streaming)
keep it; a server-side ``timeout_seconds`` is given 5 s more on the client.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import API_TIMEOUT, API_TIMEOUT_OFFSET_SERVER_SIDE
from kubernetes.client import (
    CoreV1Api,
    CoreV1Event,
    CoreV1EventList,
    V1ConfigMap,
    V1ConfigMapList,
    V1DeleteOptions,
    V1Pod,
    V1PodList,
    V1Preconditions,
    V1Secret,
    V1SecretList,
)

from airflow_secrets_provider.kube.errors import KubeTarget
from airflow_secrets_provider.kube.retry import DEFAULT_POLICY, RetryPolicy, call_kube

T = TypeVar("T")

NO_RETRY = RetryPolicy(max_attempts=1)
"""For calls that already retry themselves (KPO's PodManager): translate errors, nothing more."""

DEFAULT_REQUEST_TIMEOUT = float(API_TIMEOUT)
"""Seconds; cncf.kubernetes' own ``API_TIMEOUT`` (60), which its client applies to every call."""

_SERVER_SIDE_MARGIN = float(API_TIMEOUT_OFFSET_SERVER_SIDE)


def configured_request_timeout() -> float:
    """``[secrets_provider] kube_request_timeout`` (seconds, > 0), else :data:`DEFAULT_REQUEST_TIMEOUT`.

    Read when a hook is built (execute time, a CLI command, the backend's first lookup), never
    at DAG parse time. A value that is not a positive number is an error naming the option.
    """
    from airflow_secrets_provider import config

    option = config.OPTIONS["kube_request_timeout"]
    return check_request_timeout(config.get_float(option.name), option.field)


def check_request_timeout(value: object, field: str = "request_timeout") -> float:
    """A positive, finite number of seconds; anything else raises ``SecretConfigError`` naming ``field``."""
    from airflow_secrets_provider.core.errors import SecretConfigError

    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SecretConfigError(field, "must be a number of seconds", provider="kubernetes") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise SecretConfigError(field, "must be a positive, finite number of seconds", provider="kubernetes")
    return seconds


def with_default_timeout(api_client: Any, seconds: float) -> Any:
    """Make ``api_client`` give every request ``seconds`` of client-side timeout unless it sets one.

    The generated client passes ``_request_timeout=None`` explicitly, which means "wait for
    ever"; KubernetesHook's client (cncf.kubernetes' ``_TimeoutK8sApiClient``) replaces that with
    its fixed ``API_TIMEOUT``, a module constant it offers no way to change. Only for another
    configured value does this wrap the client's ``call_api`` (on the instance, so the
    connection and TLS set-up KubernetesHook did stay), with the same rule for server-side
    timeouts as cncf's.
    """
    original = api_client.call_api

    def call_api(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            server_side = kwargs.get("timeout_seconds")
            timeout = seconds if server_side is None else max(seconds, float(server_side) + _SERVER_SIDE_MARGIN)
            kwargs["_request_timeout"] = timeout
        return original(*args, **kwargs)

    api_client.call_api = call_api
    return api_client


class SecretsKubernetesHook(KubernetesHook):
    """A ``KubernetesHook`` whose Secret calls retry transient failures and fail clearly.

    :param core_v1: use this ``CoreV1Api`` instead of building one from the connection (the
        project store is handed a client; tests hand in a faulty one).
    :param retry_policy: how hard transient failures are retried (see :mod:`~airflow_secrets_provider.kube.retry`).
    :param request_timeout: client-side timeout of each request in seconds, for every call made
        through this hook (Secrets, pods, events, ConfigMaps); ``None`` reads
        ``[secrets_provider] kube_request_timeout`` (default 60 s).

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
        self.request_timeout = (
            configured_request_timeout() if request_timeout is None else check_request_timeout(request_timeout)
        )
        if core_v1 is not None:
            self.__dict__["core_v1_client"] = core_v1  # fills KubernetesHook's cached_property

    @classmethod
    def for_client(
        cls, core_v1: CoreV1Api, retry_policy: RetryPolicy = DEFAULT_POLICY, request_timeout: float | None = None
    ) -> SecretsKubernetesHook:
        """A hook over an existing client; no Airflow connection is looked up.

        The client is not changed: the timeout is passed with each of this hook's calls.
        """
        return cls(kubernetes_conn_id=None, core_v1=core_v1, retry_policy=retry_policy, request_timeout=request_timeout)

    def get_conn(self) -> Any:
        """KubernetesHook's client, with this hook's request timeout as every call's default.

        That client already carries cncf.kubernetes' timeout (:data:`DEFAULT_REQUEST_TIMEOUT`);
        it is used as it is unless ``kube_request_timeout`` asks for another.
        """
        api_client = super().get_conn()
        if self.request_timeout == DEFAULT_REQUEST_TIMEOUT:
            return api_client
        return with_default_timeout(api_client, self.request_timeout)

    # -- the policy ------------------------------------------------------------------------

    def call(self, fn: Callable[[], T], operation: str, target: KubeTarget, *, retry_conflicts: bool = False) -> T:
        """``fn`` (one request, or a whole read-modify-write) under this hook's retry policy."""
        return call_kube(fn, operation, target, retry_conflicts=retry_conflicts, policy=self.retry_policy)

    @staticmethod
    def translate(fn: Callable[[], T], operation: str, target: KubeTarget) -> T:
        """``fn`` once, its errors translated: for helpers with a retry of their own."""
        return call_kube(fn, operation, target, policy=NO_RETRY)

    def _timeout(self) -> dict[str, Any]:
        return {"_request_timeout": self.request_timeout}

    # -- Secrets ---------------------------------------------------------------------------

    def read_secret(self, name: str, namespace: str) -> V1Secret:
        """The Secret; :class:`~airflow_secrets_provider.kube.errors.KubernetesNotFoundError` when it does not exist."""
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
        """Create ``body``; a 409 is :class:`~airflow_secrets_provider.kube.errors.KubernetesConflictError`, never retried."""
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
        """Delete the Secret; :class:`~airflow_secrets_provider.kube.errors.KubernetesNotFoundError` when it is gone already."""
        api = self.core_v1_client
        kwargs: dict[str, Any] = {**self._timeout()}
        if body is not None:
            kwargs["body"] = body
        self.call(
            lambda: api.delete_namespaced_secret(name, namespace, **kwargs),
            "delete",
            KubeTarget("Secret", name, namespace),
        )

    # -- Events (the audit log) ------------------------------------------------------------

    def create_event(self, body: CoreV1Event, namespace: str) -> CoreV1Event:
        """Record an Event (never retried on 409: its name is generated by the server)."""
        api = self.core_v1_client
        return self.call(
            lambda: api.create_namespaced_event(namespace, body, **self._timeout()),
            "create",
            KubeTarget("Event", None, namespace),
        )

    def list_events(self, namespace: str, label_selector: str, field_selector: str = "") -> CoreV1EventList:
        api = self.core_v1_client
        return self.call(
            lambda: api.list_namespaced_event(
                namespace, label_selector=label_selector, field_selector=field_selector, **self._timeout()
            ),
            "list",
            KubeTarget(f"Events labelled {label_selector!r}", None, namespace),
        )

    # -- ConfigMaps (presets) --------------------------------------------------------------

    def list_config_maps(self, namespace: str, label_selector: str) -> V1ConfigMapList:
        api = self.core_v1_client
        return self.call(
            lambda: api.list_namespaced_config_map(namespace, label_selector=label_selector, **self._timeout()),
            "list",
            KubeTarget(f"ConfigMaps labelled {label_selector!r}", None, namespace),
        )

    def read_config_map(self, name: str, namespace: str) -> V1ConfigMap:
        api = self.core_v1_client
        return self.call(
            lambda: api.read_namespaced_config_map(name, namespace, **self._timeout()),
            "read",
            KubeTarget("ConfigMap", name, namespace),
        )

    def create_config_map(self, body: V1ConfigMap, namespace: str) -> V1ConfigMap:
        api = self.core_v1_client
        return self.call(
            lambda: api.create_namespaced_config_map(namespace, body, **self._timeout()),
            "create",
            KubeTarget("ConfigMap", body.metadata.name, namespace),
        )

    def replace_config_map(self, body: V1ConfigMap, namespace: str) -> V1ConfigMap:
        """Write ``body`` back; its ``resourceVersion`` makes a concurrent write a 409."""
        api = self.core_v1_client
        return self.call(
            lambda: api.replace_namespaced_config_map(body.metadata.name, namespace, body, **self._timeout()),
            "replace",
            KubeTarget("ConfigMap", body.metadata.name, namespace),
        )

    def delete_config_map(self, name: str, namespace: str) -> None:
        api = self.core_v1_client
        self.call(
            lambda: api.delete_namespaced_config_map(name, namespace, **self._timeout()),
            "delete",
            KubeTarget("ConfigMap", name, namespace),
        )

    # -- Pods (the cleanup; KPO's own pod calls go through PodManager) ----------------------

    def list_pods(self, namespace: str | None, label_selector: str) -> V1PodList:
        """Pods with these labels in ``namespace``, or in every namespace when it is None."""
        api = self.core_v1_client
        if namespace is None:
            fn: Callable[[], V1PodList] = lambda: api.list_pod_for_all_namespaces(  # noqa: E731
                label_selector=label_selector, **self._timeout()
            )
        else:
            fn = lambda: api.list_namespaced_pod(namespace, label_selector=label_selector, **self._timeout())  # noqa: E731
        return self.call(fn, "list", KubeTarget(f"Pods labelled {label_selector!r}", None, namespace))

    def read_pod(self, name: str, namespace: str) -> V1Pod:
        """The pod; :class:`~.kube_errors.KubernetesNotFoundError` when it does not exist."""
        api = self.core_v1_client
        return self.call(
            lambda: api.read_namespaced_pod(name, namespace, **self._timeout()),
            "read",
            KubeTarget("Pod", name, namespace),
        )

    def delete_pod(self, name: str, namespace: str, uid: str | None = None) -> None:
        """Delete the pod (exactly the one with ``uid`` when given); NotFound when gone already."""
        api = self.core_v1_client
        body = V1DeleteOptions(preconditions=V1Preconditions(uid=uid)) if uid else None
        kwargs: dict[str, Any] = {**self._timeout()}
        if body is not None:
            kwargs["body"] = body
        self.call(
            lambda: api.delete_namespaced_pod(name, namespace, **kwargs), "delete", KubeTarget("Pod", name, namespace)
        )
