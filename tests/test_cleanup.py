"""No per-task Secret and no pod of ours outlives its task instance (airflow_secrets_provider/cleanup*.py).

The rules are checked as pure functions first. Then against the real API server and a real
Airflow metadata DB (a DAG run made by ``dag.test()``, task instance states set as Airflow sets
them): the ``airflow-secrets cleanup`` command; the listener fired by Airflow's own REST API
when a *deferred* task is marked failed before any triggerer ran it (no operator code runs);
and a worker SIGKILLed at each step of a task's launch (after the pod's create, after its
Secret's create, while the pod runs), after which the task instance is failed as the scheduler
fails a dead worker's task and the cleanup removes what the worker left. Airflow's scheduler
code failing a task instance itself (a heartbeat timeout; a deferred task's trigger timeout),
after which the listener removes the pod and Secret. And the command as a
ServiceAccount holding only what ``airflow-secrets rbac cleanup`` prints, in both layouts, which
is refused every read of a Secret.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG
from kubernetes.client import CoreV1Api
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider import SecretTaskOperator, with_secrets
from airflow_secrets_provider.cleanup.rules import Leftover, TaskKey, TaskStates, judge, safe_label
from airflow_secrets_provider.core.naming import SECRET_ROLE_LABEL, task_secret_name
from devstack.kube_cluster import KubeCluster
from devstack.kubelet_standin import KubeletStandIn
from tests.conftest import run_dag_from_module
from tests.support.canaries import canary
from tests.support.cli import run_cli
from tests.support.fault_proxy import FaultProxy, fault_proxy_for
from tests.support.rbac_apply import (
    Applied,
    apply_documents,
    eventually_allowed,
    rbac_documents,
    service_account_token,
    status_of,
    token_kubeconfig,
)
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]

# -- the rules, as pure functions ----------------------------------------------------------------


LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")  # Kubernetes' label value


@pytest.mark.parametrize(
    "text",
    ["manual__2026-01-02T00:00:00+00:00", "plain_id", "x" * 80, "-odd-", "scheduled__2026-11-29T18:00:00.123456+00:00"],
)
def test_label_values_are_made_label_safe(text: str) -> None:
    safe = safe_label(text)
    assert len(safe) <= 63 and LABEL_VALUE_RE.fullmatch(safe), safe
    assert (safe == text) == (len(text) <= 63 and LABEL_VALUE_RE.fullmatch(text) is not None)


def _item(dag: str = "d", task: str = "t", run: str = "r", **kwargs: Any) -> Leftover:
    labels = {"dag_id": dag, "task_id": task, "run_id": run, "try_number": "1"}
    return Leftover("ns", f"{task}-x", "uid", labels, **kwargs)


def test_verdicts() -> None:
    ended = TaskKey("d", "t", "r")
    states = TaskStates(frozenset({"d"}), frozenset({TaskKey("d", "live", "r")}), {ended: "failed"})

    def does(item: Leftover) -> tuple[bool, bool]:
        verdict = judge(item, states)
        return verdict.delete_pod, verdict.delete_secret

    assert does(_item(phase="Pending", on_finish_action="delete_pod")) == (True, True)
    assert "ended (failed)" in judge(_item(), states).reason
    assert does(_item(phase="Pending", on_finish_action="keep_pod")) == (True, True)  # never finished
    assert does(_item(phase="Succeeded", on_finish_action="keep_pod")) == (False, True)  # kept on purpose
    assert does(_item(phase="Succeeded", on_finish_action="delete_succeeded_pod")) == (True, True)
    assert does(_item(phase="Failed", on_finish_action="delete_succeeded_pod")) == (False, True)
    assert does(_item(phase="Running", on_finish_action="delete_pod")) == (True, True)
    assert does(_item(task="live")) == (False, False)  # any try of a live task instance
    assert does(_item(dag="other")) == (False, False)  # another Airflow's DAG
    gone = judge(_item(run="deleted-run"), states)
    assert gone.delete_pod and "no longer exists" in gone.reason
    mapped = Leftover("ns", "m", "u", {"dag_id": "d", "task_id": "live", "run_id": "r", "map_index": "3"})
    assert judge(mapped, states).delete_pod  # map index 3 is not the unmapped live instance
    assert does(Leftover("ns", "n", "u", {})) == (False, False)  # no task labels


def test_states_from_rows_use_kpos_labels() -> None:
    run = "manual__2026-01-02T00:00:00+00:00"
    states = TaskStates.build(["d"], [("d", "a", run, -1, "running"), ("d", "b", run, -1, "success")])
    assert TaskKey("d", "a", safe_label(run)) in states.live
    assert states.ended == {TaskKey("d", "b", safe_label(run)): "success"}


# -- against the API server and a real metadata DB ------------------------------------------------


def build_two_task_dag(dag_id: str) -> DAG:
    from airflow.providers.standard.operators.empty import EmptyOperator

    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        EmptyOperator(task_id="done") >> EmptyOperator(task_id="other")
    return dag


@pytest.fixture
def finished_run(airflow_db: None, dags_folder: Path, kube_namespace: str) -> SimpleNamespace:
    """A DAG run whose two task instances succeeded, in the session's metadata DB."""
    dag_id = f"cleanup_{kube_namespace}".replace("-", "_")
    run: Any = run_dag_from_module(dags_folder, "tests.test_cleanup:build_two_task_dag", dag_id=dag_id)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"done": "success", "other": "success"}
    return SimpleNamespace(dag_id=dag_id, run_id=run.run_id)


