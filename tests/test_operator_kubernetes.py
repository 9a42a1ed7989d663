"""SecretTaskOperator.execute against a real kube-apiserver, through real Airflow.

The API server, etcd and kube-controller-manager are real (scripts/kube-node.sh start
--no-node). That control plane has no kubelet, so the kubelet stand-in (devstack/kubelet_standin.py,
fixture ``kubelet_standin``)
resolves each pod's secret references as a kubelet would and reports the pod's phase.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider import SecretNotFoundError, SecretTaskOperator, with_secrets
from airflow_secrets_provider.core.naming import SECRET_ROLE_LABEL, task_secret_name
from airflow_secrets_provider.kube.errors import KubernetesAccessError
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from devstack.kube_cluster import KubeCluster
from devstack.kubelet_standin import KubeletStandIn
from tests.conftest import run_dag_from_module
from tests.support.canaries import canary
from tests.support.keyvault_standin import KeyVaultStandIn
from tests.support.pods import validate_pod

pytestmark = [pytest.mark.kubernetes, pytest.mark.airflow]

CANARIES = {
    "AWS_KEY": canary("aws"),
    "DB_PASSWORD": canary("db"),
    "INLINE_TOKEN": canary("inline"),
    "ENV_TOKEN": canary("env"),
    "FILE_TOKEN": canary("file"),
    "EXTERNAL": canary("external"),
}


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@pytest.fixture
def project(core: CoreV1Api, kube_namespace: str) -> str:
    """A project with two keys, set through the project secrets API."""
    store = ProjectSecretsStore(core, kube_namespace)
    store.set_secrets("fraud", {"AWS_KEY": CANARIES["AWS_KEY"], "DB_PASSWORD": CANARIES["DB_PASSWORD"]})
    external = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="clearml"),
        data={"access": b64(CANARIES["EXTERNAL"]), "tls.crt": b64("cert")},
    )
    core.create_namespaced_secret(kube_namespace, external)
    return "fraud"


def operator(task_id: str, *, config_file: str, namespace: str, **kwargs: Any) -> SecretTaskOperator:
    kwargs.setdefault("on_finish_action", "keep_pod")  # keep pods so the test can read them back
    return SecretTaskOperator(
        task_id=task_id,
        image="busybox:1.36",
        cmds=["sh", "-c", "env"],
        namespace=namespace,
        config_file=config_file,
        in_cluster=False,
        get_logs=False,  # the stand-in runs no containers, so there are no logs to stream
        startup_timeout_seconds=60,
        **kwargs,
    )


TaskFactory = Callable[..., SecretTaskOperator]


@pytest.fixture
def task(kube_cluster: KubeCluster, kube_namespace: str) -> TaskFactory:
    """:func:`operator` bound to this test's cluster and namespace."""
    return functools.partial(operator, config_file=str(kube_cluster.kubeconfig), namespace=kube_namespace)


def task_secrets(core: CoreV1Api, namespace: str) -> list[str]:
    secrets = core.list_namespaced_secret(namespace, label_selector=f"{SECRET_ROLE_LABEL}=task")
    return [s.metadata.name for s in secrets.items]


