"""The backend's kubernetes source: its client times out and its reads follow the retry policy.

Over a ``CoreV1Api``-like fake (errors as the official client raises them) and, for the
timeout, over a real socket that accepts connections and never answers (a half-open
connection as a load balancer leaves it), so the official client's real transport times out.
"""

from __future__ import annotations

import base64
import logging
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.retry import RetryPolicy
from airflow_secrets_provider.secrets import ChainedSecretsBackend
from airflow_secrets_provider.secrets.kubernetes_source import KubernetesSource
from tests.support.backend import assert_masked, backend

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001)


class FlakyCoreV1Api:
    """Answers ``read_namespaced_secret`` with the given errors first, then with the Secret."""

    def __init__(self, data: dict[str, str], errors: list[ApiException]) -> None:
        self.data = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        self.errors = list(errors)
        self.calls = 0

    def read_namespaced_secret(self, name: str, namespace: str, **kwargs: Any) -> SimpleNamespace:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return SimpleNamespace(metadata=SimpleNamespace(name=name), data=self.data)


def _source(**config: Any) -> KubernetesSource:
    return KubernetesSource.from_config({"kind": "kubernetes", "namespace": "ml", **config}, "sources[0]")


def test_a_transient_api_error_is_retried() -> None:
    value = secrets.token_hex(16)
    api = FlakyCoreV1Api({"AIRFLOW_VAR_REGION": value}, [ApiException(status=503, reason="Service Unavailable")])
    source = _source(project="fraud")
    source.hook = SecretsKubernetesHook.for_client(api, FAST)  # type: ignore[arg-type]
    chain = ChainedSecretsBackend(sources=[source])
    assert chain.get_variable("region") == value
    assert api.calls == 2


def test_a_permanent_api_error_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    api = FlakyCoreV1Api({}, [ApiException(status=422, reason="Unprocessable Entity")])
    source = _source(project="fraud")
    source.hook = SecretsKubernetesHook.for_client(api, FAST)  # type: ignore[arg-type]
    assert ChainedSecretsBackend(sources=[source]).get_variable("region") is None
    assert api.calls == 1
    assert "HTTP 422" in caplog.text


class SilentServer:
    """A TCP listener that accepts connections and never answers (counts them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_server_that_never_answers_fails_the_lookup_instead_of_hanging(
    silent_server: SilentServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: 'http://127.0.0.1:{silent_server.port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    source = _source(project="fraud", kube_config=str(kubeconfig), request_timeout=0.5)
    hook = source.hook
    hook.retry_policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001)  # production hook, fast budget
    chain = ChainedSecretsBackend(sources=[source])
    result: list[str | None] = []
    caplog.set_level(logging.WARNING)
    lookup = threading.Thread(target=lambda: result.append(chain.get_variable("region")), daemon=True)
    lookup.start()
    lookup.join(timeout=120)  # a bounded wait for the outcome; without a timeout it never comes
    assert not lookup.is_alive(), "the lookup hangs on a server that never answers"
    assert result == [None]  # a failing source: logged, and the chain moves on
    assert "connection error" in caplog.text
    assert len(silent_server.connections) >= 2  # the attempt timed out and was retried


def test_the_client_is_built_on_first_use_and_shared_by_equal_configurations(tmp_path: Path) -> None:
    kubeconfig = str(tmp_path / secrets.token_hex(8))  # never read: no request is made
    project, named = _source(project="fraud", kube_config=kubeconfig), _source(secret="s", kube_config=kubeconfig)
    assert "hook" not in vars(project)  # construction builds nothing (Airflow builds backends everywhere)
    assert project.hook is project.hook is named.hook
    assert _source(project="fraud", kube_config=kubeconfig, request_timeout=5).hook is not project.hook


# -- over a CoreV1Api-like fake, through the chain ------------------------------------------


class FakeCoreV1Api:
    def __init__(self, secrets: dict[str, tuple[dict[str, str], dict[str, str]]], status: int | None = None) -> None:
        self.secrets = secrets  # name -> (labels, data)
        self.status = status
        self.calls = 0

    def _secret(self, name: str) -> SimpleNamespace:
        labels, data = self.secrets[name]
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return SimpleNamespace(metadata=SimpleNamespace(name=name, labels=labels), data=encoded)

    def read_namespaced_secret(self, name: str, namespace: str, **kwargs: Any) -> SimpleNamespace:
        self.calls += 1
        if self.status:
            raise ApiException(status=self.status, reason="Forbidden")
        if name not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        return self._secret(name)

    def list_namespaced_secret(self, namespace: str, label_selector: str, **kwargs: Any) -> SimpleNamespace:
        self.calls += 1
        key, _, value = label_selector.partition("=")
        names = [n for n, (labels, _) in self.secrets.items() if labels.get(key) == value]
        return SimpleNamespace(items=[self._secret(n) for n in names])


def kube_source(api: FakeCoreV1Api, **config: Any) -> KubernetesSource:
    built = KubernetesSource.from_config({"kind": "kubernetes", "namespace": "ml", **config}, "sources[0]")
    built.hook = SecretsKubernetesHook.for_client(api)  # type: ignore[arg-type]
    return built


def test_kubernetes_source_reads_the_project_secret() -> None:
    api = FakeCoreV1Api(
        {"airflow-project-secrets-fraud": ({}, {"AIRFLOW_CONN_WAREHOUSE": "postgres://u:kube-pw-1@h/db"})}
    )
    chain = backend(kube_source(api, project="fraud"))
    conn = chain.get_connection("warehouse")
    assert conn is not None
    assert conn.password == "kube-pw-1"
    assert chain.get_variable("absent") is None
    assert api.calls == 1  # one read of the Secret serves every id (per TTL)
    assert_masked("kube-pw-1")


def test_kubernetes_source_missing_secret_is_a_miss_and_forbidden_is_denied() -> None:
    assert backend(kube_source(FakeCoreV1Api({}), secret="nope")).get_variable("x") is None
    with pytest.raises(AirflowSecretsBackendAccessDenied):
        backend(kube_source(FakeCoreV1Api({}, status=403), secret="nope")).get_variable("x")


def test_kubernetes_source_label_selector_merges_secrets_in_name_order() -> None:
    api = FakeCoreV1Api(
        {
            "b-secret": ({"team": "data"}, {"AIRFLOW_VAR_SHARED": "from-b-secret", "AIRFLOW_VAR_ONLY_B": "only-b-val"}),
            "a-secret": ({"team": "data"}, {"AIRFLOW_VAR_SHARED": "from-a-secret"}),
            "other": ({"team": "web"}, {"AIRFLOW_VAR_WEB": "web-value-1"}),
        }
    )
    chain = backend(kube_source(api, label_selector="team=data"))
    assert chain.get_variable("shared") == "from-a-secret"
    assert chain.get_variable("only_b") == "only-b-val"
    assert chain.get_variable("web") is None
