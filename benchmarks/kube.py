"""Scenarios against a real API server: the devstack control plane (``scripts/kube-node.sh start
--no-node``) with the kubelet stand-in moving pods to Succeeded. Requests are counted at the
client (every kubernetes-client HTTP request made by the benchmark's own thread: the stand-in's
requests come from its threads and are not counted).

* K ids held in one Secret: ``ChainedSecretsBackend`` (kubernetes source, project Secret) vs
  cncf.kubernetes' ``KubernetesSecretsBackend`` (one labelled Secret per id);
* one task's launch: ``SecretTaskOperator.execute`` (project + inline values, so a per-task
  Secret) vs ``KubernetesPodOperator.execute`` with native ``Secret`` references;
* 5 fields of an Airflow connection: ``with_secrets("airflow", ...)`` vs KPO with
  ``{{ conn.<id>.<field> }}`` in ``env_vars`` (requests per launch, and where the values end up).
"""

from __future__ import annotations

import base64
import secrets as token_source
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.harness import Result, interleaved_measures, summarize
from tests.support.kube_requests import recording_requests


@contextmanager
def counting_requests() -> Iterator[Counter[str]]:
    """Count the kubernetes client's requests made by this thread (see tests/support/kube_requests.py)."""
    counts: Counter[str] = Counter()
    with recording_requests() as seen:
        try:
            yield counts
        finally:
            counts.update(seen)


class Cluster:
    """The local control plane for the duration of the kube scenarios."""

    def __init__(self) -> None:
        from devstack.kube_cluster import cluster_from_kubeconfig_env, start_local_cluster

        self._tmp = tempfile.TemporaryDirectory(prefix="asp-bench-kube-")
        self.cluster = cluster_from_kubeconfig_env() or start_local_cluster(Path(self._tmp.name), node=False)
        self.client = self.cluster.api_client()

    @property
    def kubeconfig(self) -> str:
        return str(self.cluster.kubeconfig)

    def namespace(self, prefix: str) -> str:
        from devstack.kube_cluster import create_namespace

        return create_namespace(self.client, prefix)

    def close(self) -> None:
        self.client.close()
        self.cluster.stop()
        self._tmp.cleanup()


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


class _TaskInstance:
    """What KubernetesPodOperator reads of its task instance (labels, XCom of the pod's name).

    The benchmark calls ``execute`` directly, outside the task runner, for both operators alike.
    """

    def __init__(self, task_id: str) -> None:
        self.dag_id, self.task_id, self.map_index, self.try_number = "bench", task_id, -1, 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def task_context(task_id: str) -> Any:
    return {"ti": _TaskInstance(task_id), "run_id": "bench", "dag": object()}


def one_secret_many_ids(cluster: Cluster, ids: int = 20, repeats: int = 5) -> Result:
    from airflow.providers.cncf.kubernetes.secrets.kubernetes_secrets_backend import KubernetesSecretsBackend
    from kubernetes.client import CoreV1Api
    from kubernetes.client import models as k8s

    from airflow_secrets_provider.kube.projects import ProjectSecretsStore
    from airflow_secrets_provider.secrets import ChainedSecretsBackend

    core = CoreV1Api(cluster.client)
    namespace = cluster.namespace("asp-bench-ids")
    keys = [f"key_{i}" for i in range(ids)]
    ProjectSecretsStore(core, namespace).set_secrets(
        "bench", {f"AIRFLOW_VAR_{k.upper()}": token_source.token_hex(16) for k in keys}
    )
    for key in keys:
        core.create_namespaced_secret(
            namespace,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(
                    name=f"var-{key.replace('_', '-')}", labels={KubernetesSecretsBackend.DEFAULT_VARIABLES_LABEL: key}
                ),
                data={"value": _b64(token_source.token_hex(16))},
            ),
        )
    counts: dict[str, dict[str, int]] = {}
    source = {"kind": "kubernetes", "project": "bench", "namespace": namespace, "kube_config": cluster.kubeconfig}

    def ours() -> float:
        backend = ChainedSecretsBackend(sources=[source])
        kube_source: Any = backend.sources[0]
        kube_source.hook.core_v1_client  # noqa: B018  (the client is built outside the timing, as cncf's)
        with counting_requests() as requests:
            start = time.perf_counter()
            for key in keys:
                assert backend.get_variable(key) is not None
            elapsed = time.perf_counter() - start
        counts["ours"] = dict(requests)
        return elapsed

    def cncf() -> float:
        # team_label=None: the 1.20 API server here rejects its "!team" selector; one list per id either way
        backend = KubernetesSecretsBackend(namespace=namespace, team_label=None)
        backend.client = CoreV1Api(cluster.client)  # its own client is in-cluster only
        with counting_requests() as requests:
            start = time.perf_counter()
            for key in keys:
                assert backend.get_variable(key) is not None
            elapsed = time.perf_counter() - start
        counts["KubernetesSecretsBackend"] = dict(requests)
        return elapsed

    pairs = interleaved_measures(ours, cncf, repeats=repeats)
    core.delete_namespace(namespace)
    return summarize(
        f"{ids} ids held in one Secret, cold cache",
        "ChainedSecretsBackend (kubernetes source)",
        "KubernetesSecretsBackend (cncf.kubernetes)",
        pairs,
        target="1 GET per TTL for all ids",
        counts=counts,
        note="cncf's backend stores one labelled Secret per id and lists by label per lookup",
    )


