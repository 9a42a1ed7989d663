"""The ``pods`` tier: secrets reach real containers on a real kubelet.

One session-scoped single node (``kube_node``: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kubelet with Docker; ``scripts/kube-node.sh``) runs every pod here. Containers run
the local job image (Debian with Python 3) and report the SHA-256 of what they received, never
the value; the test compares it with the canary it created. Nothing here uses the kubelet
stand-in; ``test_the_kubelet_standin_matches_the_real_kubelet`` checks what the stand-in fakes
against the real kubelet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.cncf.kubernetes.utils.pod_manager import PodLogsConsumer, PodManager
from airflow.sdk import DAG
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client import models as k8s

from airflow_secrets_provider import SecretTaskOperator, with_secrets
from airflow_secrets_provider.core.naming import SECRET_ROLE_LABEL, task_secret_name
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from airflow_secrets_provider.operators.pod_logs import CompleteLogsPodManager
from airflow_secrets_provider.operators.pod_start import PodSecretReferenceError
from devstack.kube_cluster import KubeCluster
from devstack.kubelet_standin import KubeletStandIn
from tests.conftest import run_dag_from_module
from tests.support.tiers import skip_or_fail
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.pods, pytest.mark.airflow]

REPO = Path(__file__).resolve().parents[1]

#: Runs in the container: SHA-256 of each named env var and of each file in each directory,
#: and whether the directory is writable. Prints one ``RESULT {json}`` line; never a value.
REPORT = r"""
import hashlib, json, os, sys
spec = json.loads(sys.argv[1])
gate = spec.get("gate")
if gate:
    import time
    while not os.path.exists(gate):
        time.sleep(0.2)
sha = lambda data: hashlib.sha256(data).hexdigest()
out = {"env": {}, "files": {}}
for name in spec.get("env", []):
    if name in os.environ:
        out["env"][name] = sha(os.environ[name].encode())
for d in spec.get("dirs", []):
    entries = {}
    for n in sorted(os.listdir(d)):
        if not n.startswith(".."):
            with open(os.path.join(d, n), "rb") as f:
                entries[n] = sha(f.read())
    try:
        open(os.path.join(d, ".write-probe"), "w").close()
        read_only = False
    except OSError:
        read_only = True
    out["files"][d] = {"entries": entries, "read_only": read_only}
for name in spec.get("print", []):
    print("value:", os.environ.get(name))
