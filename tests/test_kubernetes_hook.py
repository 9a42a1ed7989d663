"""SecretsKubernetesHook (hooks/kubernetes.py): cncf.kubernetes' hook, the retry policy, our errors.

Over a ``CoreV1Api``-like fake that raises what the official client raises; the same hook
against the real API server is exercised by test_projects.py and test_operator_kubernetes.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.providers.cncf.kubernetes.kube_client import _TimeoutK8sApiClient
from kubernetes.client import V1ObjectMeta, V1Secret
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.errors import (
    KubernetesConflictError,
    KubernetesNotFoundError,
    KubernetesUnavailableError,
)
from airflow_secrets_provider.kube.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001)


class ScriptedCoreV1Api:
    """Each method answers with the next scripted error, then with a stub Secret; calls are kept."""

    def __init__(self, *errors: ApiException) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, name: str, **kwargs: Any) -> Any:
        self.calls.append((name, kwargs))
        if self.errors:
            raise self.errors.pop(0)
        return SimpleNamespace(metadata=SimpleNamespace(name="s"), data={})

    def read_namespaced_secret(self, name: str, namespace: str, **kwargs: Any) -> Any:
        return self._answer("read", **kwargs)

    def create_namespaced_secret(self, namespace: str, body: Any, **kwargs: Any) -> Any:
        return self._answer("create", **kwargs)


def _hook(api: ScriptedCoreV1Api, **kwargs: Any) -> SecretsKubernetesHook:
    return SecretsKubernetesHook(kubernetes_conn_id=None, core_v1=api, retry_policy=FAST, **kwargs)  # type: ignore[arg-type]


def test_it_is_cncf_kubernetes_hook_with_its_timeout_client(tmp_path: Any) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    hook = SecretsKubernetesHook(kubernetes_conn_id=None, config_file=str(kubeconfig))
    assert isinstance(hook, KubernetesHook)
    # KPO's client: every request gets a client-side timeout, so a half-open connection fails.
    assert isinstance(hook.api_client, _TimeoutK8sApiClient)


def test_transient_errors_are_retried_and_permanent_ones_translated() -> None:
    api = ScriptedCoreV1Api(ApiException(status=503, reason="Service Unavailable"))
    assert _hook(api).read_secret("s", "ns").metadata.name == "s"
    assert [name for name, _ in api.calls] == ["read", "read"]

    missing = ScriptedCoreV1Api(ApiException(status=404, reason="Not Found"))
    with pytest.raises(KubernetesNotFoundError, match=r"read Secret 's' in namespace 'ns' failed: HTTP 404"):
        _hook(missing).read_secret("s", "ns")
    assert len(missing.calls) == 1

    down = ScriptedCoreV1Api(*[ApiException(status=503, reason="Service Unavailable")] * 5)
    with pytest.raises(KubernetesUnavailableError) as info:
        _hook(down).read_secret("s", "ns")
    assert info.value.attempts == FAST.max_attempts


def test_a_create_conflict_is_the_callers_decision_not_a_retry() -> None:
    api = ScriptedCoreV1Api(ApiException(status=409, reason="Conflict"))
    body = V1Secret(metadata=V1ObjectMeta(name="s", namespace="ns"))
    with pytest.raises(KubernetesConflictError):
        _hook(api).create_secret(body)
    assert len(api.calls) == 1


def test_request_timeout_is_passed_on_every_call() -> None:
    api = ScriptedCoreV1Api()
    _hook(api, request_timeout=7.5).read_secret("s", "ns")
    _hook(api).read_secret("s", "ns")
    # None: [secrets_provider] kube_request_timeout, default 60 s; passed on every call either way.
    assert [kwargs for _, kwargs in api.calls] == [{"_request_timeout": 7.5}, {"_request_timeout": 60.0}]


# -- kube/client.py: the one way the package gets a hook ---------------------------------------


def test_kube_hook_names_the_identity_it_is_given(tmp_path: Any) -> None:
    from airflow_secrets_provider.kube.client import kube_hook

    hook = kube_hook(
        conn_id="team_cluster",
        config_file=str(tmp_path / "kubeconfig"),
        cluster_context="ctx",
        in_cluster=False,
        retry_policy=FAST,
        request_timeout=7,
    )
    assert isinstance(hook, SecretsKubernetesHook)
    assert (hook.conn_id, hook.config_file, hook.cluster_context, hook.in_cluster) == (
        "team_cluster",
        str(tmp_path / "kubeconfig"),
        "ctx",
        False,
    )
    assert hook.retry_policy is FAST and hook.request_timeout == 7


def test_kube_hook_without_a_connection_looks_none_up() -> None:
    """``use_connection=False``: no Airflow connection, not even cncf's ``kubernetes_default``."""
    from airflow_secrets_provider.kube.client import kube_hook

    assert kube_hook(use_connection=False).conn_id is None
    assert kube_hook().conn_id == KubernetesHook.default_conn_name


def test_the_serializer_is_shared_and_offline() -> None:
    from kubernetes.client import V1Pod

    from airflow_secrets_provider.kube.client import serializer

    assert serializer() is serializer()
    assert serializer().sanitize_for_serialization(V1Pod(metadata=V1ObjectMeta(name="p"))) == {
        "metadata": {"name": "p"}
    }