def set_state(dag_id: str, run_id: str, task_id: str, state: str) -> None:
    """Write a task instance's state as the scheduler or the API server does."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
            .values(state=state)
        )


def launch_for(
    kube_cluster: KubeCluster, namespace: str, dag_id: str, run_id: str, task_id: str, **kwargs: Any
) -> k8s.V1Pod:
    """The pod and per-task Secret the operator creates for that task instance (labels as KPO sets them)."""
    op = SecretTaskOperator(
        task_id=task_id,
        image="busybox:1.36",
        cmds=["true"],
        namespace=namespace,
        config_file=str(kube_cluster.kubeconfig),
        in_cluster=False,
        get_logs=False,
        reattach_on_restart=False,
        secrets=[with_secrets("inline", {"TOKEN": canary("cleanup")})],
        **kwargs,
    )
    context: Any = {
        "ti": SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1, try_number=1),
        "run_id": run_id,
        "dag": SimpleNamespace(),
    }
    op.prepare_secrets(context)
    pod = op.get_or_create_pod(op.build_pod_request_obj(context), context)
    return pod


def names(core: CoreV1Api, namespace: str) -> tuple[list[str], list[str]]:
    pods = sorted(
        p.metadata.name for p in core.list_namespaced_pod(namespace).items if not p.metadata.deletion_timestamp
    )
    found = core.list_namespaced_secret(namespace, label_selector=f"{SECRET_ROLE_LABEL}=task").items
    return pods, sorted(s.metadata.name for s in found)


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_the_cleanup_command_deletes_what_ended_task_instances_left(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    core: CoreV1Api,
    finished_run: SimpleNamespace,
    kubelet_standin: KubeletStandIn,
) -> None:
    dag_id, run_id, ns = finished_run.dag_id, finished_run.run_id, kube_namespace
    pending = launch_for(kube_cluster, ns, dag_id, run_id, "done")  # its task ended: an orphan
    kept = launch_for(kube_cluster, ns, dag_id, run_id, "done", on_finish_action="keep_pod")
    kubelet_standin.run_pod(ns, kept.metadata.name)  # finished, and its task keeps finished pods
    live = launch_for(kube_cluster, ns, dag_id, run_id, "other")
    set_state(dag_id, run_id, "other", "running")  # still running: untouchable
    foreign = launch_for(kube_cluster, ns, "not_a_dag_here", run_id, "done")  # another Airflow's

    before = names(core, ns)
    assert len(before[0]) == 4 and len(before[1]) == 4
    dry = run_cli(kube_cluster, "cleanup", "--dry-run", "-n", ns)
    assert dry.code == 0, dry.err
    assert dry.out.count("would delete pod and Secret") == 1, dry.out  # the pending pod of task "done"
    assert dry.out.count("would delete Secret (pod kept)") == 1, dry.out  # the finished, kept one
    assert names(core, ns) == before  # a dry run deletes nothing

    result = run_cli(kube_cluster, "cleanup", "-n", ns, "-o", "json")
    assert result.code == 0, result.err
    assert canary("cleanup") not in result.text
    pods, task_secrets = names(core, ns)
    assert pods == sorted([kept.metadata.name, live.metadata.name, foreign.metadata.name])
    assert task_secrets == sorted([task_secret_name(live.metadata.name), task_secret_name(foreign.metadata.name)])
    assert pending.metadata.name not in pods

    assert sorted((d["kind"], d["name"]) for d in json.loads(result.out)["deleted"]) == sorted(
        [
            ("Pod", pending.metadata.name),
            ("Secret", task_secret_name(pending.metadata.name)),
            ("Secret", task_secret_name(kept.metadata.name)),
        ]
    )
    again = run_cli(kube_cluster, "cleanup", "-n", ns, "-o", "json")
    assert again.code == 0 and json.loads(again.out)["deleted"] == [], again.out


def _refused_every_secret_read(as_cleanup: CoreV1Api, namespace: str, secret: str) -> None:
    """The cleanup's identity reads no Secret: get, list and watch are refused (no value is reachable)."""
    assert status_of(lambda: as_cleanup.read_namespaced_secret(secret, namespace)) == 403
    assert status_of(lambda: as_cleanup.list_namespaced_secret(namespace)) == 403
    assert status_of(lambda: as_cleanup.list_namespaced_secret(namespace, watch=True, timeout_seconds=1)) == 403
    assert status_of(lambda: as_cleanup.list_secret_for_all_namespaces()) == 403


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_the_cleanup_needs_only_the_generated_role_shared_namespace(
    kube_cluster: KubeCluster, kube_namespace: str, core: CoreV1Api, finished_run: SimpleNamespace, tmp_path: Path
) -> None:
    """``airflow-secrets cleanup`` as a ServiceAccount holding only ``rbac cleanup``'s Role."""
    dag_id, run_id, ns = finished_run.dag_id, finished_run.run_id, kube_namespace
    orphan = launch_for(kube_cluster, ns, dag_id, run_id, "done")  # its task ended
    live = launch_for(kube_cluster, ns, dag_id, run_id, "other")
    set_state(dag_id, run_id, "other", "running")
    documents = rbac_documents(
        "cleanup", "--layout", "shared-namespace", "--namespace", ns, "--service-account", "airflow-cleanup"
    )
    apply_documents(core, documents, Applied())
    token = service_account_token(core, ns, "airflow-cleanup")
    kubeconfig = token_kubeconfig(kube_cluster, token, tmp_path / "cleanup.kubeconfig")
    with kube_cluster.api_client(token) as client:
        as_cleanup = CoreV1Api(client)
        eventually_allowed(lambda: as_cleanup.list_namespaced_pod(ns), "the cleanup's Role")
        _refused_every_secret_read(as_cleanup, ns, task_secret_name(orphan.metadata.name))

    result = run_cli(None, "cleanup", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
    assert result.code == 0, result.err
    assert sorted((d["kind"], d["name"]) for d in json.loads(result.out)["deleted"]) == sorted(
        [("Pod", orphan.metadata.name), ("Secret", task_secret_name(orphan.metadata.name))]
    )
    assert names(core, ns) == ([live.metadata.name], [task_secret_name(live.metadata.name)])


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_the_cleanup_needs_only_the_generated_rbac_namespace_per_project(
    kube_cluster: KubeCluster, kube_namespace: str, core: CoreV1Api, finished_run: SimpleNamespace, tmp_path: Path
) -> None:
    """Many project namespaces: ``cleanup -A`` as a ServiceAccount holding only ``rbac cleanup --all-namespaces``.

    It lists our pods everywhere but deletes only in the namespaces it is bound in: an orphan in
    its own (unbound) namespace is reported as refused and stays.
    """
    import secrets as random

    dag_id, run_id = finished_run.dag_id, finished_run.run_id
    template = f"asp-cl-{random.token_hex(3)}-{{project}}"
    projects = ("alpha", "beta")
    project_ns = [template.replace("{project}", p) for p in projects]
    documents = rbac_documents(
        "cleanup",
        *(arg for p in projects for arg in ("--project", p)),
        "--namespace-template",
        template,
        "--service-account",
        f"{kube_namespace}/airflow-cleanup",
        "--all-namespaces",
    )
    applied = Applied()
    try:
        apply_documents(core, documents, applied)
        assert applied.namespaces == project_ns
        orphans = [launch_for(kube_cluster, ns, dag_id, run_id, "done") for ns in project_ns]
        unbound = launch_for(kube_cluster, kube_namespace, dag_id, run_id, "done")
        token = service_account_token(core, kube_namespace, "airflow-cleanup")
        kubeconfig = token_kubeconfig(kube_cluster, token, tmp_path / "cleanup.kubeconfig")
        with kube_cluster.api_client(token) as client:
            as_cleanup = CoreV1Api(client)
            eventually_allowed(lambda: as_cleanup.list_pod_for_all_namespaces(limit=1), "the cluster-wide list")
            for ns, orphan in zip(project_ns, orphans, strict=True):
                eventually_allowed(lambda ns=ns: as_cleanup.list_namespaced_pod(ns), "a project's RoleBinding")
                _refused_every_secret_read(as_cleanup, ns, task_secret_name(orphan.metadata.name))

        result = run_cli(None, "cleanup", "--kubeconfig", kubeconfig, "-A", "-o", "json")
        assert result.code == 1, result.err  # the unbound namespace's delete was refused
        assert canary("cleanup") not in result.text
        deleted = {(d["kind"], d["namespace"], d["name"]) for d in json.loads(result.out)["deleted"]}
        for ns, orphan in zip(project_ns, orphans, strict=True):
            assert ("Pod", ns, orphan.metadata.name) in deleted
            assert ("Secret", ns, task_secret_name(orphan.metadata.name)) in deleted
            assert names(core, ns) == ([], [])
        assert {ns for _, ns, _ in deleted} <= set(project_ns)  # nothing outside the bound namespaces
        rows = {(r["namespace"], r["pod"]): r["action"] for r in json.loads(result.out)["pods"]}
        assert "Secret failed" in rows[(kube_namespace, unbound.metadata.name)]
        assert "403" in rows[(kube_namespace, unbound.metadata.name)]
        assert names(core, kube_namespace) == ([unbound.metadata.name], [task_secret_name(unbound.metadata.name)])
    finally:
        applied.remove(core)


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_a_deferred_task_marked_failed_through_the_rest_api_leaves_nothing(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    core: CoreV1Api,
    finished_run: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The task deferred (pod and Secret created, waiting for the triggerer); a user marks it failed.

    No operator code runs for that: Airflow's API server sets the state and calls the
    ``on_task_instance_failed`` listeners, where this provider's cleanup runs.
    """
    from fastapi.testclient import TestClient

    dag_id, run_id, ns = finished_run.dag_id, finished_run.run_id, kube_namespace
    pod = launch_for(kube_cluster, ns, dag_id, run_id, "other", deferrable=True)
    set_state(dag_id, run_id, "other", "deferred")
    assert names(core, ns) == ([pod.metadata.name], [task_secret_name(pod.metadata.name)])

    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_KUBE_CONFIG_FILE", str(kube_cluster.kubeconfig))
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_NAMESPACES", ns)
    # The test's task instance was made by an EmptyOperator run; a real one is a SecretTaskOperator's.
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_OPERATORS", "SecretTaskOperator,EmptyOperator")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app

    with TestClient(create_app("core")) as client:
        response = client.patch(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/other", json={"new_state": "failed"}
        )
    assert response.status_code == 200, response.text[:500]
    assert names(core, ns) == ([], [])


# -- a worker SIGKILLed at each step of a launch --------------------------------------------------


def build_launch_dag(dag_id: str, kubeconfig: str, namespace: str, *, deferrable: bool = False) -> DAG:
    """One ``SecretTaskOperator`` with an inline canary (``canary("killed")``).

    ``deferrable``: its ``execution_timeout`` makes KPO defer with a trigger timeout (the
    canary is then ``canary("scheduler-ends")``).
    """
    from datetime import timedelta

    extra: dict[str, Any] = {"deferrable": True, "execution_timeout": timedelta(hours=1)} if deferrable else {}
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        SecretTaskOperator(
            task_id="launch",
            image="busybox:1.36",
            cmds=["true"],
            namespace=namespace,
            config_file=kubeconfig,
            in_cluster=False,
            get_logs=False,
            startup_timeout_seconds=3600,
            secrets=[with_secrets("inline", {"TOKEN": canary("scheduler-ends" if deferrable else "killed")})],
            **extra,
        )
    return dag


@pytest.fixture
def worker_proxy(kube_cluster: KubeCluster, tmp_path: Path) -> Iterator[FaultProxy]:
    with fault_proxy_for(kube_cluster, tmp_path) as proxy:
        yield proxy


@pytest.mark.kubernetes
@pytest.mark.airflow
@pytest.mark.parametrize("step", ["after-pod-create", "after-secret-create", "while-running"])
def test_a_worker_killed_at_each_step_leaves_nothing_once_its_task_is_failed(
    step: str,
    kube_cluster: KubeCluster,
    kube_namespace: str,
    core: CoreV1Api,
    airflow_db: None,
    dags_folder: Path,
    worker_proxy: FaultProxy,
    kubelet_standin: KubeletStandIn,
) -> None:
    ns = kube_namespace
    dag_id = f"killed_{step}_{ns}".replace("-", "_")
    kubeconfig = worker_proxy.kubeconfig(kube_cluster.admin_token)
    if step == "after-pod-create":
        # The Secret's create never gets an answer: the worker is stuck between the two creates.
        worker_proxy.add("stall", method="POST", path=r"/secrets", times=None)
    if step == "while-running":
        kubelet_standin.running_seconds = 3600
        kubelet_standin.watch_and_run(ns)
    (dags_folder / f"{dag_id}.py").write_text(
        "# airflow DAG file written by the tests\nfrom tests.test_cleanup import build_launch_dag\n\n"
        f"dag = build_launch_dag({dag_id!r}, {str(kubeconfig)!r}, {ns!r})\n",
        encoding="utf-8",
    )
    airflow = Path(sys.executable).with_name("airflow")
    worker = subprocess.Popen(
        [str(airflow), "tasks", "test", dag_id, "launch", "2026-01-02"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def reached() -> bool:
            pods, task_secrets = names(core, ns)
            if worker.poll() is not None:
                return True
            if step == "after-pod-create":
                return len(pods) == 1 and worker_proxy.injected["stall"] > 0
            if step == "after-secret-create":
                return len(pods) == 1 and len(task_secrets) == 1
            return bool(
                len(task_secrets) == 1 and [p.status.phase for p in core.list_namespaced_pod(ns).items] == ["Running"]
            )

        wait_for(reached, f"the worker to reach {step}")
        assert worker.poll() is None, worker.communicate()[0][-3000:]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=60)
        assert worker.stdout is not None
        output = worker.stdout.read()
        worker.stdout.close()
    assert canary("killed") not in output
    pods, task_secrets = names(core, ns)
    assert len(pods) == 1 and len(task_secrets) == (0 if step == "after-pod-create" else 1)

    # The task instance is still "running" in the metadata DB: the cleanup leaves it alone.
    run_id = _run_id(dag_id)
    assert run_cli(kube_cluster, "cleanup", "-n", ns).code == 0
    assert names(core, ns) == (pods, task_secrets)

    # The scheduler fails the dead worker's task instance; the cleanup then removes everything.
    set_state(dag_id, run_id, "launch", "failed")
    result = run_cli(kube_cluster, "cleanup", "-n", ns)
    assert result.code == 0, result.err
    assert names(core, ns) == ([], [])
    wait_for(lambda: _gone(core, ns), "the pod to be deleted")


def _run_id(dag_id: str) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        (run_id,) = session.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id)).all()
    return str(run_id)


def _gone(core: CoreV1Api, namespace: str) -> bool:
    try:
        return core.list_namespaced_pod(namespace).items == []
    except ApiException:
        return False


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_a_dag_run_that_ends_takes_its_task_instances_leftovers(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    core: CoreV1Api,
    finished_run: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler calls ``on_dag_run_success``/``_failed`` when a run ends (e.g. after a trigger timeout)."""
    from airflow.listeners.listener import get_listener_manager
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag_id, run_id, ns = finished_run.dag_id, finished_run.run_id, kube_namespace
    for task_id in ("done", "other"):
        launch_for(kube_cluster, ns, dag_id, run_id, task_id)
    other_run = launch_for(kube_cluster, ns, dag_id, "another_run", "done")  # not this run's
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_KUBE_CONFIG_FILE", str(kube_cluster.kubeconfig))
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_NAMESPACES", ns)

    def end_run() -> None:
        with create_session() as session:
            run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
            get_listener_manager().hook.on_dag_run_success(dag_run=run, msg="success")  # as DagRun.update_state does
            # The caller's object is left as it was: still bound to its session, its state readable
            # (reading the run's task instances here once broke the scheduler's loop).
            assert run in session and run.state == "success"

    end_run()
    assert names(core, ns) == ([other_run.metadata.name], [task_secret_name(other_run.metadata.name)])


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_the_listener_can_be_turned_off_and_looks_after_configured_task_types_only(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    core: CoreV1Api,
    finished_run: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.listeners.listener import get_listener_manager
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag_id, run_id, ns = finished_run.dag_id, finished_run.run_id, kube_namespace
    pod = launch_for(kube_cluster, ns, dag_id, run_id, "done")
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_KUBE_CONFIG_FILE", str(kube_cluster.kubeconfig))
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_NAMESPACES", ns)
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_ON_TASK_END", "False")
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_OPERATORS", "*")
    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "done")
        ).one()
        get_listener_manager().hook.on_task_instance_success(previous_state=None, task_instance=ti)
    assert names(core, ns) == ([pod.metadata.name], [task_secret_name(pod.metadata.name)])
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_ON_TASK_END", "True")
    monkeypatch.delenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_OPERATORS")  # default: SecretTaskOperator only
    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "done")
        ).one()
        get_listener_manager().hook.on_task_instance_success(previous_state=None, task_instance=ti)
    assert names(core, ns) == ([pod.metadata.name], [task_secret_name(pod.metadata.name)])  # an EmptyOperator's
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_OPERATORS", "*")
    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "done")
        ).one()
        get_listener_manager().hook.on_task_instance_success(previous_state=None, task_instance=ti)
    assert names(core, ns) == ([], [])