print("RESULT " + json.dumps(out, sort_keys=True), flush=True)
"""


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def canary() -> str:
    return secrets.token_hex(16)


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def report_operator(
    task_id: str, *, kubeconfig: str, namespace: str, job_image: str, spec: dict[str, Any], **kwargs: Any
) -> SecretTaskOperator:
    """A task whose container reports hashes of what it received (see :data:`REPORT`)."""
    kwargs.setdefault("on_finish_action", "keep_pod")  # the test reads the pod and its log back
    kwargs.setdefault("get_logs", True)
    kwargs.setdefault("startup_timeout_seconds", 300)
    return SecretTaskOperator(
        task_id=task_id,
        image=job_image,
        image_pull_policy="IfNotPresent",  # local image: never pulled; a public one would be
        cmds=["python3", "-c", REPORT],
        arguments=[json.dumps(spec)],
        namespace=namespace,
        config_file=kubeconfig,
        in_cluster=False,
        **kwargs,
    )


def pod_report(core: CoreV1Api, namespace: str, pod_name: str) -> dict[str, Any]:
    """The container's ``RESULT`` line, read through the API server from the kubelet."""
    # Raw bytes: the client's own decoding turns the body into the text of a bytes repr.
    response = core.read_namespaced_pod_log(pod_name, namespace, container="base", _preload_content=False)
    log = response.data.decode()
    lines = [line for line in log.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"no RESULT line in the log of {pod_name}"
    result: dict[str, Any] = json.loads(lines[0][len("RESULT ") :])
    return result


def task_secrets(core: CoreV1Api, namespace: str) -> list[str]:
    found = core.list_namespaced_secret(namespace, label_selector=f"{SECRET_ROLE_LABEL}=task")
    return [s.metadata.name for s in found.items]


@pytest.fixture
def our_node(kube_node: KubeCluster) -> KubeCluster:
    """Tests that share a host directory with a pod need the local node (not a KUBECONFIG one)."""
    if kube_node.node_name is None:
        skip_or_fail("this test shares a host directory with its pod, so it needs the local node")
    return kube_node


@pytest.fixture
def job_image(kube_node: KubeCluster) -> str:
    assert kube_node.job_image, "a node cluster always names its job image"
    return kube_node.job_image


# ------------------------------------------------------------------------------------------------
# Every way a value reaches a pod


def build_delivery_dag(
    dag_id: str,
    kubeconfig: str,
    namespace: str,
    job_image: str,
    inline_value: str,
    secrets_file: str,
    vault_url: str,
    vault_options: dict[str, Any],
) -> DAG:
    """Two tasks: every request form but "all project keys" in one, that one in the other."""
    common = {"kubeconfig": kubeconfig, "namespace": namespace, "job_image": job_image}
    env_names = [
        "AWS_KEY",
        "DB_PASSWORD",
        "INLINE_TOKEN",
        "ENV_TOKEN",
        "FILE_TOKEN",
        "db_password",
        "EXT_TOKEN",
        "PACH_ACCESS",
    ]
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        every = report_operator(
            "every_form",
            **common,
            spec={"env": env_names, "dirs": ["/etc/clearml", "/etc/pach"]},
            project="fraud",
            image_pull_secrets=[k8s.V1LocalObjectReference(name="regcred")],
            secrets=[
                with_secrets("kubernetes", ["AWS_KEY", "DB_PASSWORD"]),  # secretKeyRef to the project
                with_secrets("inline", {"INLINE_TOKEN": inline_value}),  # per-task Secret ...
                with_secrets("env", "ENV_TOKEN"),
                with_secrets("file", secrets_file),
                with_secrets(
                    "azure_vault",
                    {"name": "team-vault", "vault_url": vault_url, "k8s_secret": "azure-creds", "secrets": []},
                ),
                {"name": "clearml", "envVar": "PACH_ACCESS", "key": "access"},  # Pachyderm env form
                {"name": "pach-files", "mount_path": "/etc/pach"},  # Pachyderm mount form
            ],
            azure_vault_options=vault_options,
        )
        every.set_env_from_secret("EXT_TOKEN", "clearml", "token")
        every.mount_secret("clearml", "/etc/clearml", {"access": "access-file"})
        all_keys = report_operator(
            "all_project_keys",
            **common,
            spec={"env": ["AWS_KEY", "DB_PASSWORD"]},
            project="fraud",
            secrets=[with_secrets("kubernetes", [])],  # envFrom the project's Secret
        )
        every >> all_keys
    return dag


@pytest.mark.azure
def test_every_way_a_value_reaches_a_pod(
    kube_node: KubeCluster,
    node_namespace: str,
    node_core: CoreV1Api,
    job_image: str,
    airflow_db: None,
    dags_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_secrets_provider.azure import vault as hook
    from tests.support.keyvault_standin import KeyVaultStandIn

    core, ns = node_core, node_namespace
    values = {
        name: canary()
        for name in ("AWS_KEY", "DB_PASSWORD", "INLINE", "ENV", "FILE", "VAULT", "ACCESS", "TOKEN", "PA", "PB")
    }
    ProjectSecretsStore(core, ns).set_secrets(
        "fraud", {"AWS_KEY": values["AWS_KEY"], "DB_PASSWORD": values["DB_PASSWORD"]}
    )
    for name, data in {
        "clearml": {"access": values["ACCESS"], "token": values["TOKEN"]},
        "pach-files": {"a.txt": values["PA"], "b.txt": values["PB"]},
    }.items():
        core.create_namespaced_secret(ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), string_data=data))
    registry_auth = json.dumps({"auths": {"registry.invalid": {"auth": b64("user:" + canary())}}})
    core.create_namespaced_secret(
        ns,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="regcred"),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": registry_auth},
        ),
    )
    monkeypatch.setenv("ENV_TOKEN", values["ENV"])
    secrets_file = tmp_path / "secrets.txt"
    secrets_file.write_text(f"FILE_TOKEN={values['FILE']}\n")

    hook.clear_clients()
    with KeyVaultStandIn() as vault:
        vault.set_secret("db-password", values["VAULT"])
        creds = {"tenant_id": vault.tenant_id, "client_id": vault.client_id, "secret": vault.client_secret}
        core.create_namespaced_secret(
            ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="azure-creds"), string_data=creds)
        )
        run: Any = run_dag_from_module(
            dags_folder,
            "tests.test_pods:build_delivery_dag",
            dag_id=f"delivery_{ns}".replace("-", "_"),
            kubeconfig=str(kube_node.kubeconfig),
            namespace=ns,
            job_image=job_image,
            inline_value=values["INLINE"],
            secrets_file=str(secrets_file),
            vault_url=vault.url,
            vault_options={
                "connection_verify": vault.ca_file,
                "verify_challenge_resource": False,
                "authority": vault.authority,
                "disable_instance_discovery": True,
            },
        )
    hook.clear_clients()

    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {
        "every_form": "success",
        "all_project_keys": "success",
    }
    pods = {p.metadata.labels["task_id"]: p for p in core.list_namespaced_pod(ns).items}
    assert all(p.status.phase == "Succeeded" for p in pods.values())
    for pod in pods.values():  # the spec holds references only
        stored = json.dumps(ApiClient().sanitize_for_serialization(pod))
        assert not any(value in stored for value in values.values()), "a secret value is stored in a pod spec"

    every = pod_report(core, ns, pods["every_form"].metadata.name)
    assert every["env"] == {
        "AWS_KEY": sha(values["AWS_KEY"]),
        "DB_PASSWORD": sha(values["DB_PASSWORD"]),
        "INLINE_TOKEN": sha(values["INLINE"]),
        "ENV_TOKEN": sha(values["ENV"]),
        "FILE_TOKEN": sha(values["FILE"]),
        "db_password": sha(values["VAULT"]),
        "EXT_TOKEN": sha(values["TOKEN"]),
        "PACH_ACCESS": sha(values["ACCESS"]),
    }
    assert every["files"] == {
        "/etc/clearml": {"entries": {"access-file": sha(values["ACCESS"])}, "read_only": True},
        "/etc/pach": {"entries": {"a.txt": sha(values["PA"]), "b.txt": sha(values["PB"])}, "read_only": True},
    }
    spec = pods["every_form"].spec
    assert [ref.name for ref in spec.image_pull_secrets] == ["regcred"]
    # The per-task Secret carried inline, env, file and vault values, by reference.
    refs = {e.name: e.value_from.secret_key_ref.name for e in spec.containers[0].env if e.value_from}
    assert (
        refs["INLINE_TOKEN"]
        == refs["ENV_TOKEN"]
        == refs["db_password"]
        == task_secret_name(pods["every_form"].metadata.name)
    )

    all_keys = pod_report(core, ns, pods["all_project_keys"].metadata.name)
    assert all_keys["env"] == {"AWS_KEY": sha(values["AWS_KEY"]), "DB_PASSWORD": sha(values["DB_PASSWORD"])}
    assert [e.secret_ref.name for e in pods["all_project_keys"].spec.containers[0].env_from] == [
        "airflow-project-secrets-fraud"
    ]
    # Each task's per-task Secret went with its deleted pod (the garbage collector, a moment later).
    wait_for(lambda: task_secrets(core, ns) == [], "the per-task Secrets to go with their pods")