def launch(cluster: Cluster, repeats: int = 5) -> Result:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import CoreV1Api
    from kubernetes.client import models as k8s

    from airflow_secrets_provider import SecretTaskOperator, with_secrets
    from airflow_secrets_provider.kube.projects import ProjectSecretsStore
    from devstack.kubelet_standin import KubeletStandIn

    core = CoreV1Api(cluster.client)
    namespace = cluster.namespace("asp-bench-launch")
    ProjectSecretsStore(core, namespace).set_secrets("bench", {"DB_PASSWORD": token_source.token_hex(16)})
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="db-creds"), data={"password": _b64(token_source.token_hex(16))}),
    )
    common: dict[str, Any] = {
        "image": "busybox:1.36",
        "cmds": ["sh", "-c", "true"],
        "namespace": namespace,
        "config_file": cluster.kubeconfig,
        "in_cluster": False,
        "get_logs": False,
        "startup_timeout_seconds": 60,
        "startup_check_interval_seconds": 1,
        "poll_interval": 1,
    }
    counts: dict[str, list[dict[str, int]]] = {"ours": [], "KubernetesPodOperator": []}
    kubelet = KubeletStandIn(core, running_seconds=0.2)
    kubelet.watch_and_run(namespace)

    def run(kind: str, op: Any) -> float:
        context = task_context(op.task_id)
        with counting_requests() as requests:
            start = time.perf_counter()
            op.execute(context=context)
            elapsed = time.perf_counter() - start
        counts[kind].append(dict(requests))
        return elapsed

    def ours() -> float:
        op = SecretTaskOperator(
            task_id=f"ours-{token_source.token_hex(3)}",
            project="bench",
            secrets=[with_secrets("inline", {"API_TOKEN": token_source.token_hex(16)})],
            **common,
        )
        return run("ours", op)

    def kpo() -> float:
        op = KubernetesPodOperator(
            task_id=f"kpo-{token_source.token_hex(3)}",
            secrets=[Secret("env", "DB_PASSWORD", "db-creds", "password")],
            **common,
        )
        return run("KubernetesPodOperator", op)

    try:
        pairs = interleaved_measures(ours, kpo, repeats=repeats)
    finally:
        kubelet.stop()
        core.delete_namespace(namespace)
    totals = {kind: sorted(sum(c.values()) for c in runs) for kind, runs in counts.items()}
    return summarize(
        "one task's launch (execute to pod Succeeded)",
        "SecretTaskOperator (project + inline value)",
        "KubernetesPodOperator + native Secret",
        pairs,
        target="<= 3 requests more than KPO; no pod read after create",
        counts={
            "requests per launch, median (ours, KPO)": [t[len(t) // 2] for t in totals.values()],
            "ours, last run": counts["ours"][-1],
            "KPO, last run": counts["KubernetesPodOperator"][-1],
        },
        note="pod status polls (GET pods/<name>) depend on timing; they are the same loop for both",
    )


#: The five connection fields both sides give the pod.
CONNECTION_FIELDS = ("host", "port", "login", "password", "schema")


def connection_fields(cluster: Cluster, repeats: int = 5) -> Result:
    """5 fields of one Airflow connection into a pod: ``with_secrets("airflow", ...)`` vs plain KPO
    with ``{{ conn.<id>.<field> }}`` templated into ``env_vars``.

    Both look the connection up through the Task SDK (here Airflow's ``AIRFLOW_CONN_*`` env var
    backend, as in a task). Besides time and API requests per launch, it counts where the values
    end up: environment entries of the pod spec the API server stores that hold a value, and
    rendered template fields holding a value after Airflow's own ``serialize_template_field``
    (what it stores in ``rendered_task_instance_fields`` and shows under "Rendered Template").
    """
    import json
    import os

    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk.execution_time.context import ConnectionAccessor
    from airflow.serialization.helpers import serialize_template_field
    from kubernetes.client import ApiClient, CoreV1Api

    from airflow_secrets_provider import SecretTaskOperator, with_secrets
    from devstack.kubelet_standin import KubeletStandIn

    core = CoreV1Api(cluster.client)
    namespace = cluster.namespace("asp-bench-conn")
    conn_id = "bench_db"
    fields = {
        "host": f"db-{token_source.token_hex(8)}.internal",
        "port": 20000 + token_source.randbelow(20000),
        "login": f"user-{token_source.token_hex(8)}",
        "password": token_source.token_hex(16),
        "schema": f"schema_{token_source.token_hex(8)}",
    }
    values = {name: str(value) for name, value in fields.items()}
    env_var = f"AIRFLOW_CONN_{conn_id.upper()}"
    saved = os.environ.get(env_var)
    os.environ[env_var] = json.dumps({"conn_type": "postgres", **fields})
    common: dict[str, Any] = {
        "image": "busybox:1.36",
        "cmds": ["sh", "-c", "true"],
        "namespace": namespace,
        "config_file": cluster.kubeconfig,
        "in_cluster": False,
        "get_logs": False,
        "on_finish_action": "keep_pod",  # the stored spec is read back, then deleted outside the timing
        "startup_timeout_seconds": 60,
        "startup_check_interval_seconds": 1,
        "poll_interval": 1,
    }
    names = {name: f"DB_{name.upper()}" for name in CONNECTION_FIELDS}
    counts: dict[str, list[dict[str, int]]] = {"ours": [], "KubernetesPodOperator": []}
    places: dict[str, dict[str, int]] = {}
    kubelet = KubeletStandIn(core, running_seconds=0.2)
    kubelet.watch_and_run(namespace)

    def where_values_are(kind: str, op: Any) -> None:
        (pod,) = [
            p for p in core.list_namespaced_pod(namespace).items if p.metadata.labels.get("task_id") == op.task_id
        ]
        env = [e for c in pod.spec.containers for e in (c.env or [])]
        stored = json.dumps(ApiClient().sanitize_for_serialization(pod))
        rendered = {name: serialize_template_field(getattr(op, name), name) for name in op.template_fields}
        places[kind] = {
            "pod spec env entries holding a value": sum(1 for e in env if e.value in values.values()),
            "random values found in the stored pod": sum(1 for k, v in values.items() if k != "port" and v in stored),
            "rendered template fields holding a value": sum(
                1 for text in map(str, rendered.values()) if any(v in text for k, v in values.items() if k != "port")
            ),
        }
        core.delete_namespaced_pod(pod.metadata.name, namespace)

    def run(kind: str, op: Any) -> float:
        context = {**task_context(op.task_id), "conn": ConnectionAccessor()}
        with counting_requests() as requests:
            start = time.perf_counter()
            op.render_template_fields(context)
            op.execute(context=context)
            elapsed = time.perf_counter() - start
        counts[kind].append(dict(requests))
        where_values_are(kind, op)
        return elapsed

    def ours() -> float:
        refs = {env: f"conn:{conn_id}.{name}" for name, env in names.items()}
        op = SecretTaskOperator(
            task_id=f"ours-{token_source.token_hex(3)}", secrets=[with_secrets("airflow", refs)], **common
        )
        return run("ours", op)

    def kpo() -> float:
        env_vars = {env: f"{{{{ conn.{conn_id}.{name} }}}}" for name, env in names.items()}
        op = KubernetesPodOperator(task_id=f"kpo-{token_source.token_hex(3)}", env_vars=env_vars, **common)
        return run("KubernetesPodOperator", op)

    try:
        pairs = interleaved_measures(ours, kpo, repeats=repeats)
    finally:
        kubelet.stop()
        core.delete_namespace(namespace)
        if saved is None:
            del os.environ[env_var]
        else:
            os.environ[env_var] = saved
    totals = {kind: sorted(sum(c.values()) for c in runs) for kind, runs in counts.items()}
    return summarize(
        "5 fields of an Airflow connection into a pod (render + execute to pod Succeeded)",
        'SecretTaskOperator + with_secrets("airflow", ...)',
        "KubernetesPodOperator + {{ conn.<id>.<field> }} in env_vars",
        pairs,
        target="0 places holding a value; <= 3 requests more than KPO (presets list, Secret create and, pod kept, delete)",
        counts={
            "requests per launch, median (ours, KPO)": [t[len(t) // 2] for t in totals.values()],
            "ours, last run": counts["ours"][-1],
            "KPO, last run": counts["KubernetesPodOperator"][-1],
            "places, ours": places["ours"],
            "places, KPO": places["KubernetesPodOperator"],
        },
        note="the pod is kept to read its stored spec back (outside the timing); KPO's cleanup requests differ by that",
    )
