"""In a pod with in-cluster config and no namespace configured: the pod's own namespace, everywhere.

The CLI, the Secrets page, the cleanup listener and the backend's ``kubernetes`` source read the
mounted ServiceAccount namespace file, as ``kubectl`` does in a pod, instead of ``default`` or a
list over every namespace. No pod runs here, so the pod's files are temporary files this test
writes (the namespace file, a token and a CA), pointed at through the module constants that name
them; the cncf.kubernetes hook then really loads its in-cluster configuration from them (no request
is made). The executors tier (tests/test_executors_kubernetes.py) shows the same in a real worker pod.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import Configuration
from kubernetes.config import incluster_config

from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.kube import in_cluster


@pytest.fixture
def pod_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A pod's mounted ServiceAccount files and service env vars; returns the namespace file (not written yet)."""
    token, ca, namespace = tmp_path / "token", tmp_path / "ca.crt", tmp_path / "namespace"
    token.write_text("not-a-real-token")
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot-a-real-ca\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setattr(in_cluster, "NAMESPACE_FILE", str(namespace))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    # No kubeconfig anywhere: in a pod there is none.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for option in ("UI_NAMESPACE", "UI_KUBE_CONFIG", "UI_CONTEXT", "UI_CONN_ID", "PROJECT_NAMESPACE"):
        monkeypatch.delenv(f"AIRFLOW__SECRETS_PROVIDER__{option}", raising=False)
    for option in ("CLEANUP_NAMESPACES", "CLEANUP_KUBE_CONFIG_FILE", "CLEANUP_KUBERNETES_CONN_ID"):
        monkeypatch.delenv(f"AIRFLOW__SECRETS_PROVIDER__{option}", raising=False)
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_KUBERNETES_CONN_ID", "")
    default = Configuration.get_default_copy()  # in-cluster loading may set the process-wide default
    yield namespace
    Configuration.set_default(default)


def _args(**given: str | None) -> argparse.Namespace:
    return argparse.Namespace(**{"namespace": None, "kubeconfig": None, "context": None, "conn_id": None, **given})


def test_the_namespace_file_is_read_stripped(pod_files: Path) -> None:
    assert in_cluster.in_cluster_namespace() is None  # not written: not in a pod
    pod_files.write_text("team-a\n")
    assert in_cluster.in_cluster_namespace() == "team-a"
    pod_files.write_text("  \n")
    assert in_cluster.in_cluster_namespace() is None


def test_cli_in_a_pod_uses_the_pods_namespace(pod_files: Path) -> None:
    pod_files.write_text("team-a\n")
    args = _args()
    hook = cluster_hook(args)
    assert cluster_namespace(args, hook) == "team-a"
    assert hook.is_in_cluster  # the real hook loaded the in-cluster configuration


def test_cli_in_a_pod_an_explicit_namespace_wins(pod_files: Path) -> None:
    pod_files.write_text("team-a\n")
    args = _args(namespace="central")
    assert cluster_namespace(args, cluster_hook(args)) == "central"


def test_cli_with_a_kubeconfig_keeps_its_context_namespace(pod_files: Path, tmp_path: Path) -> None:
    pod_files.write_text("team-a\n")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: from-context}}]\n"
    )
    args = _args(kubeconfig=str(kubeconfig))
    assert cluster_namespace(args, cluster_hook(args)) == "from-context"


def test_secrets_page_in_a_pod_uses_the_pods_namespace(pod_files: Path) -> None:
    from airflow_secrets_provider.plugins.cluster import connect

    pod_files.write_text("team-a\n")
    _hook, namespace = connect()
    assert namespace == "team-a"


def test_cleanup_listener_in_a_pod_cleans_its_own_namespace(pod_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_secrets_provider.cleanup.listener import configured_identity

    pod_files.write_text("team-a\n")
    _hook, namespaces = configured_identity()
    assert namespaces == ["team-a"]
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_NAMESPACES", "x,y")  # configured: kept
    assert configured_identity()[1] == ["x", "y"]


def test_cleanup_listener_outside_a_pod_still_lists_every_namespace(
    pod_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_secrets_provider.cleanup.listener import configured_identity

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    pod_files.write_text("team-a\n")
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_KUBE_CONFIG_FILE", str(kubeconfig))
    assert configured_identity()[1] == [None]