# -- the scheduler ends the task instance itself: Airflow's own scheduler code, in process ---------


@pytest.fixture
def secret_task_run(
    airflow_db: None, dags_folder: Path, kube_cluster: KubeCluster, kube_namespace: str
) -> Iterator[SimpleNamespace]:
    """A DAG run of :func:`build_launch_dag` (deferrable) in the metadata DB, its task instance not run yet.

    ``dag.test()`` makes the run (DAG file, serialized DAG, DAG version, run) with the task marked
    success without running it; the test then puts both back to where the scheduler has them.
    The listener runs with its defaults (task type ``SecretTaskOperator``), only pointed at the
    test's cluster and namespace; its log lines are collected from its own logger.
    """
    import logging

    dag_id = f"scheduler_ends_{kube_namespace}".replace("-", "_")
    args = (dag_id, str(kube_cluster.kubeconfig), kube_namespace)
    (dags_folder / f"{dag_id}.py").write_text(
        "# airflow DAG file written by the tests\nfrom tests.test_cleanup import build_launch_dag\n\n"
        f"dag = build_launch_dag(*{args!r}, deferrable=True)\n",
        encoding="utf-8",
    )
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler, logger = Collect(logging.INFO), logging.getLogger("airflow_secrets_provider.cleanup.run")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_KUBE_CONFIG_FILE", str(kube_cluster.kubeconfig))
        mp.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_NAMESPACES", kube_namespace)
        mp.delenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_OPERATORS", raising=False)
        dag = build_launch_dag(*args, deferrable=True)
        run: Any = dag.test(mark_success_pattern="launch")
        lines.clear()  # the run's end just now found nothing to delete
        try:
            yield SimpleNamespace(dag=dag, dag_id=dag_id, run_id=run.run_id, log=lines)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