# ------------------------------------------------------------------------------------------------
# A supervised run: the container's output reaches the task log masked


def build_printing_dag(dag_id: str, kubeconfig: str, namespace: str, job_image: str, gate: str = "") -> DAG:
    """One task whose container prints its project secret and a per-task secret in clear.

    With ``gate`` (a host file path), the container first waits until that file exists.
    """
    gate_dir = os.path.dirname(gate)
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        report_operator(
            "printer",
            kubeconfig=kubeconfig,
            namespace=namespace,
            job_image=job_image,
            spec={"env": ["DB_PASSWORD", "API_KEY"], "print": ["DB_PASSWORD", "API_KEY"], "gate": gate},
            project="fraud",
            on_finish_action="delete_pod",
            env_vars={"PRINTED": "yes"},
            secrets=[with_secrets("kubernetes", ["DB_PASSWORD"]), with_secrets("env", "API_KEY")],
            # The gate file's host directory, shared with the container (which waits for the file).
            volumes=[k8s.V1Volume(name="gate", host_path=k8s.V1HostPathVolumeSource(path=gate_dir))] if gate else [],
            volume_mounts=[k8s.V1VolumeMount(name="gate", mount_path=gate_dir)] if gate else [],
        )
    return dag


def write_dag_file(dags_folder: Path, dag_id: str, builder: str, **kwargs: Any) -> None:
    args = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    (dags_folder / f"{dag_id}.py").write_text(
        f"# airflow DAG file written by the tests\nfrom tests.test_pods import {builder}\n\n"
        f"dag = {builder}({dag_id!r}, {args})\n",
        encoding="utf-8",
    )


