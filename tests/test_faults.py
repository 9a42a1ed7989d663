"""Faults between the package and a real kube-apiserver: the fault proxy (tests/support/fault_proxy.py).

Every request of the code under test goes through an HTTPS proxy that answers 5xx, 429 with
``Retry-After``, resets connections before forwarding, forwards and then drops the response (the
write happened, the client does not know), or holds the request unanswered. Checks go straight
to the API server, around the proxy. Each test prints a ``faults:`` line with what it injected.

What must hold: retries succeed; nothing is duplicated or left half written; an API server that
never answers fails the call after the client-side timeout with a clear error; no value appears
in an error or a log; concurrent writers lose no update.
"""

from __future__ import annotations

import base64
import logging
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider import SecretTaskOperator, with_secrets
from airflow_secrets_provider.core.errors import SecretsProviderError
from airflow_secrets_provider.core.naming import (
    MANAGED_BY_LABEL,
    SECRET_ROLE_LABEL,
    project_secret_name,
    task_secret_name,
)
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.errors import KubernetesUnavailableError
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from airflow_secrets_provider.kube.retry import RetryPolicy
from devstack.kube_cluster import KubeCluster
from tests.support.fault_proxy import Fault, FaultProxy, fault_proxy_for
from tests.support.waiting import outcome_in_thread

pytestmark = pytest.mark.kubernetes

SECRETS_PATH = r"/api/v1/namespaces/[^/]+/secrets"
PODS_PATH = r"/api/v1/namespaces/[^/]+/pods"

#: Faults a client can recover from by retrying (stalls are the timeout tests' business).
RECOVERABLE = [
    Fault("status", 503),
    Fault("status", 500),
    Fault("reset"),
    Fault("lost"),
    Fault("lost"),
    Fault("status", 429, retry_after=1),
]


def value() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def proxy(kube_cluster: KubeCluster, tmp_path: Path) -> Iterator[FaultProxy]:
    with fault_proxy_for(kube_cluster, tmp_path) as started:
        yield started
    print(f"\nfaults: {sum(started.injected.values())} injected {dict(started.injected)}", file=sys.stderr)


@pytest.fixture
def proxy_kubeconfig(proxy: FaultProxy, kube_cluster: KubeCluster) -> Path:
    return proxy.kubeconfig(kube_cluster.admin_token)


def proxied_client(kubeconfig: Path) -> ApiClient:
    return kubernetes.config.new_client_from_config(str(kubeconfig))