def wait_for_no_task_secrets(core: CoreV1Api, namespace: str, timeout: float = 60) -> None:
    """Bounded wait: a finished, deleted pod's Secret is removed by the garbage collector
    (ownerReference), which acts a moment after the task returns."""
    deadline = time.monotonic() + timeout
    while task_secrets(core, namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert task_secrets(core, namespace) == []


def server_side_dry_run(core: CoreV1Api, pod: k8s.V1Pod) -> None:
    """Create a copy of a stored pod with dryRun=All: the API server validates it completely."""
    data = ApiClient().sanitize_for_serialization(pod)
    data.pop("status", None)
    data["metadata"] = {"name": f"{pod.metadata.name}-dry", "labels": pod.metadata.labels}
    data["spec"].pop("nodeName", None)
    core.create_namespaced_pod(pod.metadata.namespace, data, dry_run="All")
    validate_pod(data)


def build_e2e_dag(dag_id: str, kubeconfig: str, namespace: str, project: str, secrets_file: str) -> DAG:
    """Three tasks covering every provider that resolves without a cloud, plus external Secrets."""
    cluster = {"config_file": kubeconfig, "namespace": namespace}
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        train = operator(
            "train",
            **cluster,
            project=project,
            env_vars={"DSN": "postgres://app:$(DB_PASSWORD)@db/app"},
            secrets=[
                with_secrets("kubernetes", ["AWS_KEY", "DB_PASSWORD"]),
                with_secrets("inline", {"INLINE_TOKEN": CANARIES["INLINE_TOKEN"]}),
                with_secrets("env", "ENV_TOKEN"),
                with_secrets("file", secrets_file),
            ],
        )
        report = operator("report", **cluster, project=project)
        report.set_env_from_secret("CLEARML_KEY", "clearml", "access")
        report.mount_secret("clearml", "/etc/clearml", ["tls.crt"])
        external = operator("external", **cluster, secrets=[{"name": "clearml", "envVar": "ACCESS", "key": "access"}])
        train >> report >> external
    return dag


def build_missing_key_dag(dag_id: str, kubeconfig: str, namespace: str, project: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        operator(
            "bad",
            config_file=kubeconfig,
            namespace=namespace,
            project=project,
            secrets=[with_secrets("kubernetes", ["NOPE"])],
        ).with_secrets("inline", {"INLINE_TOKEN": CANARIES["INLINE_TOKEN"]})
    return dag


def test_dag_with_several_secret_tasks_runs_end_to_end(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    core: CoreV1Api,
    project: str,
    kubelet_standin: KubeletStandIn,
    airflow_db: None,
    dags_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kubelet_standin.watch_and_run(kube_namespace)  # plays the kubelet for this namespace's pods
    monkeypatch.setenv("ENV_TOKEN", CANARIES["ENV_TOKEN"])
    secrets_file = tmp_path / "secrets.txt"
    secrets_file.write_text(f"# from a file\nFILE_TOKEN={CANARIES['FILE_TOKEN']}\n")
    run: Any = run_dag_from_module(
        dags_folder,
        "tests.test_operator_kubernetes:build_e2e_dag",
        dag_id=f"e2e_{kube_namespace}".replace("-", "_"),
        kubeconfig=str(kube_cluster.kubeconfig),
        namespace=kube_namespace,
        project=project,
        secrets_file=str(secrets_file),
    )

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"train": "success", "report": "success", "external": "success"}, kubelet_standin.errors

    pods = core.list_namespaced_pod(kube_namespace).items
    assert {p.metadata.labels["task_id"] for p in pods} == {"train", "report", "external"}
    assert all(p.status.phase == "Succeeded" for p in pods)
    for pod in pods:
        stored = json.dumps(ApiClient().sanitize_for_serialization(pod))
        for value in CANARIES.values():
            assert value not in stored, "a secret value is stored in a pod spec"
        server_side_dry_run(core, pod)
    train_pod = next(p for p in pods if p.metadata.labels["task_id"] == "train")
    env = {e.name: e.value_from.secret_key_ref for e in train_pod.spec.containers[0].env if e.value_from}
    assert env["FILE_TOKEN"].name == task_secret_name(train_pod.metadata.name)
    assert [e.name for e in train_pod.spec.containers[0].env][-1] == "DSN"
    # Every per-task Secret went with its deleted pod; the project Secret is untouched.
    wait_for_no_task_secrets(core, kube_namespace)
    assert ProjectSecretsStore(core, kube_namespace).list_keys(project) == ["AWS_KEY", "DB_PASSWORD"]


def test_missing_project_key_fails_before_anything_is_created(
    kube_cluster: KubeCluster,
    task: TaskFactory,
    kube_namespace: str,
    core: CoreV1Api,
    project: str,
    kubelet_standin: KubeletStandIn,
    airflow_db: None,
    dags_folder: Path,
) -> None:
    kubelet_standin.watch_and_run(kube_namespace)  # plays the kubelet for this namespace's pods
    op = task(
        "bad",
        project=project,
        secrets=[with_secrets("kubernetes", ["AWS_KEY", "NOPE"])],
    )
    op.with_secrets("inline", {"INLINE_TOKEN": CANARIES["INLINE_TOKEN"]})
    with pytest.raises(SecretNotFoundError) as info:
        op.prepare_secrets()
    message = str(info.value)
    assert "'NOPE'" in message and "'fraud'" in message and "kubernetes provider" in message
    assert all(value not in message for value in CANARIES.values())

    run: Any = run_dag_from_module(
        dags_folder,
        "tests.test_operator_kubernetes:build_missing_key_dag",
        dag_id=f"missing_{kube_namespace}".replace("-", "_"),
        kubeconfig=str(kube_cluster.kubeconfig),
        namespace=kube_namespace,
        project=project,
    )
    assert [ti.state for ti in run.get_task_instances()] == ["failed"]
    assert core.list_namespaced_pod(kube_namespace).items == []
    assert task_secrets(core, kube_namespace) == []


def _start_without_kubelet(op: SecretTaskOperator) -> k8s.V1Pod:
    """What execute() does up to the moment it waits for the pod."""
    op.prepare_secrets()
    request = op.build_pod_request_obj()
    pod = op.get_or_create_pod(request, context={})  # type: ignore[arg-type]
    op.pod = pod
    return pod


def test_task_secret_is_owned_by_the_pod_and_garbage_collected_with_it(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api
) -> None:
    """A worker that dies mid-task leaves nothing that outlives the pod."""
    op = task(
        "gc",
        reattach_on_restart=False,
        secrets=[with_secrets("inline", {"A": "gc-v"})],
    )
    pod = _start_without_kubelet(op)
    secret = core.read_namespaced_secret(task_secret_name(pod.metadata.name), kube_namespace)
    (owner,) = secret.metadata.owner_references
    stored_pod = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
    assert (owner.kind, owner.name, owner.uid) == ("Pod", pod.metadata.name, stored_pod.metadata.uid)
    assert secret.immutable is True
    assert sorted(secret.data) == ["A"]

    # The worker "dies": nobody calls cleanup. Deleting the pod must take the Secret with it.
    core.delete_namespaced_pod(pod.metadata.name, kube_namespace, grace_period_seconds=0)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if task_secrets(core, kube_namespace) == []:
            return
        time.sleep(1)
    pytest.fail("kube-controller-manager did not garbage-collect the per-task Secret of a deleted pod")


def test_on_kill_deletes_pod_and_task_secret(task: TaskFactory, kube_namespace: str, core: CoreV1Api) -> None:
    op = task(
        "kill",
        reattach_on_restart=False,
        secrets=[with_secrets("inline", {"A": secrets.token_hex(16)})],
    )
    pod = _start_without_kubelet(op)
    assert len(task_secrets(core, kube_namespace)) == 1
    op.on_kill()
    assert task_secrets(core, kube_namespace) == []
    # The pod goes too: gone, or being deleted (a pod on a node waits for its kubelet to confirm).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            stored = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
        except ApiException as exc:
            assert exc.status == 404
            return
        if stored.metadata.deletion_timestamp is not None:
            return
        time.sleep(0.5)
    pytest.fail("on_kill left the pod in place")


def test_every_resolved_value_is_masked(task: TaskFactory, kube_namespace: str, tmp_path: Path) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    path = tmp_path / "s.txt"
    path.write_text(f"PLAIN_NAME={canary('masked-file')}\n")
    op = task(
        "mask",
        secrets=[with_secrets("inline", {"HARMLESS": canary("masked-inline")}), with_secrets("file", str(path))],
    )
    op.prepare_secrets()
    line = f"values: {canary('masked-file')} and {canary('masked-inline')}"
    assert redact(line) == "values: *** and ***"


def test_transient_api_errors_are_retried_and_permanent_ones_fail_at_once(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = task(
        "retry",
        reattach_on_restart=False,
        secrets=[with_secrets("inline", {"A": "r-v"})],
    )
    real_create = op.client.create_namespaced_secret
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise ApiException(status=503, reason="Service Unavailable")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(op.client, "create_namespaced_secret", flaky)
    pod = _start_without_kubelet(op)
    assert len(calls) == 3
    assert task_secrets(core, kube_namespace) == [task_secret_name(pod.metadata.name)]

    denied_value = secrets.token_hex(16)  # never part of a pod name or status text by chance
    op2 = task(
        "denied",
        reattach_on_restart=False,
        secrets=[with_secrets("inline", {"A": denied_value})],
    )
    denied: list[int] = []

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        denied.append(1)
        raise ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(op2.client, "create_namespaced_secret", forbidden)
    with pytest.raises(KubernetesAccessError) as info:
        _start_without_kubelet(op2)
    assert len(denied) == 1
    assert "403" in str(info.value) and denied_value not in str(info.value)
    # The pod was created before its Secret failed; it is deleted again rather than left
    # Pending forever for a retry to reattach to.
    assert [p.metadata.name for p in core.list_namespaced_pod(kube_namespace).items] == [pod.metadata.name]


@pytest.mark.azure
def test_azure_vault_secrets_reach_the_pod_through_the_task_secret(
    task: TaskFactory,
    kube_namespace: str,
    core: CoreV1Api,
    kubelet_standin: KubeletStandIn,
    airflow_db: None,
    vault: KeyVaultStandIn,
) -> None:
    """Worker mode: the worker reads the vault with the service principal kept in ``k8s_secret``."""
    kubelet_standin.watch_and_run(kube_namespace)  # plays the kubelet for this namespace's pods
    vault.set_secret("db-password", canary("vault-db"))
    vault.set_secret("api-token", canary("vault-api"))
    creds = {"tenant_id": vault.tenant_id, "client_id": vault.client_id, "secret": vault.client_secret}
    core.create_namespaced_secret(
        kube_namespace,
        k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="azure-creds"), string_data=creds),
    )
    op = task(
        "vault",
        reattach_on_restart=False,
        secrets=[
            with_secrets(
                "azure_vault",
                {"name": "team-vault", "vault_url": vault.url, "k8s_secret": "azure-creds", "secrets": []},
            )
        ],
        azure_vault_options={
            "connection_verify": vault.ca_file,
            "verify_challenge_resource": False,
            "authority": vault.authority,
            "disable_instance_discovery": True,
        },
    )
    values = op.prepare_secrets()
    assert dict(values) == {"db_password": canary("vault-db"), "api_token": canary("vault-api")}
    pod = op.get_or_create_pod(op.build_pod_request_obj(), context={})  # type: ignore[arg-type]
    op.pod = pod
    stored = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
    text = json.dumps(ApiClient().sanitize_for_serialization(stored))
    assert canary("vault-db") not in text and canary("vault-api") not in text
    refs = {e.name: e.value_from.secret_key_ref.name for e in stored.spec.containers[0].env if e.value_from}
    assert refs == {
        "api_token": task_secret_name(pod.metadata.name),
        "db_password": task_secret_name(pod.metadata.name),
    }
    op.pod_manager.await_pod_completion(op.pod)
    status = core.read_namespaced_pod(pod.metadata.name, kube_namespace).status
    assert status.phase == "Succeeded", (status.reason, status.message)
    op.cleanup(pod=pod, remote_pod=core.read_namespaced_pod(pod.metadata.name, kube_namespace))
    wait_for_no_task_secrets(core, kube_namespace)  # gone with the finished pod KPO deleted


def test_backend_kubernetes_source_reads_project_secret(
    kube_cluster: KubeCluster, kube_namespace: str, core: CoreV1Api, project: str
) -> None:
    """The secrets backend's kubernetes source against the real API server."""
    from airflow_secrets_provider.secrets import ChainedSecretsBackend

    ProjectSecretsStore(core, kube_namespace).set_secrets(
        project, {"AIRFLOW_VAR_REGION": "eu-west-1", "AIRFLOW_CONN_WAREHOUSE": "postgres://u:pw-canary@db:5432/w"}
    )
    backend = ChainedSecretsBackend(
        sources=[
            {
                "kind": "kubernetes",
                "namespace": kube_namespace,
                "project": project,
                "kube_config": str(kube_cluster.kubeconfig),
            }
        ]
    )
    assert backend.get_variable("REGION") == "eu-west-1"
    assert backend.get_conn_value("WAREHOUSE") == "postgres://u:pw-canary@db:5432/w"
    assert backend.get_variable("MISSING") is None


def test_a_fresh_instance_cleans_up_after_deferral(task: TaskFactory, kube_namespace: str, core: CoreV1Api) -> None:
    """After a deferral, cleanup runs on a new operator instance that resolved nothing."""

    def make() -> SecretTaskOperator:
        return task(
            "deferred",
            reattach_on_restart=False,
            on_finish_action="delete_pod",
            secrets=[with_secrets("inline", {"A": "deferred-v"})],
        )

    pod = _start_without_kubelet(make())
    assert len(task_secrets(core, kube_namespace)) == 1
    resumed = make()
    remote = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
    with pytest.raises(AirflowException, match="returned a failure"):  # the pod never ran: KPO reports it
        resumed.cleanup(pod=remote, remote_pod=remote)  # as KPO's _clean passes them after a deferral
    assert task_secrets(core, kube_namespace) == []  # and the Secret is gone all the same


# -- lifecycle edge cases: retries, reattachment, kills, fixed pod names ---------------------


def _reattaching(op: SecretTaskOperator, found: k8s.V1Pod | None) -> SecretTaskOperator:
    """KPO's reattach label search needs a live TaskInstance; hand it the pod it would find."""
    op.find_pod = lambda *args, **kwargs: found  # type: ignore[method-assign]
    return op


def test_reattached_pod_gets_back_a_missing_task_secret(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api
) -> None:
    """A try that died between creating the pod and its Secret: the next try completes the pair."""

    def make() -> SecretTaskOperator:
        return task(
            "reattach",
            reattach_on_restart=True,
            secrets=[with_secrets("inline", {"A": "reattach-v"})],
        )

    pod = _start_without_kubelet(_reattaching(make(), None))
    name = task_secret_name(pod.metadata.name)
    core.delete_namespaced_secret(name, kube_namespace)  # the first try "died" before its Secret

    stored = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
    assert stored.status.phase == "Pending"
    second = _reattaching(make(), stored)
    assert _start_without_kubelet(second).metadata.uid == stored.metadata.uid  # reattached, not recreated
    secret = core.read_namespaced_secret(name, kube_namespace)
    assert secret.metadata.owner_references[0].uid == stored.metadata.uid
    assert base64.b64decode(secret.data["A"]).decode() == "reattach-v"

    # Reattaching when the Secret is there keeps it as it is.
    third = _reattaching(make(), stored)
    _start_without_kubelet(third)
    assert core.read_namespaced_secret(name, kube_namespace).metadata.uid == secret.metadata.uid


def test_on_kill_with_keep_pod_keeps_the_secret_for_the_next_try(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api
) -> None:
    op = task(
        "keep",
        reattach_on_restart=False,
        on_kill_action="keep_pod",
        secrets=[with_secrets("inline", {"A": "keep-v"})],
    )
    pod = _start_without_kubelet(op)
    op.on_kill()
    remote = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
    op.cleanup(pod=pod, remote_pod=remote)  # what execute's finally does after a kill
    assert task_secrets(core, kube_namespace) == [task_secret_name(pod.metadata.name)]
    kept = core.read_namespaced_pod(pod.metadata.name, kube_namespace)  # read after cleanup
    assert kept.metadata.deletion_timestamp is None  # the pod is kept, and can still start


def test_fixed_pod_name_replaces_a_stale_secret_of_the_same_name(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api
) -> None:
    """random_name_suffix=False: an earlier pod's immutable Secret may still exist; it is replaced."""
    stale = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name=task_secret_name("fixed-pod")), data={"A": b64("old")}, immutable=True
    )
    core.create_namespaced_secret(kube_namespace, stale)
    op = task(
        "fixed",
        name="fixed-pod",
        random_name_suffix=False,
        reattach_on_restart=False,
        secrets=[with_secrets("inline", {"A": "fresh-v"})],
    )
    pod = _start_without_kubelet(op)
    stored = core.read_namespaced_pod("fixed-pod", kube_namespace)
    secret = core.read_namespaced_secret(task_secret_name("fixed-pod"), kube_namespace)
    assert base64.b64decode(secret.data["A"]).decode() == "fresh-v"
    assert secret.metadata.owner_references[0].uid == stored.metadata.uid
    assert pod.metadata.name == "fixed-pod"


