"""The ``pods`` tier for the ``airflow`` provider: connections and variables reach real containers.

One supervised task (``airflow tasks test``: the Task SDK's own lookups, the supervisor's
masker) runs one pod on the real node. It asks, with ``with_secrets("airflow", ...)``, for every
field of four connections and for each whole connection, and for a variable, each held in a
different place Airflow looks:

* the metadata DB (found through the Execution API, as in any task);
* Airflow's ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment variables of the worker;
* ``ChainedSecretsBackend``'s ``file`` source;
* ``ChainedSecretsBackend``'s ``kubernetes`` source (a Secret on the same cluster).

The container reports the SHA-256 of what it received (never the value); the test compares each
with what Airflow's own ``Connection.get_uri()`` / field gives. The pod spec holds references
only, the task log shows ``***`` for the values the container prints, and the per-task Secret
goes with the pod.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client import models as k8s

from airflow_secrets_provider import with_secrets
from airflow_secrets_provider.providers.airflow import WHOLE, whole_env_name
from devstack.kube_cluster import KubeCluster
from tests.conftest import run_dag_from_module
from tests.support.waiting import wait_for
from tests.test_pods import airflow_tasks_test, pod_report, report_operator, sha, task_secrets

pytestmark = [pytest.mark.pods, pytest.mark.airflow]


@pytest.fixture
def job_image(kube_node: KubeCluster) -> str:
    assert kube_node.job_image, "a node cluster always names its job image"
    return kube_node.job_image


#: Where each connection lives -> the prefix of its env vars in the pod.
PLACES = {"meta": "META", "env": "ENVC", "file": "FILEC", "kube": "KUBEC"}
EXPLICIT = ("host", "port", "login", "password", "schema", "uri", "extra")


def conn_fields(place: str) -> dict[str, Any]:
    """A connection with every field set; the password has characters a URI must quote."""
    return {
        "conn_type": "postgres",
        "host": f"{place}-db.example.internal",
        "port": 5432,
        "login": f"user-{place}",
        "password": f"{secrets.token_hex(16)}/@:{place}",
        "schema": f"{place}_schema",
        "extra": json.dumps({"region": secrets.token_hex(16), "sslmode": "require", "pool": 7}),
    }


def references(ids: dict[str, str], var_ids: dict[str, str]) -> dict[str, Any]:
    """Every field of every connection, each whole connection, and each variable."""
    refs: dict[str, Any] = {}
    for place, prefix in PLACES.items():
        for field in EXPLICIT:
            refs[f"{prefix}_F_{field.upper()}"] = f"conn:{ids[place]}.{field}"
        refs[f"{prefix}_F_EXTRA_REGION"] = f"conn:{ids[place]}.extra.region"
        refs[f"{prefix}_F_BARE"] = f"conn:{ids[place]}"
        refs[f"{prefix}_W"] = f"conn:{ids[place]}.*"
        refs[f"{prefix}_VAR"] = f"var:{var_ids[place]}"
    refs["FILE_JSON_REGION"] = {"var": var_ids["json"], "deserialize_json": True, "path": "cloud.region"}
    return refs


def expected_env(fields: dict[str, dict[str, Any]], variables: dict[str, str]) -> dict[str, str]:
    """env name -> value, as Airflow's own Connection gives each field."""
    from airflow.sdk import Connection

    out: dict[str, str] = {}
    for place, prefix in PLACES.items():
        f = fields[place]
        uri = Connection(conn_id="x", **f).get_uri()
        extra = json.loads(f["extra"])
        given = {**{k: str(f[k]) for k in EXPLICIT if k not in ("uri",)}, "uri": uri}
        for field in EXPLICIT:
            out[f"{prefix}_F_{field.upper()}"] = given[field]
        out[f"{prefix}_F_EXTRA_REGION"] = extra["region"]
        out[f"{prefix}_F_BARE"] = uri
        for field in WHOLE:
            out[whole_env_name(f"{prefix}_W", field)] = given[field]
        for key, value in extra.items():
            out[whole_env_name(f"{prefix}_W", f"extra_{key}")] = value if isinstance(value, str) else json.dumps(value)
        out[f"{prefix}_VAR"] = variables[place]
    out["FILE_JSON_REGION"] = json.loads(variables["json"])["cloud"]["region"]
    return out


def build_airflow_conns_dag(
    dag_id: str, kubeconfig: str, namespace: str, job_image: str, refs: dict[str, Any], env_names: list[str]
) -> DAG:
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        report_operator(
            "printer",
            kubeconfig=kubeconfig,
            namespace=namespace,
            job_image=job_image,
            spec={"env": env_names, "print": ["META_F_PASSWORD", "KUBEC_W_PASSWORD", "FILEC_VAR", "ENVC_F_URI"]},
            secrets=[with_secrets("airflow", refs)],
        )
    return dag