def _reopen(dag_id: str, run_id: str, **ti_values: Any) -> None:
    """The run back to running and its task instance to ``ti_values``, as the scheduler has them."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            .values(state="running", end_date=None)
        )
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .values(end_date=None, **ti_values)
        )


def _task_instance(dag_id: str, run_id: str, session: Any) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    return session.scalars(
        select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    ).one()


def _deleted_by_the_listener(log: list[str], namespace: str, pod: str) -> None:
    """The cleanup's own log lines (cleanup_run) name both deletes: nothing else removed them."""
    assert any(line.startswith(f"Cleanup deleted Pod {namespace}/{pod}:") for line in log), log
    assert any(line.startswith(f"Cleanup deleted Secret {namespace}/{task_secret_name(pod)}:") for line in log), log


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_a_task_whose_heartbeat_timed_out_is_failed_by_the_scheduler_and_leaves_nothing(
    kube_cluster: KubeCluster, kube_namespace: str, core: CoreV1Api, secret_task_run: SimpleNamespace
) -> None:
    """The worker died: no heartbeat. Airflow's scheduler fails the task instance, no operator code runs.

    The scheduler's own two steps, on a ``SchedulerJobRunner`` with its configured executor:
    ``_find_and_purge_task_instances_without_heartbeats`` (heartbeat older than
    ``[scheduler] task_instance_heartbeat_timeout``: the executor is told the task failed), then
    ``_process_executor_events`` (the executor's "failed" for a task instance still running:
    ``TaskInstance.handle_failure``, which calls ``on_task_instance_failed`` in the scheduler).
    """
    from datetime import timedelta

    from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.utils.session import create_session

    dag_id, run_id, ns = secret_task_run.dag_id, secret_task_run.run_id, kube_namespace
    pod = launch_for(kube_cluster, ns, dag_id, run_id, "launch")  # what the worker created before it died
    with create_session() as session:
        job = Job(job_type=SchedulerJobRunner.job_type)
        session.add(job)
        session.flush()
        runner = SchedulerJobRunner(job=job)
    runner.executor.callback_sink = DatabaseCallbackSink()  # as the scheduler's _execute sets it
    stale = pendulum.now("UTC") - timedelta(seconds=runner._task_instance_heartbeat_timeout_secs + 60)
    _reopen(dag_id, run_id, state="running", last_heartbeat_at=stale, queued_by_job_id=job.id, try_number=1)
    assert names(core, ns) == ([pod.metadata.name], [task_secret_name(pod.metadata.name)])

    runner._find_and_purge_task_instances_without_heartbeats()
    assert names(core, ns) == ([pod.metadata.name], [task_secret_name(pod.metadata.name)])  # not yet failed
    with create_session() as session:
        runner._process_executor_events(runner.executor, session)
        assert _task_instance(dag_id, run_id, session).state == "failed"

    wait_for(lambda: names(core, ns) == ([], []), "the listener to delete the pod and its Secret")
    _deleted_by_the_listener(secret_task_run.log, ns, pod.metadata.name)
    assert canary("scheduler-ends") not in "\n".join(secret_task_run.log)


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_a_deferred_task_whose_trigger_timed_out_leaves_nothing(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    core: CoreV1Api,
    secret_task_run: SimpleNamespace,
    tmp_path: Path,
) -> None:
    """A deferred ``SecretTaskOperator`` whose trigger timed out: Airflow fails it without the operator's code.

    The task runs for real (the task SDK's in-process supervisor, as ``dag.test()`` runs tasks):
    it creates its pod and per-task Secret and defers with a trigger timeout (KPO sets one from
    ``execution_timeout``). The timeout is then moved into the past (a stand-in for waiting an
    hour) and the scheduler's ``check_trigger_timeouts`` sends the task back to a worker with
    ``__fail__``, where ``BaseOperator.resume_execution`` raises ``TaskDeferralTimeout`` before
    any operator method runs. The worker's state update calls no listener in the scheduler or
    API server; the listener in the worker takes the pod and Secret (before this test, it left
    them to the end of the DAG run), with the task's own connection: the ``cleanup_*`` options
    point at nothing usable during that step, as in a worker given no cleanup identity. The
    run's end (configured identity again) then finds nothing left.
    """
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag_id, run_id, ns = secret_task_run.dag_id, secret_task_run.run_id, kube_namespace
    task = secret_task_run.dag.task_dict["launch"]
    _reopen(dag_id, run_id, state="scheduled", try_number=1)
    with create_session() as session:
        _run_task(ti=_task_instance(dag_id, run_id, session), task=task)  # the first try: launch and defer
    with create_session() as session:
        ti = _task_instance(dag_id, run_id, session)
        assert ti.state == "deferred" and ti.trigger_timeout is not None, (ti.state, ti.trigger_timeout)
    (pod_name,) = names(core, ns)[0]
    assert names(core, ns) == ([pod_name], [task_secret_name(pod_name)])

    _reopen(dag_id, run_id, trigger_timeout=pendulum.now("UTC") - pendulum.duration(seconds=1))
    with create_session() as session:
        job = Job(job_type=SchedulerJobRunner.job_type)
        session.add(job)
        session.flush()
        SchedulerJobRunner(job=job).check_trigger_timeouts(session=session)
    with create_session() as session, pytest.MonkeyPatch.context() as mp:
        ti = _task_instance(dag_id, run_id, session)
        assert (ti.state, ti.next_method) == ("scheduled", "__fail__")
        # The worker has no usable cleanup_* identity: only the task's own connection can delete.
        mp.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_KUBE_CONFIG_FILE", str(tmp_path / "no-kubeconfig-here"))
        mp.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_NAMESPACES", "no-such-namespace")
        _run_task(ti=ti, task=task)  # the worker: TaskDeferralTimeout
    with create_session() as session:
        assert _task_instance(dag_id, run_id, session).state == "failed"
    wait_for(lambda: names(core, ns) == ([], []), "the listener to delete the pod and its Secret")
    _deleted_by_the_listener(secret_task_run.log, ns, pod_name)
    assert all("ended (failed)" in line for line in secret_task_run.log), secret_task_run.log  # not the run's end
    assert canary("scheduler-ends") not in "\n".join(secret_task_run.log)

    logged = len(secret_task_run.log)
    with create_session() as session:  # the scheduler's next loop over the run: nothing left to delete
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
        run.dag = secret_task_run.dag
        run.update_state(session=session)
        assert run.state == "failed"
    assert len(secret_task_run.log) == logged