def airflow_tasks_test(dag_id: str, extra_env: dict[str, str], **popen: Any) -> subprocess.Popen[str]:
    """``airflow tasks test DAG printer`` in its own session (so it can be killed as a group)."""
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra_env}
    return subprocess.Popen(
        [str(airflow), "tasks", "test", dag_id, "printer", "2026-01-02"],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **popen,
    )


def test_container_output_in_the_task_log_is_masked(
    kube_node: KubeCluster,
    node_namespace: str,
    node_core: CoreV1Api,
    job_image: str,
    airflow_db: None,
    dags_folder: Path,
) -> None:
    db_password, api_key = canary(), canary()
    ProjectSecretsStore(node_core, node_namespace).set_secrets("fraud", {"DB_PASSWORD": db_password})
    dag_id = f"printing_{node_namespace}".replace("-", "_")
    write_dag_file(
        dags_folder,
        dag_id,
        "build_printing_dag",
        kubeconfig=str(kube_node.kubeconfig),
        namespace=node_namespace,
        job_image=job_image,
    )
    proc = airflow_tasks_test(dag_id, {"API_KEY": api_key})
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-3000:]
    printed = [line for line in output.splitlines() if "value:" in line]
    assert len(printed) == 2, output[-3000:]  # the container's lines, streamed by get_logs=True
    assert [re.search(r"value: (\S+)", line)[1] for line in printed] == ["***", "***"], printed  # type: ignore[index]
    assert db_password not in output and api_key not in output
    assert sha(db_password) in output  # the REPORT line is there too: the log is the container's
    assert task_secrets(node_core, node_namespace) == []


# ------------------------------------------------------------------------------------------------
# A worker killed mid-task


def test_a_killed_worker_leaves_nothing_behind(
    our_node: KubeCluster,
    node_namespace: str,
    node_core: CoreV1Api,
    job_image: str,
    airflow_db: None,
    dags_folder: Path,
    tmp_path: Path,
) -> None:
    core, ns = node_core, node_namespace
    db_password, api_key = canary(), canary()
    ProjectSecretsStore(core, ns).set_secrets("fraud", {"DB_PASSWORD": db_password})
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    gate = gate_dir / "open"
    dag_id = f"killed_{ns}".replace("-", "_")
    write_dag_file(
        dags_folder,
        dag_id,
        "build_printing_dag",
        kubeconfig=str(our_node.kubeconfig),
        namespace=ns,
        job_image=job_image,
        gate=str(gate),
    )
    worker = airflow_tasks_test(dag_id, {"API_KEY": api_key})
    try:
        # The container waits at the gate, so the pod is running and its Secret exists.
        def running_with_secret() -> k8s.V1Pod | None:
            pods = core.list_namespaced_pod(ns).items
            if len(pods) == 1 and pods[0].status.phase == "Running" and task_secrets(core, ns):
                return pods[0]
            return None

        pod = wait_for(
            lambda: running_with_secret() or worker.poll() is not None, "the pod running with its Secret", timeout=300
        )
        assert worker.poll() is None, worker.communicate()[0][-3000:]  # the worker is still waiting for the pod
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=60)
        assert worker.stdout is not None
        worker.stdout.close()

    name = pod.metadata.name
    assert task_secrets(core, ns) == [task_secret_name(name)]  # nobody cleaned up
    gate.touch()
    wait_for(
        lambda: core.read_namespaced_pod(name, ns).status.phase in ("Succeeded", "Failed"), "the orphaned pod to finish"
    )
    assert core.read_namespaced_pod(name, ns).status.phase == "Succeeded"
    assert pod_report(core, ns, name)["env"] == {"DB_PASSWORD": sha(db_password), "API_KEY": sha(api_key)}

    # Once the pod goes, the garbage collector takes its Secret (ownerReferences).
    core.delete_namespaced_pod(name, ns)
    wait_for(lambda: task_secrets(core, ns) == [], "the garbage collector to delete the per-task Secret")

    # The next try runs to the end and leaves no Secret behind.
    retry = airflow_tasks_test(dag_id, {"API_KEY": api_key})
    output, _ = retry.communicate(timeout=600)
    assert retry.returncode == 0, output[-3000:]
    assert sha(api_key) in output and api_key not in output
    wait_for(lambda: core.list_namespaced_pod(ns).items == [], "the retried pod to be deleted")
    wait_for(lambda: task_secrets(core, ns) == [], "the retried pod's Secret to go with it")