def raw(core: CoreV1Api, namespace: str, project: str) -> dict[str, str] | None:
    try:
        secret = core.read_namespaced_secret(project_secret_name(project), namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def no_value_in(text: str, values: list[str]) -> None:
    leaked = [v for v in values if v in text]
    assert not leaked, "a secret value reached an error or a log"


# -- the project store ------------------------------------------------------------------------


def test_every_fault_kind_is_survived_by_the_project_store(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One fault of each kind on each write path; after each step the Secret is exactly as asked."""
    caplog.set_level(logging.WARNING)
    values = {k: value() for k in ("A", "B", "C", "D")}
    ns = kube_namespace
    with proxied_client(proxy_kubeconfig) as client:
        store = ProjectSecretsStore(CoreV1Api(client), ns)

        # The create is applied but its response lost: the retry's 409 is merged, not duplicated.
        proxy.add("lost", method="POST", path=SECRETS_PATH)
        assert store.set_secrets("p", {"A": values["A"]}) == ["A"]
        assert raw(core, ns, "p") == {"A": values["A"]}

        # A read answered 503, then an update whose response is lost.
        proxy.add("status", method="GET", path=SECRETS_PATH, status=503)
        proxy.add("lost", method="PUT", path=SECRETS_PATH)
        assert store.set_secrets("p", {"B": values["B"], "C": values["C"]}) == ["A", "B", "C"]
        assert raw(core, ns, "p") == {"A": values["A"], "B": values["B"], "C": values["C"]}

        # 429 with Retry-After on the write, a reset before the next read, a 500.
        proxy.add("status", method="PUT", path=SECRETS_PATH, status=429, retry_after=1)
        proxy.add("reset", method="GET", path=SECRETS_PATH)
        proxy.add("status", method="PUT", path=SECRETS_PATH, status=500)
        assert store.set_secrets("p", {"D": values["D"]}) == ["A", "B", "C", "D"]

        # delete_keys whose write was applied but answered by a reset: the retry finds the keys
        # gone, and that is success (it used to fail with "key not found").
        proxy.add("lost", method="PUT", path=SECRETS_PATH)
        assert store.delete_keys("p", ["A", "B"]) == ["C", "D"]
        assert raw(core, ns, "p") == {"C": values["C"], "D": values["D"]}

        # The last keys: the Secret's delete is applied, its response lost.
        proxy.add("lost", method="DELETE", path=SECRETS_PATH)
        assert store.delete_keys("p", ["C", "D"]) == []
        assert raw(core, ns, "p") is None

        # delete_project with a lost delete response.
        store.set_secrets("q", {"A": values["A"]})
        proxy.add("lost", method="DELETE", path=SECRETS_PATH)
        assert store.delete_project("q") is True
        assert raw(core, ns, "q") is None

    assert proxy.injected["lost"] == 5 and proxy.total_injected == 9, proxy.log
    no_value_in(caplog.text, list(values.values()))


def test_random_faults_leave_the_project_store_exactly_as_the_calls_said(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """120 writes under a seeded 20% fault rate: after every call the Secret equals the model."""
    import random

    caplog.set_level(logging.WARNING)
    rng = random.Random(20261129)
    proxy.random_faults(0.2, RECOVERABLE, seed=12, path=SECRETS_PATH)
    model: dict[str, str] = {}
    seen: list[str] = []
    with proxied_client(proxy_kubeconfig) as client:
        store = ProjectSecretsStore(CoreV1Api(client), kube_namespace)
        for step in range(120):
            if model and rng.random() < 0.3:
                doomed = rng.sample(sorted(model), k=min(len(model), rng.randint(1, 3)))
                store.delete_keys("r", doomed)
                for key in doomed:
                    del model[key]
            else:
                update = {f"K{rng.randint(0, 15)}": value() for _ in range(rng.randint(1, 3))}
                seen.extend(update.values())
                store.set_secrets("r", update)
                model.update(update)
            assert (raw(core, kube_namespace, "r") or {}) == model, f"step {step}"
    print(f"\nrandom faults: 120 writes, {proxy.total_injected} faults {dict(proxy.injected)}", file=sys.stderr)
    assert proxy.injected["lost"] > 0 and proxy.injected["reset"] > 0
    no_value_in(caplog.text, seen)


def test_concurrent_writers_through_faults_lose_no_update(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str
) -> None:
    """4 writers x 100 writes to one project, through 10% faults: every acknowledged write is there.

    Each writer has its own client (as separate processes would). A call that gives up (its
    retry budget spent on conflicts and faults) is repeated by the writer and counted; a write
    counts once it returned.
    """
    writers, writes = 4, 100
    proxy.random_faults(0.1, RECOVERABLE[:-1], seed=7, path=SECRETS_PATH)  # 429s only slow this down
    acknowledged: dict[str, str] = {}
    repeated: list[int] = [0] * writers
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(writers)

    def write(index: int) -> None:
        try:
            with proxied_client(proxy_kubeconfig) as client:
                store = ProjectSecretsStore(CoreV1Api(client), kube_namespace, audit=False)
                start.wait(timeout=60)
                for n in range(writes):
                    key, val = f"W{index}_{n}", value()
                    for _attempt in range(20):
                        try:
                            store.set_secrets("shared", {key: val})
                            break
                        except SecretsProviderError:
                            repeated[index] += 1
                    else:
                        raise AssertionError(f"writer {index} could not write {key}")
                    with lock:
                        acknowledged[key] = val
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert not errors, errors
    stored = raw(core, kube_namespace, "shared") or {}
    lost = [key for key, val in acknowledged.items() if stored.get(key) != val]
    print(
        f"\nconcurrent writers: {writers} x {writes} = {len(acknowledged)} writes, {len(lost)} lost updates, "
        f"{sum(repeated)} calls repeated by writers, {proxy.total_injected} faults {dict(proxy.injected)}",
        file=sys.stderr,
    )
    assert len(acknowledged) == writers * writes
    assert lost == []
    assert stored == acknowledged  # nothing else either


# -- timeouts: an API server that never answers -------------------------------------------------


def test_set_secrets_fails_after_the_request_timeout_when_the_server_stalls(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str
) -> None:
    secret_value = value()
    proxy.add("stall", path=SECRETS_PATH, times=None)
    with proxied_client(proxy_kubeconfig) as client:
        hook = SecretsKubernetesHook.for_client(
            CoreV1Api(client), RetryPolicy(max_attempts=2, base_delay=0.05), request_timeout=0.5
        )
        store = ProjectSecretsStore(hook, kube_namespace)
        error = outcome_in_thread(lambda: store.set_secrets("t", {"A": secret_value}), "the call")
    assert isinstance(error, KubernetesUnavailableError), repr(error)
    message = str(error)
    assert "no answer within the client-side request timeout" in message, message
    assert "Secret 'airflow-project-secrets-t'" in message and "2 attempts" in message, message
    no_value_in(message, [secret_value])
    assert proxy.injected["stall"] >= 2
    assert raw(core, kube_namespace, "t") is None


def test_the_request_timeout_is_configurable_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_secrets_provider.core.errors import SecretConfigError

    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__KUBE_REQUEST_TIMEOUT", "7.5")
    assert SecretsKubernetesHook(kubernetes_conn_id=None).request_timeout == 7.5
    assert SecretsKubernetesHook(kubernetes_conn_id=None, request_timeout=3).request_timeout == 3
    for bad in ("nan", "-1", "0", "soon"):
        monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__KUBE_REQUEST_TIMEOUT", bad)
        with pytest.raises(SecretConfigError, match=r"kube_request_timeout"):
            SecretsKubernetesHook(kubernetes_conn_id=None)
    monkeypatch.delenv("AIRFLOW__SECRETS_PROVIDER__KUBE_REQUEST_TIMEOUT")
    assert SecretsKubernetesHook(kubernetes_conn_id=None).request_timeout == 60.0


def _operator(task_id: str, kubeconfig: Path, namespace: str, **kwargs: Any) -> SecretTaskOperator:
    kwargs.setdefault("on_finish_action", "keep_pod")
    return SecretTaskOperator(
        task_id=task_id,
        image="busybox:1.36",
        cmds=["true"],
        namespace=namespace,
        config_file=str(kubeconfig),
        in_cluster=False,
        get_logs=False,
        reattach_on_restart=False,
        startup_timeout_seconds=60,
        **kwargs,
    )


def _launch(op: SecretTaskOperator) -> Any:
    """What execute() does up to the moment it waits for the pod (see test_operator_kubernetes)."""
    op.prepare_secrets()
    pod = op.get_or_create_pod(op.build_pod_request_obj(), context={})  # type: ignore[arg-type]
    op.pod = pod
    return pod


def test_execute_fails_after_the_request_timeout_when_the_server_stalls(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's reads, and KPO's pod create through the same client, time out instead of hanging."""
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__KUBE_REQUEST_TIMEOUT", "0.5")
    ProjectSecretsStore(core, kube_namespace).set_secrets("p", {"K": value()})
    inline = value()

    # The project Secret's read stalls: execute() fails before anything is created.
    rule = proxy.add("stall", method="GET", path=SECRETS_PATH, times=None)
    op = _operator("stalled", proxy_kubeconfig, kube_namespace, project="p")
    op.with_secrets("inline", {"INLINE": inline})
    error = outcome_in_thread(lambda: op.execute(context={}), "the call")  # type: ignore[arg-type]
    assert isinstance(error, KubernetesUnavailableError), repr(error)
    assert "no answer within the client-side request timeout" in str(error), str(error)
    no_value_in(str(error), [inline])
    assert core.list_namespaced_pod(kube_namespace).items == []

    # The pod create stalls: KPO's own retries end with a timeout error, and no pod exists.
    proxy.rules.remove(rule)
    proxy.add("stall", method="POST", path=PODS_PATH, times=None)
    op = _operator("stalled-create", proxy_kubeconfig, kube_namespace, project="p")
    op.with_secrets("inline", {"INLINE": inline})
    error = outcome_in_thread(lambda: _launch(op), "the call")
    assert error is not None and "timed out" in str(error).lower(), repr(error)
    no_value_in(str(error), [inline])
    assert core.list_namespaced_pod(kube_namespace).items == []
    assert core.list_namespaced_secret(kube_namespace, label_selector=f"{SECRET_ROLE_LABEL}=task").items == []


# -- the operator's launch ---------------------------------------------------------------------


def test_a_launch_survives_faults_on_every_call_without_duplicates(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Lost pod and Secret creates, 5xx, 429, resets: one pod, one Secret owned by it, right values."""
    caplog.set_level(logging.INFO)
    ns = kube_namespace
    project_value, inline = value(), value()
    ProjectSecretsStore(core, ns).set_secrets("p", {"K": project_value})
    proxy.add("status", method="GET", path=SECRETS_PATH, status=503)  # the project's key check
    proxy.add("reset", method="GET", path=r"/configmaps")  # the presets
    proxy.add("lost", method="POST", path=PODS_PATH)  # KPO retries: 409, the pod is adopted
    proxy.add("status", method="GET", path=PODS_PATH + "/", status=429, retry_after=1)  # the read-back
    proxy.add("lost", method="POST", path=SECRETS_PATH)  # 409 on the retry: replaced, not duplicated
    op = _operator("launch", proxy_kubeconfig, ns, project="p", secrets=[with_secrets("inline", {"INLINE": inline})])
    pod = _launch(op)

    pods = core.list_namespaced_pod(ns).items
    assert [p.metadata.name for p in pods] == [pod.metadata.name]
    assert pods[0].metadata.labels[MANAGED_BY_LABEL] == "airflow-secrets-provider"
    task_secrets = core.list_namespaced_secret(ns, label_selector=f"{SECRET_ROLE_LABEL}=task").items
    assert [s.metadata.name for s in task_secrets] == [task_secret_name(pod.metadata.name)]
    (owner,) = task_secrets[0].metadata.owner_references
    assert owner.uid == pods[0].metadata.uid
    assert base64.b64decode(task_secrets[0].data["INLINE"]).decode() == inline
    # Without the adoption, KPO's retried create ends in 409 and the launch fails, leaving the pod.
    assert proxy.injected["lost"] == 2 and proxy.total_injected == 5, proxy.log

    # The task ends; its Secret's delete is applied but answered by a reset.
    proxy.add("lost", method="DELETE", path=SECRETS_PATH)
    remote = core.read_namespaced_pod(pod.metadata.name, ns)
    op._delete_task_secret(remote)
    assert core.list_namespaced_secret(ns, label_selector=f"{SECRET_ROLE_LABEL}=task").items == []
    assert proxy.injected["lost"] == 3
    no_value_in(caplog.text, [project_value, inline])


def test_a_pod_name_taken_by_someone_else_is_not_adopted(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str
) -> None:
    """A 409 for a pod this launch did not create (another launch id) stays an error."""
    from kubernetes.client import models as k8s

    op = _operator("fixed", proxy_kubeconfig, kube_namespace, random_name_suffix=False)
    op.prepare_secrets()
    request = op.build_pod_request_obj()
    other = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=request.metadata.name, annotations={"airflow-secrets-provider/launch-id": "x"}),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox:1.36")]),
    )
    stored = core.create_namespaced_pod(kube_namespace, other)
    with pytest.raises(ApiException) as info:
        op.get_or_create_pod(request, context={})  # type: ignore[arg-type]
    assert info.value.status == 409
    assert core.read_namespaced_pod(request.metadata.name, kube_namespace).metadata.uid == stored.metadata.uid


def test_a_whole_execute_through_faults_succeeds_and_leaves_nothing(
    proxy: FaultProxy,
    proxy_kubeconfig: Path,
    core: CoreV1Api,
    kube_namespace: str,
    kubelet_standin: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """execute() from the checks to the pod's deletion, with faults on the creates, reads and deletes."""
    caplog.set_level(logging.INFO)
    ns = kube_namespace
    inline = value()
    # A real kubelet keeps a pod whose Secret is missing Pending and retries; the stand-in gives
    # up after reference_retry_seconds. KPO retries the lost create for about 15 s (its 409s)
    # before the pod is adopted and its Secret created, so the stand-in waits longer here.
    kubelet_standin.reference_retry_seconds = 120
    kubelet_standin.watch_and_run(ns)  # plays the kubelet, straight to the API server
    proxy.add("lost", method="POST", path=PODS_PATH)
    proxy.add("lost", method="POST", path=SECRETS_PATH)
    proxy.add("status", method="GET", path=PODS_PATH + "/", status=503, times=2)
    proxy.add("reset", method="GET", path=PODS_PATH + "/")
    proxy.add("lost", method="DELETE", path=SECRETS_PATH)
    proxy.add("lost", method="DELETE", path=PODS_PATH)
    op = _operator("whole", proxy_kubeconfig, ns, on_finish_action="delete_pod")
    op.with_secrets("inline", {"INLINE": inline})
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="faults",
        task_id="whole",
        run_id="r1",
        map_index=-1,
        try_number=1,
        xcom_push=lambda key, value, **_: pushed.__setitem__(key, value),
    )
    context: Any = {"ti": ti, "task_instance": ti, "run_id": "r1", "dag": SimpleNamespace()}
    error = outcome_in_thread(lambda: op.execute(context=context), "the call")
    assert error is None, repr(error)
    # The finished pod's Secret goes with it (ownerReference, garbage collector): a bounded wait.
    deadline = time.monotonic() + 60
    while core.list_namespaced_secret(ns, label_selector=f"{SECRET_ROLE_LABEL}=task").items:
        assert time.monotonic() < deadline, "the garbage collector did not delete the per-task Secret"
        time.sleep(0.2)
    deadline = time.monotonic() + 60
    while core.list_namespaced_pod(ns).items and time.monotonic() < deadline:
        time.sleep(0.5)
    assert core.list_namespaced_pod(ns).items == []
    assert [name for _ns, name, phase in kubelet_standin.finished if phase == "Succeeded"] == [op.pod.metadata.name]
    assert proxy.injected["lost"] == 4, proxy.log
    no_value_in(caplog.text, [inline])


# -- a launch that gives up leaves nothing ---------------------------------------------------------


def _labelled_context(task_id: str) -> Any:
    """A context whose task instance gives the pod KPO's dag_id/task_id/run_id labels (for the cleanup)."""
    ti = SimpleNamespace(
        dag_id="faults", task_id=task_id, run_id="r1", map_index=-1, try_number=1, xcom_push=lambda *a, **k: None
    )
    return {"ti": ti, "task_instance": ti, "run_id": "r1", "dag": SimpleNamespace()}


def _launch_in(op: SecretTaskOperator, context: Any) -> Any:
    op.prepare_secrets(context)
    return op.get_or_create_pod(op.build_pod_request_obj(context), context)


def _gone(core: CoreV1Api, namespace: str, what: str) -> None:
    """Bounded wait (a pod being deleted, or the garbage collector) until no pod and no per-task Secret."""
    deadline = time.monotonic() + 60
    while True:
        pods = [p.metadata.name for p in core.list_namespaced_pod(namespace).items]
        task_secrets = [
            s.metadata.name
            for s in core.list_namespaced_secret(namespace, label_selector=f"{SECRET_ROLE_LABEL}=task").items
        ]
        if not pods and not task_secrets:
            return
        assert time.monotonic() < deadline, f"{what}: left behind pods {pods} and Secrets {task_secrets}"
        time.sleep(0.5)


def test_a_launch_whose_pod_create_answers_are_all_lost_leaves_no_pod(
    proxy: FaultProxy, proxy_kubeconfig: Path, core: CoreV1Api, kube_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every create of the pod is applied and its answer lost: KPO gives up; the pod it made is deleted."""
    caplog.set_level(logging.INFO)
    inline = value()
    proxy.add("lost", method="POST", path=PODS_PATH, times=None)
    op = _operator(
        "lost-create", proxy_kubeconfig, kube_namespace, secrets=[with_secrets("inline", {"INLINE": inline})]
    )
    error = outcome_in_thread(lambda: _launch(op), "the launch")
    assert error is not None, "every create answer was lost: the launch cannot know its pod"
    assert proxy.injected["lost"] >= 1, proxy.log
    _gone(core, kube_namespace, "a launch whose pod create answers were lost")
    no_value_in(f"{error}\n{caplog.text}", [inline])


def test_a_hung_task_secret_create_leaves_nothing(
    proxy: FaultProxy,
    proxy_kubeconfig: Path,
    core: CoreV1Api,
    kube_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The per-task Secret's create is applied but never answered: the launch deletes the Secret and the pod."""
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__KUBE_REQUEST_TIMEOUT", "2")
    inline = value()
    proxy.add("hang", method="POST", path=SECRETS_PATH, times=None)
    op = _operator(
        "hung-secret", proxy_kubeconfig, kube_namespace, secrets=[with_secrets("inline", {"INLINE": inline})]
    )
    error = outcome_in_thread(lambda: _launch(op), "the launch")
    assert isinstance(error, KubernetesUnavailableError), repr(error)  # nothing left: the Secret's error stands
    assert proxy.injected["hang"] >= 1, proxy.log
    # Deleted by the launch itself before it failed, not left to the garbage collector (names
    # compared: a failing assert must not print a Secret's data).
    left = core.list_namespaced_secret(kube_namespace, label_selector=f"{SECRET_ROLE_LABEL}=task").items
    assert [s.metadata.name for s in left] == []
    _gone(core, kube_namespace, "a launch whose per-task Secret create hung")
    no_value_in(f"{error}\n{caplog.text}", [inline])


def test_a_pod_that_cannot_be_deleted_is_named_in_the_error_and_found_by_the_cleanup(
    proxy: FaultProxy,
    proxy_kubeconfig: Path,
    core: CoreV1Api,
    kube_namespace: str,
    kube_cluster: KubeCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """403 on the per-task Secret, 503 for ever on deleting the pod: the error names the pod; the cleanup removes it."""
    from airflow_secrets_provider.cleanup.rules import TaskStates
    from airflow_secrets_provider.cleanup.run import run_cleanup
    from airflow_secrets_provider.operators.launch_rollback import LaunchLeftoversError

    caplog.set_level(logging.INFO)
    inline = value()
    proxy.add("status", method="POST", path=SECRETS_PATH, status=403, times=None)
    proxy.add("status", method="DELETE", path=PODS_PATH, status=503, times=None)
    op = _operator(
        "undeletable", proxy_kubeconfig, kube_namespace, secrets=[with_secrets("inline", {"INLINE": inline})]
    )
    context = _labelled_context("undeletable")
    error = outcome_in_thread(lambda: _launch_in(op, context), "the launch")
    assert isinstance(error, LaunchLeftoversError), repr(error)
    (pod,) = core.list_namespaced_pod(kube_namespace).items
    assert error.leftovers == [f"Pod {pod.metadata.name!r}"], error.leftovers
    message = str(error)
    assert pod.metadata.name in message and "airflow-secrets cleanup" in message and "403" in message, message
    left = core.list_namespaced_secret(kube_namespace, label_selector=f"{SECRET_ROLE_LABEL}=task").items
    assert [s.metadata.name for s in left] == []
    no_value_in(f"{message}\n{caplog.text}", [inline])

    # What `airflow-secrets cleanup` runs, straight to the API server, once the task instance has
    # ended (the metadata DB's answer given as Airflow would: this task instance failed).
    def ended(keys: Any) -> TaskStates:
        return TaskStates.build(["faults"], [("faults", "undeletable", "r1", -1, "failed")])

    with kube_cluster.api_client() as admin_client:
        hook = SecretsKubernetesHook.for_client(CoreV1Api(admin_client))
        report = run_cleanup(hook, [kube_namespace], ended)
    assert [(d.kind, d.name) for d in report.deleted] == [("Pod", pod.metadata.name)], report
    _gone(core, kube_namespace, "the cleanup after a launch that could not delete its pod")