def test_connections_and_variables_from_every_place_reach_the_pod(
    kube_node: KubeCluster,
    node_namespace: str,
    node_core: CoreV1Api,
    job_image: str,
    airflow_db: None,
    dags_folder: Path,
    tmp_path: Path,
) -> None:
    from airflow.models import Connection as DbConnection
    from airflow.models import Variable as DbVariable
    from airflow.utils.session import create_session

    core, ns = node_core, node_namespace
    suffix = ns.replace("-", "_")
    ids = {place: f"{place}_db_{suffix}" for place in PLACES}
    var_ids = {place: f"{place}_var_{suffix}" for place in [*PLACES, "json"]}
    fields = {place: conn_fields(place) for place in PLACES}
    variables = {place: secrets.token_hex(16) for place in PLACES}
    variables["json"] = json.dumps({"cloud": {"region": secrets.token_hex(16)}})

    # The metadata DB.
    with create_session() as session:
        session.add(DbConnection(conn_id=ids["meta"], **fields["meta"]))
        session.add(DbVariable(key=var_ids["meta"], val=variables["meta"]))
    # The backend's file source.
    conns_file, vars_file = tmp_path / "connections.json", tmp_path / "variables.json"
    conns_file.write_text(json.dumps({ids["file"]: fields["file"]}))
    vars_file.write_text(json.dumps({var_ids["file"]: variables["file"], var_ids["json"]: variables["json"]}))
    # The backend's kubernetes source: keys as Airflow's env backend spells them.
    core.create_namespaced_secret(
        ns,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="airflow-lookups"),
            string_data={
                f"AIRFLOW_CONN_{ids['kube'].upper()}": json.dumps(fields["kube"]),
                f"AIRFLOW_VAR_{var_ids['kube'].upper()}": variables["kube"],
            },
        ),
    )
    backend = {
        "sources": [
            {"kind": "file", "connections_file": str(conns_file), "variables_file": str(vars_file)},
            {
                "kind": "kubernetes",
                "secret": "airflow-lookups",
                "namespace": ns,
                "kube_config": str(kube_node.kubeconfig),
            },
        ]
    }
    worker_env = {
        "AIRFLOW__SECRETS__BACKEND": "airflow_secrets_provider.secrets.ChainedSecretsBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(backend),
        f"AIRFLOW_CONN_{ids['env'].upper()}": json.dumps(fields["env"]),
        f"AIRFLOW_VAR_{var_ids['env'].upper()}": variables["env"],
    }
    refs = references(ids, var_ids)
    want = expected_env(fields, variables)
    dag_id = f"airflow_conns_{suffix}"
    args = {
        "kubeconfig": str(kube_node.kubeconfig),
        "namespace": ns,
        "job_image": job_image,
        "refs": refs,
        "env_names": sorted(want),
    }
    (dags_folder / f"{dag_id}.py").write_text(
        "# airflow DAG file written by the tests\n"
        "from tests.test_pods_airflow_conns import build_airflow_conns_dag\n\n"
        f"dag = build_airflow_conns_dag({dag_id!r}, **{args!r})\n",
        encoding="utf-8",
    )
    values = [*(str(f["password"]) for f in fields.values()), *variables.values()]
    values += [json.loads(f["extra"])["region"] for f in fields.values()]
    try:
        proc = airflow_tasks_test(dag_id, worker_env)
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, output[-4000:]
        # The container printed four values in clear: the task log shows the mask for each.
        printed = [line for line in output.splitlines() if "value:" in line]
        assert [re.search(r"value: (\S+)", line)[1] for line in printed] == ["***"] * 4, printed  # type: ignore[index]
        assert not [v for v in values if v in output], "a value reached the task log"
        # Every field, whole connection and variable arrived, with the value Airflow gives.
        logged = [line for line in output.splitlines() if "RESULT " in line]
        assert len(logged) == 1, output[-4000:]
        report = json.loads(logged[0].split("RESULT ", 1)[1])
        assert report["env"] == {name: sha(value) for name, value in want.items()}
        # The pod (kept) holds references only; its Secret goes with it.
        (pod,) = core.list_namespaced_pod(ns).items
        stored = json.dumps(ApiClient().sanitize_for_serialization(pod))
        assert not [v for v in values if v in stored], "a value is stored in the pod spec"
        assert pod_report(core, ns, pod.metadata.name)["env"] == report["env"]
        core.delete_namespaced_pod(pod.metadata.name, ns)
        wait_for(lambda: task_secrets(core, ns) == [], "the per-task Secret to go with its pod")
    finally:
        with create_session() as session:
            session.query(DbConnection).filter(DbConnection.conn_id == ids["meta"]).delete()
            session.query(DbVariable).filter(DbVariable.key == var_ids["meta"]).delete()


def build_missing_conn_dag(dag_id: str, kubeconfig: str, namespace: str, job_image: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        report_operator(
            "printer",
            kubeconfig=kubeconfig,
            namespace=namespace,
            job_image=job_image,
            spec={"env": ["OK", "DB_PASSWORD"]},
            secrets=[
                with_secrets("inline", {"OK": secrets.token_hex(8)}),
                with_secrets("airflow", {"DB_PASSWORD": "conn:no_such_conn_anywhere.password"}),
            ],
        )
    return dag


def test_a_missing_connection_fails_before_anything_is_created(
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
        "tests.test_pods_airflow_conns:build_missing_conn_dag",
        dag_id=f"missing_conn_{node_namespace}".replace("-", "_"),
        kubeconfig=str(kube_node.kubeconfig),
        namespace=node_namespace,
        job_image=job_image,
    )
    assert [ti.state for ti in run.get_task_instances()] == ["failed"]
    out, err = capfd.readouterr()
    failure = (out + err).split("Task failed with exception", 1)[-1]
    assert "SecretTaskNotFoundError" in failure, failure[-3000:]
    assert "task 'printer', env var 'DB_PASSWORD'" in failure and "'no_such_conn_anywhere'" in failure, failure[-3000:]
    # Nothing was created: no pod, no per-task Secret.
    assert node_core.list_namespaced_pod(node_namespace).items == []
    assert task_secrets(node_core, node_namespace) == []