# ------------------------------------------------------------------------------------------------
# A missing Secret or key: the kubelet says so, the task fails at once


@pytest.mark.parametrize("missing", ["key", "secret"])
def test_a_missing_secret_or_key_fails_the_start_at_once(
    kube_node: KubeCluster, node_namespace: str, node_core: CoreV1Api, job_image: str, missing: str
) -> None:
    core, ns = node_core, node_namespace
    core.create_namespaced_secret(
        ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="present"), string_data={"other": canary()})
    )
    secret_name = "present" if missing == "key" else "absent"
    op = report_operator(
        "missing",
        kubeconfig=str(kube_node.kubeconfig),
        namespace=ns,
        job_image=job_image,
        spec={"env": ["WANTED"]},
        # Far longer than the test may run: the error must come from the pod status, not a timeout.
        startup_timeout_seconds=3600,
        reattach_on_restart=False,
        secrets=[with_secrets("inline", {"INLINE": canary()})],  # a per-task Secret too
    )
    op.set_env_from_secret("WANTED", secret_name, "wanted-key")
    op.prepare_secrets()
    pod = op.get_or_create_pod(op.build_pod_request_obj(), context={})  # type: ignore[arg-type]
    op.pod = pod
    try:
        with pytest.raises(PodSecretReferenceError) as info:
            op.await_pod_start(pod)
        message = str(info.value)
        if missing == "key":
            assert "key 'wanted-key' of Secret 'present'" in message, message
        else:
            assert "Secret 'absent'" in message, message
        assert "CreateContainerConfigError" in message
        # The kubelet holds the pod there; it did not start the container.
        status = core.read_namespaced_pod(pod.metadata.name, ns).status
        assert status.phase == "Pending"
        assert status.container_statuses[0].state.waiting.reason == "CreateContainerConfigError"
    finally:
        op.cleanup(pod=pod, remote_pod=None)  # type: ignore[arg-type]
    assert task_secrets(core, ns) == []


