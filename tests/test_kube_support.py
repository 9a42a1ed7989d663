"""The Kubernetes test support itself works: real API server, kubelet stand-in, RBAC, GC.

These pin down the behaviour other Kubernetes-tier tests rely on, so a broken environment shows
up here with a clear failure instead of as mysterious hangs elsewhere.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from kubernetes.client import (
    ApiClient,
    CoreV1Api,
    V1Container,
    V1EnvFromSource,
    V1EnvVar,
    V1EnvVarSource,
    V1KeyToPath,
    V1LocalObjectReference,
    V1ObjectMeta,
    V1OwnerReference,
    V1Pod,
    V1PodSpec,
    V1Secret,
    V1SecretEnvSource,
    V1SecretKeySelector,
    V1SecretVolumeSource,
    V1Volume,
    V1VolumeMount,
)
from kubernetes.client.exceptions import ApiException

from devstack.kube_cluster import KubeCluster
from devstack.kubelet_standin import KubeletStandIn

pytestmark = pytest.mark.kubernetes


def _secret(namespace: str, name: str, data: dict[str, str], owner: V1Pod | None = None) -> V1Secret:
    owners = None
    if owner is not None:
        owners = [V1OwnerReference(api_version="v1", kind="Pod", name=owner.metadata.name, uid=owner.metadata.uid)]
    return V1Secret(
        metadata=V1ObjectMeta(name=name, namespace=namespace, owner_references=owners),
        data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    )


def _pod(namespace: str, name: str, secret: str, key: str) -> V1Pod:
    """A pod using ``secret`` every way a kubelet resolves: env key, envFrom, volume items."""
    return V1Pod(
        metadata=V1ObjectMeta(name=name, namespace=namespace),
        spec=V1PodSpec(
            restart_policy="Never",
            containers=[
                V1Container(
                    name="base",
                    image="busybox:1.36",
                    command=["true"],
                    env=[
                        V1EnvVar(
                            name="PASSWORD",
                            value_from=V1EnvVarSource(secret_key_ref=V1SecretKeySelector(name=secret, key=key)),
                        )
                    ],
                    env_from=[V1EnvFromSource(secret_ref=V1SecretEnvSource(name=secret))],
                    volume_mounts=[V1VolumeMount(name="creds", mount_path="/creds", read_only=True)],
                )
            ],
            volumes=[
                V1Volume(
                    name="creds",
                    secret=V1SecretVolumeSource(secret_name=secret, items=[V1KeyToPath(key="username", path="user")]),
                )
            ],
        ),
    )


def test_api_server_version(kube_cluster: KubeCluster, admin_client: ApiClient) -> None:
    from kubernetes.client import VersionApi

    version = VersionApi(admin_client).get_code()
    assert version.git_version.startswith("v1."), version
    assert kube_cluster.server.startswith("https://")


def test_pod_with_resolvable_secret_refs_succeeds(
    core: CoreV1Api, kube_namespace: str, kubelet_standin: KubeletStandIn
) -> None:
    core.create_namespaced_secret(kube_namespace, _secret(kube_namespace, "db", {"username": "u", "password": "p"}))
    core.create_namespaced_pod(kube_namespace, _pod(kube_namespace, "ok", "db", "password"))

    kubelet_standin.run_pod(kube_namespace, "ok")

    pod = core.read_namespaced_pod("ok", kube_namespace)
    assert pod.status.phase == "Succeeded"
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0
    assert terminated.started_at is not None and terminated.finished_at is not None


def test_pod_manager_sees_stand_in_pod_as_complete(
    core: CoreV1Api, kube_namespace: str, kubelet_standin: KubeletStandIn
) -> None:
    """Airflow's own PodManager (what KubernetesPodOperator waits with) ends its wait."""
    from airflow.providers.cncf.kubernetes.utils.container import container_is_succeeded
    from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager, PodPhase

    core.create_namespaced_secret(kube_namespace, _secret(kube_namespace, "db", {"username": "u", "password": "p"}))
    pod = core.create_namespaced_pod(kube_namespace, _pod(kube_namespace, "watched", "db", "password"))
    standin = kubelet_standin
    standin.watch_and_run(kube_namespace)
    try:
        manager = PodManager(kube_client=core)
        manager.await_container_completion(pod, "base")
        remote = manager.await_pod_completion(pod)
    finally:
        standin.stop()
    assert remote.status.phase == PodPhase.SUCCEEDED
    assert container_is_succeeded(remote, "base")
    assert standin.errors == []
    assert (kube_namespace, "watched", "Succeeded") in standin.finished