def test_a_pod_that_was_never_created_deletes_no_one_elses_secret(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api
) -> None:
    """Two tries with one fixed pod name: the one whose create failed must not delete the other's Secret."""

    def make() -> SecretTaskOperator:
        return task(
            "fixed",
            name="shared-pod",
            random_name_suffix=False,
            reattach_on_restart=False,
            secrets=[with_secrets("inline", {"A": "shared-v"})],
        )

    _start_without_kubelet(make())
    loser = make()
    loser.prepare_secrets()
    request = loser.build_pod_request_obj()
    with pytest.raises(ApiException) as info:
        loser.get_or_create_pod(request, context={})  # type: ignore[arg-type]
    assert info.value.status == 409
    loser.cleanup(pod=request, remote_pod=None)  # what execute's finally does
    loser.on_kill()
    assert task_secrets(core, kube_namespace) == [task_secret_name("shared-pod")]


def test_a_failed_secret_delete_does_not_hide_the_tasks_outcome(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = task(
        "nodelete",
        reattach_on_restart=False,
        on_finish_action="delete_pod",
        secrets=[with_secrets("inline", {"A": "nodelete-v"})],
    )
    pod = _start_without_kubelet(op)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(op.client, "delete_namespaced_secret", forbidden)
    remote = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
    # KPO's own verdict (the pod never ran) surfaces, not the cleanup's 403.
    with pytest.raises(AirflowException, match="returned a failure"):
        op.cleanup(pod=remote, remote_pod=remote)


def test_values_from_the_project_are_masked_too(task: TaskFactory, kube_namespace: str, core: CoreV1Api) -> None:
    """With get_logs the container's output reaches the task log: project values must show as ***."""
    from airflow.sdk._shared.secrets_masker import redact

    ProjectSecretsStore(core, kube_namespace).set_secrets(
        "masked", {"EXPLICIT": canary("project-explicit"), "IMPLICIT": canary("project-implicit")}
    )
    explicit = task(
        "explicit",
        project="masked",
        secrets=[with_secrets("kubernetes", ["EXPLICIT"])],
    )
    explicit.prepare_secrets()
    assert redact(f"a {canary('project-explicit')} b") == "a *** b"
    assert redact(canary("project-implicit")) == canary("project-implicit")  # not attached to that pod

    implicit = task("implicit", project="masked")
    implicit.prepare_secrets()
    assert redact(canary("project-implicit")) == "***"


def test_resuming_after_deferral_registers_the_values_again(
    task: TaskFactory, kube_namespace: str, tmp_path: Path
) -> None:
    """A resumed task is a new process whose masker is empty; it streams the pod's logs from there."""
    from airflow.sdk._shared.secrets_masker import redact

    path = tmp_path / "s.txt"
    path.write_text(f"FROM_FILE={canary('resumed-file')}\n")
    resumed = task(
        "resumed",
        deferrable=True,
        secrets=[with_secrets("inline", {"A": canary("resumed-inline")}), with_secrets("file", str(path))],
    )
    event = {"name": "already-collected", "namespace": kube_namespace, "status": "success"}
    assert resumed.trigger_reentry(context={}, event=event) is None  # type: ignore[arg-type]
    assert redact(f"{canary('resumed-inline')} {canary('resumed-file')}") == "*** ***"


def test_pod_mode_service_principal_secret_is_checked_before_anything_is_created(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api
) -> None:
    """Without the check the pod would sit in CreateContainerConfigError until startup_timeout."""
    from airflow_secrets_provider import SecretConfigError

    op = task(
        "podmode",
        secrets=[
            with_secrets(
                "azure_vault", {"name": "team-vault", "k8s_secret": "azure-sp", "secrets": ["db"], "resolve_in": "pod"}
            )
        ],
    )
    with pytest.raises(SecretConfigError, match="'azure-sp' does not exist"):
        op.prepare_secrets()
    partial = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="azure-sp"), data={"tenant_id": b64("t"), "client_id": b64("c")}
    )
    core.create_namespaced_secret(kube_namespace, partial)
    with pytest.raises(SecretConfigError, match="no key 'secret'") as info:
        op.prepare_secrets()
    assert info.value.field == "secrets[0].k8s_secret"
    core.patch_namespaced_secret("azure-sp", kube_namespace, {"data": {"secret": b64("sp-secret-value")}})
    assert not op.prepare_secrets()  # pod mode: the worker resolves nothing
    assert core.list_namespaced_pod(kube_namespace).items == []