def build_missing_secret_dag(dag_id: str, kubeconfig: str, namespace: str, job_image: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        op = report_operator(
            "missing",
            kubeconfig=kubeconfig,
            namespace=namespace,
            job_image=job_image,
            spec={"env": ["WANTED"]},
            startup_timeout_seconds=3600,
            on_finish_action="delete_pod",
        )
        op.set_env_from_secret("WANTED", "absent", "wanted-key")
    return dag


def test_a_task_with_a_missing_secret_fails_with_the_reason(
    kube_node: KubeCluster,
    node_namespace: str,
    node_core: CoreV1Api,
    job_image: str,
    airflow_db: None,
    dags_folder: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    run: Any = run_dag_from_module(
        dags_folder,
        "tests.test_pods:build_missing_secret_dag",
        dag_id=f"missing_{node_namespace}".replace("-", "_"),
        kubeconfig=str(kube_node.kubeconfig),
        namespace=node_namespace,
        job_image=job_image,
    )
    assert [ti.state for ti in run.get_task_instances()] == ["failed"]
    out, err = capfd.readouterr()
    failure = (out + err).split("Task failed with exception", 1)[-1]
    assert "PodSecretReferenceError" in failure and "Secret 'absent'" in failure, failure[-3000:]
    assert "returned a failure" not in failure  # KPO's generic cleanup error does not hide the reason
    # The operator deleted the pod (the kubelet takes a while to let a never-started pod go).
    assert all(p.metadata.deletion_timestamp for p in node_core.list_namespaced_pod(node_namespace).items)


# ------------------------------------------------------------------------------------------------
# What the kubelet stand-in fakes, checked against the real kubelet


def raw_pod(name: str, image: str, command: str, pull_policy: str = "IfNotPresent", **spec: Any) -> k8s.V1Pod:
    container_keys = {"env", "env_from", "volume_mounts"}
    container = k8s.V1Container(
        name="base",
        image=image,
        image_pull_policy=pull_policy,
        command=["python3", "-c", command],
        **{k: v for k, v in spec.items() if k in container_keys},
    )
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1PodSpec(
            restart_policy="Never",
            containers=[container],
            **{k: v for k, v in spec.items() if k not in container_keys},
        ),
    )


def env_from_secret(name: str, secret: str, key: str, optional: bool = False) -> k8s.V1EnvVar:
    ref = k8s.V1SecretKeySelector(name=secret, key=key, optional=optional)
    return k8s.V1EnvVar(name=name, value_from=k8s.V1EnvVarSource(secret_key_ref=ref))


@pytest.fixture
def standin_parity_pods(node_core: CoreV1Api, node_namespace: str, job_image: str) -> Iterator[dict[str, str]]:
    """Pods covering each behaviour the stand-in fakes; yields name -> expected final state."""
    core, ns = node_core, node_namespace
    value = canary()
    core.create_namespaced_secret(
        ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="s"), string_data={"k": value, "other": canary()})
    )
    report = REPORT
    spec_optional = json.dumps({"env": ["OPT", "K"], "dirs": ["/p"]})
    pods = {
        # optional references to missing things are skipped; a projected volume with items.
        "optional": raw_pod(
            "optional",
            job_image,
            report.replace("sys.argv[1]", repr(spec_optional)),
            env=[env_from_secret("OPT", "nope", "k", optional=True), env_from_secret("K", "s", "k")],
            env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="nope", optional=True))],
            volumes=[
                k8s.V1Volume(
                    name="p",
                    projected=k8s.V1ProjectedVolumeSource(
                        sources=[
                            k8s.V1VolumeProjection(
                                secret=k8s.V1SecretProjection(name="s", items=[k8s.V1KeyToPath(key="k", path="kf")])
                            )
                        ]
                    ),
                )
            ],
            volume_mounts=[k8s.V1VolumeMount(name="p", mount_path="/p")],
        ),
        # a missing pull Secret: the real kubelet only warns (the stand-in fails by default).
        "pull": raw_pod("pull", job_image, "print('ran')", image_pull_secrets=[k8s.V1LocalObjectReference("nope")]),
        "exit3": raw_pod("exit3", job_image, "raise SystemExit(3)"),
        "missing-key": raw_pod("missing-key", job_image, "print('never')", env=[env_from_secret("X", "s", "nokey")]),
        "no-secret": raw_pod("no-secret", job_image, "print('never')", env=[env_from_secret("X", "nope", "k")]),
    }
    for pod in pods.values():
        core.create_namespaced_pod(ns, pod)
    yield {"value_sha": sha(value)}


