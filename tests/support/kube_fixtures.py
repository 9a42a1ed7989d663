"""Pytest plugin: a real Kubernetes API for the ``kubernetes`` test tier.

Register with ``pytest_plugins = ["tests.support.kube_fixtures"]`` (or ``-p
tests.support.kube_fixtures``). Fixtures:

* ``kube_cluster`` (session): the cluster ``KUBECONFIG`` points at if reachable, else a local
  control plane without a node from ``scripts/kube-node.sh start --no-node`` (built once per
  machine, cached): the ``kubernetes`` tier, whose pods the kubelet stand-in serves.
* ``kube_node`` (session): the cluster ``KUBECONFIG`` points at if reachable, else a local single
  node (control plane, Docker engine, kube-scheduler, kubelet): the ``pods`` tier, whose pods
  really run. ``node_client``, ``node_core`` and ``node_namespace`` are its per-test helpers.
* ``kube_namespace`` (function): a fresh namespace, deleted afterwards.
* ``kube_user_tokens`` (session): bearer tokens of unprivileged users for RBAC tests.
* ``kubelet_standin`` (function): a :class:`KubeletStandIn` on an admin client, stopped after.

A tier that cannot run skips with the reason locally, but fails when ``CI=true`` or
``ASP_REQUIRE_ALL_TIERS=1``, so a green CI run means every tier really ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException

from devstack.kube_cluster import (
    ClusterUnavailable,
    KubeCluster,
    cluster_from_kubeconfig_env,
    create_namespace,
    start_local_cluster,
)
from devstack.kubelet_standin import KubeletStandIn
from tests.support.tiers import skip_or_fail


def _session_cluster(tmp_path_factory: pytest.TempPathFactory, *, node: bool) -> Iterator[KubeCluster]:
    cluster = cluster_from_kubeconfig_env()
    if cluster is None:
        try:
            cluster = start_local_cluster(tmp_path_factory.mktemp("kube-node" if node else "kube-cp"), node=node)
        except ClusterUnavailable as exc:
            skip_or_fail(f"no Kubernetes {'node' if node else 'API server'}: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A reachable Kubernetes API server for the whole session (no kubelet when it is ours)."""
    yield from _session_cluster(tmp_path_factory, node=False)


@pytest.fixture(scope="session")
def kube_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A cluster whose pods really run (one per session: starting it takes about 20 s)."""
    yield from _session_cluster(tmp_path_factory, node=True)


@pytest.fixture
def node_client(kube_node: KubeCluster) -> Iterator[kubernetes.client.ApiClient]:
    with kube_node.api_client() as client:
        yield client


@pytest.fixture
def node_core(node_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(node_client)


@pytest.fixture
def node_namespace(kube_node: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the node cluster, deleted (with its pods) after the test."""
    yield from _fresh_namespace(kube_node, request)


@pytest.fixture
def admin_client(kube_cluster: KubeCluster) -> Iterator[kubernetes.client.ApiClient]:
    """An API client with the admin token, closed after the test."""
    with kube_cluster.api_client() as client:
        yield client


@pytest.fixture
def core(admin_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(admin_client)


@pytest.fixture(scope="session")
def kube_user_tokens(kube_cluster: KubeCluster) -> dict[str, str]:
    """Tokens of ordinary users (alice, bob, carol); only known for a cluster we started."""
    if not kube_cluster.user_tokens:
        skip_or_fail("RBAC tests need the local cluster's user tokens (KUBECONFIG cluster has none)")
    return kube_cluster.user_tokens


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, randomly named namespace, deleted after the test."""
    yield from _fresh_namespace(kube_cluster, request)


def _fresh_namespace(cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    with cluster.api_client() as client:
        name = create_namespace(client, f"asp-{request.node.name}")
        try:
            yield name
        finally:
            try:
                kubernetes.client.CoreV1Api(client).delete_namespace(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


@pytest.fixture
def kubelet_standin(kube_cluster: KubeCluster) -> Iterator[KubeletStandIn]:
    """A kubelet stand-in for a cluster without kubelets (stopped after the test).

    On a cluster with real nodes the stand-in would race the real kubelets for pod status,
    so such tests cannot run there.
    """
    with kube_cluster.api_client() as client:
        core = kubernetes.client.CoreV1Api(client)
        if core.list_node(limit=1).items:
            skip_or_fail("the cluster has real nodes; the kubelet stand-in would race their kubelets")
        standin = KubeletStandIn(core)
        try:
            yield standin
        finally:
            standin.stop()