def test_without_a_namespace_secrets_are_read_where_kpo_runs_the_pod(
    kube_cluster: KubeCluster, kube_namespace: str, project: str, airflow_db: None
) -> None:
    """In a pod, KPO falls back to the service account's namespace; so must the secret checks."""
    op = operator(
        "nsless",
        config_file=str(kube_cluster.kubeconfig),
        namespace=None,  # type: ignore[arg-type]
        project=project,
        secrets=[with_secrets("kubernetes", ["AWS_KEY"])],
    )
    # Stand-in for the service account's namespace file, which only exists inside a pod: the
    # operator reads it through KPO's own ``_incluster_namespace``.
    op.__dict__["_incluster_namespace"] = kube_namespace
    op.prepare_secrets()  # the project's Secret is in kube_namespace, not in "default"
    assert op.build_pod_request_obj().metadata.namespace == kube_namespace


def test_a_missing_project_key_fails_the_task_without_retries_and_an_api_outage_does_not(
    task: TaskFactory, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_secrets_provider.kube.retry import KubernetesUnavailableError, RetryPolicy

    op = task("nokey", project=project, secrets=[with_secrets("kubernetes", ["NOPE"])])
    with pytest.raises(AirflowFailException) as info:
        op.execute(context={})  # type: ignore[arg-type]
    assert isinstance(info.value, SecretNotFoundError) and "'NOPE'" in str(info.value)

    outage = task("outage", project=project, secrets=[with_secrets("kubernetes", ["AWS_KEY"])])
    outage.hook.retry_policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001)

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ApiException(status=503, reason="Service Unavailable")

    monkeypatch.setattr(outage.client, "read_namespaced_secret", unavailable)
    with pytest.raises(KubernetesUnavailableError) as outage_info:
        outage.execute(context={})  # type: ignore[arg-type]
    assert not isinstance(outage_info.value, AirflowFailException)  # Airflow retries it