def test_the_kubelet_standin_matches_the_real_kubelet(
    node_core: CoreV1Api, node_namespace: str, standin_parity_pods: dict[str, str]
) -> None:
    core, ns = node_core, node_namespace

    def state(name: str) -> tuple[str, Any]:
        pod = core.read_namespaced_pod(name, ns)
        statuses = pod.status.container_statuses or []
        return pod.status.phase, statuses[0].state if statuses else None

    for name in ("optional", "pull", "exit3"):
        wait_for(lambda name=name: state(name)[0] in ("Succeeded", "Failed"), f"pod {name} to finish")
    for name in ("missing-key", "no-secret"):
        wait_for(
            lambda name=name: (s := state(name)[1]) is not None and s.waiting is not None and s.waiting.message,
            f"pod {name} to report its config error",
        )

    standin = KubeletStandIn(core)
    # Optional references are skipped, projected items resolve: the container ran and got them.
    assert state("optional")[0] == "Succeeded"
    assert standin.check_references(core.read_namespaced_pod("optional", ns)) == []
    report = pod_report(core, ns, "optional")
    assert report["env"] == {"K": standin_parity_pods["value_sha"]}
    assert report["files"]["/p"] == {"entries": {"kf": standin_parity_pods["value_sha"]}, "read_only": True}
    # A missing pull Secret is only a warning for a local image (the stand-in's opt-out mode).
    assert state("pull")[0] == "Succeeded"
    assert (
        KubeletStandIn(core, image_pull_secrets_required=False).check_references(core.read_namespaced_pod("pull", ns))
        == []
    )
    # A failing container: phase Failed, terminated with its exit code (as the stand-in reports).
    phase, terminated = state("exit3")
    assert (phase, terminated.terminated.exit_code) == ("Failed", 3)
    assert terminated.terminated.started_at is not None and terminated.terminated.finished_at is not None
    # Missing Secret or key: the same reason and message the stand-in gives (the real kubelet
    # keeps the pod Pending where the stand-in fails it, a documented difference).
    for name in ("missing-key", "no-secret"):
        phase, waiting_state = state(name)
        (problem,) = standin.check_references(core.read_namespaced_pod(name, ns))
        assert phase == "Pending"
        assert (waiting_state.waiting.reason, waiting_state.waiting.message) == (problem.reason, problem.message)


# ------------------------------------------------------------------------------------------------
# A private image: the pull secret reaches the kubelet's pull


def test_a_private_image_is_pulled_with_the_tasks_pull_secret(
    our_node: KubeCluster, node_namespace: str, node_core: CoreV1Api, job_image: str, tmp_path: Path
) -> None:
    from tests.support.registry import PrivateRegistry

    core, ns = node_core, node_namespace
    user, password = "puller", canary()
    registry = PrivateRegistry(tmp_path / "registry", user, password)
    try:
        registry.start()
    except (ImportError, OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        skip_or_fail(f"no private registry (Debian's docker-registry): {exc!r}")
    try:
        private_image = f"{registry.host}/private/job:{secrets.token_hex(4)}"
        docker_env = {**os.environ, "DOCKER_HOST": str(our_node.docker_host), "DOCKER_CONFIG": str(tmp_path / "dc")}

        def docker(*args: str, stdin: str | None = None) -> None:
            subprocess.run([str(our_node.docker_cli), *args], env=docker_env, input=stdin, text=True, check=True)

        # Push the job image under a private name, then forget that name: the kubelet must pull it.
        docker("login", registry.host, "-u", user, "--password-stdin", stdin=password)
        docker("tag", job_image, private_image)
        docker("push", private_image)
        docker("rmi", private_image)
        docker("logout", registry.host)

        auth = {"username": user, "password": password, "auth": b64(f"{user}:{password}")}
        core.create_namespaced_secret(
            ns,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name="regcred"),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": json.dumps({"auths": {registry.host: auth}})},
            ),
        )
        op = report_operator(
            "private",
            kubeconfig=str(our_node.kubeconfig),
            namespace=ns,
            job_image=private_image,
            spec={"env": []},
            image_pull_secrets=[k8s.V1LocalObjectReference(name="regcred")],
            reattach_on_restart=False,
        )
        op.prepare_secrets()
        pod = op.get_or_create_pod(op.build_pod_request_obj(), context={})  # type: ignore[arg-type]
        assert [ref.name for ref in pod.spec.image_pull_secrets] == ["regcred"]
        name = pod.metadata.name
        wait_for(lambda: core.read_namespaced_pod(name, ns).status.phase in ("Succeeded", "Failed"), "the private pod")
        assert core.read_namespaced_pod(name, ns).status.phase == "Succeeded"
        assert pod_report(core, ns, name) == {"env": {}, "files": {}}

        # The same image without the pull secret (pulled again: the node holds it by now): the
        # registry turns the kubelet away.
        core.create_namespaced_pod(ns, raw_pod("anonymous", private_image, "print('never')", pull_policy="Always"))

        def pull_refused() -> str | None:
            statuses = core.read_namespaced_pod("anonymous", ns).status.container_statuses or []
            waiting = statuses[0].state.waiting if statuses else None
            if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff") and waiting.message:
                return str(waiting.message)
            return None

        message = wait_for(pull_refused, "the anonymous pull to be refused")
        assert "unauthorized" in message.lower() or "no basic auth credentials" in message.lower(), message
    finally:
        registry.stop()


