"""The one way this package gets a Kubernetes client: for the operator, the backend, the cleanup
listener, the CLI and the Secrets page alike.

Every caller gets a :class:`~airflow_secrets_provider.hooks.kubernetes.SecretsKubernetesHook`, so
all of them share cncf.kubernetes' connection, kubeconfig and in-cluster rules, this package's
retry policy, request timeout and error translation. Callers differ only in *which* identity they
name (a task's connection, the ``cleanup_*`` or ``ui_*`` options, CLI flags, a backend source's
options); that choice stays with them. Nothing here touches the network: the hook builds its API
client on first use.

``serializer()`` is the client's model (de)serializer, for code that turns Kubernetes models into
JSON and back without talking to a cluster (pod specs, presets, ``render``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from airflow_secrets_provider.kube.retry import DEFAULT_POLICY, RetryPolicy

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration, CoreV1Api

    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook


def kube_hook(
    *,
    conn_id: str | None = None,
    use_connection: bool = True,
    config_file: str | None = None,
    cluster_context: str | None = None,
    in_cluster: bool | None = None,
    client_configuration: Configuration | None = None,
    retry_policy: RetryPolicy = DEFAULT_POLICY,
    request_timeout: float | None = None,
) -> SecretsKubernetesHook:
    """A hook on one identity; no network until its first call.

    :param conn_id: an Airflow Kubernetes connection; ``None`` means cncf.kubernetes' default
        connection (``kubernetes_default``), as for ``KubernetesPodOperator``.
    :param use_connection: ``False`` looks up no Airflow connection at all (kubeconfig or
        in-cluster only): the CLI without ``--conn-id`` and the backend's sources, which must not
        depend on the metadata DB they may be serving.
    :param client_configuration: a ``Configuration`` of the caller's own, so loading a kubeconfig
        does not replace the process-wide default one.

    Every other parameter is :class:`SecretsKubernetesHook`'s.
    """
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

    identity: dict[str, Any] = {"conn_id": conn_id} if use_connection else {"kubernetes_conn_id": None}
    return SecretsKubernetesHook(
        **identity,
        config_file=config_file,
        cluster_context=cluster_context,
        in_cluster=in_cluster,
        client_configuration=client_configuration,
        retry_policy=retry_policy,
        request_timeout=request_timeout,
    )


def hook_for_client(
    core_v1: CoreV1Api, retry_policy: RetryPolicy = DEFAULT_POLICY, request_timeout: float | None = None
) -> SecretsKubernetesHook:
    """A hook over a client the caller already has (tests hand in one behind a fault proxy)."""
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

    return SecretsKubernetesHook.for_client(core_v1, retry_policy=retry_policy, request_timeout=request_timeout)


@functools.cache
def serializer() -> ApiClient:
    """The official client's (de)serializer of models; it never opens a connection."""
    from kubernetes.client import ApiClient

    return ApiClient()
