"""The quickstart stack's Kubernetes: where the example DAGs' pods go, and what they reference.

:func:`start_kubernetes` is the one place that decides which Kubernetes the stack runs on, so
switching to another means changing that function only. It is the real single node of
:mod:`devstack.kube_cluster` (``scripts/kube-node.sh``: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and a kubelet driving a private Docker engine), so the
example DAGs' containers really run, on the local job image (Debian with Python 3), and their
output reaches the task log through the API server.

:func:`seed_examples` creates what the example DAGs in ``dags/`` reference: the namespace, the
project Secret and the externally managed Secrets, filled with the install's generated values.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from devstack.kube_cluster import SCRIPT, start_local_cluster, wait_until_pods_admitted
from devstack.stack_home import EXAMPLE_NAMESPACE, EXAMPLE_PROJECT

#: Registry host named by the example pull secret (nothing is pulled from it).
EXAMPLE_REGISTRY = "registry.example.internal"


@dataclass
class StackKube:
    """A running Kubernetes for the stack, and how to stop it."""

    kubeconfig: Path
    #: True when pods really run containers (their logs exist); False with the kubelet stand-in.
    runs_containers: bool
    #: Image for the example DAGs' pods (``ASP_EXAMPLE_IMAGE``); None keeps the DAGs' default.
    example_image: str | None
    api_client: ApiClient
    _stop: Callable[[], None]

    def stop(self) -> None:
        self.api_client.close()
        self._stop()


def start_kubernetes(workdir: Path) -> StackKube:
    """Start the stack's Kubernetes in ``workdir``; the single switch point for the real node.

    If this is interrupted (Ctrl-C during a long first build), whatever was started in
    ``workdir`` is stopped before the interruption propagates.
    """
    try:
        cluster = start_local_cluster(workdir)
    except BaseException:
        stop_leftover_cluster(workdir)
        raise
    client = cluster.api_client()
    return StackKube(
        kubeconfig=cluster.kubeconfig,
        runs_containers=cluster.has_node,
        example_image=cluster.job_image,
        api_client=client,
        _stop=cluster.stop,
    )


def stop_leftover_cluster(workdir: Path) -> None:
    """Stop a control plane whose start was interrupted (its script knows it by its directory)."""
    if workdir.exists():
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(workdir)],
            check=False,
            timeout=120,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def _dockerconfigjson(password: str) -> str:
    auth = base64.b64encode(f"robot:{password}".encode()).decode()
    return json.dumps({"auths": {EXAMPLE_REGISTRY: {"username": "robot", "password": password, "auth": auth}}})


def seed_examples(core: CoreV1Api, values: dict[str, str], namespace: str = EXAMPLE_NAMESPACE) -> None:
    """Create the namespace, the project Secret and the external Secrets the example DAGs use.

    ``values`` is :attr:`devstack.stack_home.InstallSecrets.examples`. Idempotent.
    """
    try:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    except ApiException as exc:
        if exc.status != 409:
            raise
    prefix = f"project/{EXAMPLE_PROJECT}/"
    ProjectSecretsStore(core, namespace).set_secrets(
        EXAMPLE_PROJECT, {name[len(prefix) :]: value for name, value in values.items() if name.startswith(prefix)}
    )
    external: dict[str, tuple[str, dict[str, str]]] = {
        "warehouse-creds": ("Opaque", {"username": "analyst", "password": values["secret/warehouse-creds/password"]}),
        "tls-certs": (
            "Opaque",
            {"tls.crt": "-----BEGIN CERTIFICATE-----\nexample\n", "tls.key": values["secret/tls-certs/tls.key"]},
        ),
        "clearml": ("Opaque", {"access": values["secret/clearml/access"]}),
        "dev-secret": ("Opaque", {"secret1": values["secret/dev-secret/secret1"]}),
        "prod-secret": ("Opaque", {"secret1": values["secret/prod-secret/secret1"]}),
        "registry-creds": (
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": _dockerconfigjson(values["secret/registry-creds/password"])},
        ),
    }
    for name, (secret_type, data) in external.items():
        body = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), type=secret_type, string_data=data)
        try:
            core.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            core.replace_namespaced_secret(name, namespace, body)
    # ServiceAccount admission is on: pods are refused until the token controller has made the
    # namespace's default service account, so the first DAG run must not race it.
    wait_until_pods_admitted(core, namespace)