# ------------------------------------------------------------------------------------------------
# A container that exits before the log follower sees it running


@pytest.mark.parametrize("manager_class", [PodManager, CompleteLogsPodManager], ids=["kpo", "ours"])
def test_output_of_a_container_the_follower_never_saw_running(
    manager_class: type[PodManager],
    node_core: CoreV1Api,
    node_namespace: str,
    job_image: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KPO's follower streams only while the status it reads says running (or just terminated).

    A container that exits between two status reads is seen in neither state and its output is
    lost without a word. The real pod below runs and exits; the follower's first status check is
    made to answer "not available" once (a simulation of that status lag, which cannot be timed
    deterministically). KPO's manager then logs nothing; ours logs the container's line.
    """
    marker = f"asp-line-{canary()}"
    name = f"fast-exit-{manager_class.__name__.lower()}"
    node_core.create_namespaced_pod(node_namespace, raw_pod(name, job_image, f"print({marker!r})"))
    wait_for(
        lambda: node_core.read_namespaced_pod(name, node_namespace).status.phase == "Succeeded",
        "the pod to succeed",
    )
    checks: list[bool] = []
    real_available = PodLogsConsumer.logs_available

    def first_check_misses(consumer: PodLogsConsumer) -> bool:
        checks.append(bool(checks) and bool(real_available(consumer)))
        return checks[-1]

    monkeypatch.setattr(PodLogsConsumer, "logs_available", first_check_misses)
    pod = node_core.read_namespaced_pod(name, node_namespace)
    with caplog.at_level(logging.INFO):
        status = manager_class(kube_client=node_core).fetch_container_logs(pod, "base", follow=True)
    assert status.running is False
    assert checks[:1] == [False], "the follower's status check was not reached"
    logged = marker in caplog.text + capsys.readouterr().out
    assert logged is (manager_class is CompleteLogsPodManager), caplog.text[-2000:]


def test_a_pods_logs_live_in_its_nodes_dir(
    kube_node: KubeCluster, node_core: CoreV1Api, node_namespace: str, job_image: str
) -> None:
    """Each node keeps pod logs in its own dir, never the host's shared ``/var/log/pods``.

    A kubelet's container GC (once a minute) deletes every directory under its pod-log root whose
    pod it does not know. The test session's node and the quickstart stack's node run side by
    side, so with one shared root each deleted the other's logs and a task log lost its
    container's output. ``scripts/kube-node.sh`` builds kubelet to take the root from
    ``KUBELET_POD_LOGS_DIR`` and points it at the node's dir.
    """
    if kube_node.workdir is None:
        skip_or_fail("only a node started by scripts/kube-node.sh has a dir of its own")
    assert kube_node.workdir is not None
    marker = f"asp-line-{canary()}"
    node_core.create_namespaced_pod(node_namespace, raw_pod("own-logs", job_image, f"print({marker!r})"))
    wait_for(
        lambda: node_core.read_namespaced_pod("own-logs", node_namespace).status.phase == "Succeeded",
        "the pod to succeed",
    )
    uid = node_core.read_namespaced_pod("own-logs", node_namespace).metadata.uid
    pod_dir = f"{node_namespace}_own-logs_{uid}"
    assert (kube_node.workdir / "pod-logs" / pod_dir / "base").is_dir()
    assert not (Path("/var/log/pods") / pod_dir).exists()
    assert not list(Path("/var/log/containers").glob(f"own-logs_{node_namespace}_*"))
    assert list((kube_node.workdir / "container-logs").glob(f"own-logs_{node_namespace}_base-*.log"))
    # and the API server still reads it through the kubelet
    assert marker in node_core.read_namespaced_pod_log("own-logs", node_namespace, container="base")