def test_pod_failing_container_ends_failed(
    core: CoreV1Api, kube_namespace: str, kubelet_standin: KubeletStandIn
) -> None:
    core.create_namespaced_secret(kube_namespace, _secret(kube_namespace, "db", {"username": "u", "password": "p"}))
    core.create_namespaced_pod(kube_namespace, _pod(kube_namespace, "bad-exit", "db", "password"))

    kubelet_standin.run_pod(kube_namespace, "bad-exit", succeed=False)

    pod = core.read_namespaced_pod("bad-exit", kube_namespace)
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 1


def test_pod_referencing_missing_key_fails_like_kubelet(
    core: CoreV1Api, kube_namespace: str, kubelet_standin: KubeletStandIn
) -> None:
    core.create_namespaced_secret(kube_namespace, _secret(kube_namespace, "db", {"username": "u"}))
    core.create_namespaced_pod(kube_namespace, _pod(kube_namespace, "missing-key", "db", "password"))

    kubelet_standin.run_pod(kube_namespace, "missing-key")

    pod = core.read_namespaced_pod("missing-key", kube_namespace)
    assert pod.status.phase == "Failed"
    assert pod.status.reason == "CreateContainerConfigError"
    assert f"couldn't find key password in Secret {kube_namespace}/db" in pod.status.message
    assert pod.status.container_statuses[0].state.terminated is not None


def test_pod_referencing_missing_secret_fails_unless_optional(
    core: CoreV1Api, kube_namespace: str, kubelet_standin: KubeletStandIn
) -> None:
    pod = _pod(kube_namespace, "no-secret", "absent", "password")
    core.create_namespaced_pod(kube_namespace, pod)
    kubelet_standin.run_pod(kube_namespace, "no-secret")
    failed = core.read_namespaced_pod("no-secret", kube_namespace)
    assert failed.status.phase == "Failed"
    assert failed.status.reason == "FailedMount"  # volumes are mounted before env is built
    assert 'secret "absent" not found' in failed.status.message

    optional = _pod(kube_namespace, "optional", "absent", "password")
    container = optional.spec.containers[0]
    container.env[0].value_from.secret_key_ref.optional = True
    container.env_from[0].secret_ref.optional = True
    optional.spec.volumes[0].secret.optional = True
    core.create_namespaced_pod(kube_namespace, optional)
    kubelet_standin.run_pod(kube_namespace, "optional")
    assert core.read_namespaced_pod("optional", kube_namespace).status.phase == "Succeeded"


def test_missing_image_pull_secret_fails_pod(
    core: CoreV1Api, kube_namespace: str, kubelet_standin: KubeletStandIn
) -> None:
    pod = V1Pod(
        metadata=V1ObjectMeta(name="pull"),
        spec=V1PodSpec(
            containers=[V1Container(name="base", image="registry.example/private:1")],
            image_pull_secrets=[V1LocalObjectReference(name="regcred")],
        ),
    )
    core.create_namespaced_pod(kube_namespace, pod)
    kubelet_standin.run_pod(kube_namespace, "pull")
    result = core.read_namespaced_pod("pull", kube_namespace)
    assert result.status.phase == "Failed"
    assert result.status.reason == "ErrImagePull"
    assert "regcred" in result.status.message


def test_rbac_ordinary_user_cannot_read_secret(
    kube_cluster: KubeCluster, kube_user_tokens: dict[str, str], core: CoreV1Api, kube_namespace: str
) -> None:
    core.create_namespaced_secret(kube_namespace, _secret(kube_namespace, "db", {"password": "p"}))
    with kube_cluster.api_client(kube_user_tokens["alice"]) as alice, pytest.raises(ApiException) as excinfo:
        CoreV1Api(alice).read_namespaced_secret("db", kube_namespace)
    assert excinfo.value.status == 403
    status = json.loads(excinfo.value.body)
    assert status["reason"] == "Forbidden"
    assert 'User "alice" cannot get resource "secrets"' in status["message"]


def test_owner_references_garbage_collected_after_pod_deletion(core: CoreV1Api, kube_namespace: str) -> None:
    pod = core.create_namespaced_pod(
        kube_namespace,
        V1Pod(
            metadata=V1ObjectMeta(name="owner"),
            spec=V1PodSpec(containers=[V1Container(name="base", image="busybox:1.36")]),
        ),
    )
    core.create_namespaced_secret(kube_namespace, _secret(kube_namespace, "owned", {"k": "v"}, owner=pod))
    core.create_namespaced_secret(kube_namespace, _secret(kube_namespace, "unowned", {"k": "v"}))

    core.delete_namespaced_pod("owner", kube_namespace)

    deadline = time.monotonic() + 60
    while True:
        try:
            core.read_namespaced_secret("owned", kube_namespace)
        except ApiException as exc:
            assert exc.status == 404
            break
        assert time.monotonic() < deadline, "controller-manager did not garbage-collect the owned Secret"
        time.sleep(0.5)
    assert core.read_namespaced_secret("unowned", kube_namespace).metadata.name == "unowned"