def test_an_identity_refused_the_project_secret_fails_once_naming_who_and_where(
    kube_cluster: KubeCluster, kube_namespace: str, project: str, core: CoreV1Api, tmp_path: Path
) -> None:
    """A 403 (the task's identity may not read the project's Secret) fails the task without retries.

    RBAC does not change between tries, so the refusal is an ``AirflowFailException``; its
    message names the verb, the Secret, the namespace and the identity (the API server's RBAC
    sentence), never a value. ``bob`` is a real user of the API server with no Role.
    """
    import yaml
    from airflow.sdk.exceptions import AirflowFailException

    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": kube_cluster.user_tokens["bob"]}
    bob_kubeconfig = tmp_path / "bob-kubeconfig"
    bob_kubeconfig.write_text(yaml.safe_dump(config))
    op = operator(
        "refused",
        config_file=str(bob_kubeconfig),
        namespace=kube_namespace,
        project=project,
        secrets=[with_secrets("kubernetes", ["AWS_KEY"])],
    )
    with pytest.raises(AirflowFailException) as info:
        op.execute(context={})  # type: ignore[arg-type]
    message = str(info.value)
    assert isinstance(info.value, KubernetesAccessError) and info.value.status == 403
    assert f"read Secret 'airflow-project-secrets-{project}' in namespace '{kube_namespace}'" in message
    assert 'User "bob" cannot get resource "secrets"' in message
    assert f'in the namespace "{kube_namespace}"' in message
    assert not any(value in message for value in CANARIES.values())
    assert core.list_namespaced_pod(kube_namespace).items == []  # failed before anything was created


def test_a_service_principal_that_is_not_text_is_a_config_error_without_the_value(
    task: TaskFactory, kube_namespace: str, core: CoreV1Api
) -> None:
    from airflow_secrets_provider import SecretConfigError

    raw = b"\xff\xfe" + secrets.token_hex(16).encode()
    sp = k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="azure-sp"),
        data={"tenant_id": b64("t"), "client_id": b64("c"), "secret": base64.b64encode(raw).decode()},
    )
    core.create_namespaced_secret(kube_namespace, sp)
    op = task(
        "sp", secrets=[with_secrets("azure_vault", {"name": "team-vault", "k8s_secret": "azure-sp", "secrets": ["db"]})]
    )
    with pytest.raises(SecretConfigError) as info:
        op.prepare_secrets()
    assert info.value.field == "secret" and "'azure-sp'" in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None  # UnicodeDecodeError holds the bytes
    assert raw[2:].decode() not in str(info.value)