def test_in_a_worker_the_cleanup_uses_the_tasks_own_connection_and_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The identity the listener uses after a ``__fail__`` resume: the task's, where its pods are.

    Decided without an API call (the pod is built dry); a project's task under the
    namespace-per-project layout has its project's namespace. Other task types get None (the
    configured ``cleanup_*`` identity).
    """
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from airflow_secrets_provider.cleanup.listener import LISTENER_POLICY, brings_own_identity, task_identity

    kubeconfig = str(tmp_path / "task-kubeconfig")
    plain = SecretTaskOperator(task_id="t", image="i", namespace="team-a", config_file=kubeconfig)
    assert brings_own_identity(plain)
    hook, namespaces = task_identity(plain)
    assert namespaces == ["team-a"]
    assert (hook.config_file, hook.retry_policy) == (kubeconfig, LISTENER_POLICY)

    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", "ml-{project}")
    project_task = SecretTaskOperator(task_id="t", image="i", project="fraud", config_file=kubeconfig)
    assert task_identity(project_task)[1] == ["ml-fraud"]
    assert not brings_own_identity(KubernetesPodOperator(task_id="k", image="i", namespace="team-a"))


def test_a_cleanup_that_cannot_get_its_identity_says_what_removes_the_leftovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logged, never raised into Airflow; the advice matches the identity that was tried, and no value appears."""
    from airflow_secrets_provider.cleanup.listener import (
        CONFIGURED_ADVICE,
        TASK_IDENTITY_ADVICE,
        clean_task_instance,
    )
    from airflow_secrets_provider.core.errors import SecretConfigError

    hidden = canary("identity")

    def refused() -> Any:
        raise SecretConfigError("namespace", "no valid namespace for this task")

    def broken() -> Any:
        raise RuntimeError(hidden)

    ended = SimpleNamespace(state="failed", dag_id="d", task_id="t", run_id="r", map_index=-1)
    with caplog.at_level("WARNING", logger="airflow_secrets_provider.cleanup.listener"):
        clean_task_instance(ended, refused, TASK_IDENTITY_ADVICE)
        clean_task_instance(ended, broken)
    first, second = (r.getMessage() for r in caplog.records)
    assert "no valid namespace for this task" in first and first.endswith(f"({TASK_IDENTITY_ADVICE})")
    assert "RuntimeError" in second and second.endswith(f"({CONFIGURED_ADVICE})")
    assert hidden not in caplog.text
