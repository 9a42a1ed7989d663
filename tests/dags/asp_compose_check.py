"""The compose test's DAG (tests/test_compose.py): credentials only through ChainedSecretsBackend.

In the compose stack the backend's `kubernetes` source reads the example project's Secret
(airflow-project-secrets-fraud), which kube-init filled from ``.env``. The first task prints the
values it got, which the task log must show as ``***``, and their SHA-256, which lets the
test check the task saw the right values without any value leaving the task. The second lists the project Secret's keys through the
``kubernetes_default`` connection, the one KubernetesPodOperator uses.
"""

from __future__ import annotations

import hashlib

import pendulum
from airflow.sdk import DAG, BaseHook, Variable, task


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


with DAG(
    dag_id="asp_compose_check",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-secrets-provider", "test"],
) as dag:

    @task
    def read_through_backend() -> None:
        variable = Variable.get("compose_canary")
        password = BaseHook.get_connection("compose_db").password or ""
        print(f"VARIABLE={variable}")
        print(f"VARIABLE_SHA256={digest(variable)}")
        print(f"CONN_PASSWORD={password}")
        print(f"CONN_PASSWORD_SHA256={digest(password)}")

    @task
    def cluster_through_kubernetes_default() -> None:
        # The stack's `kubernetes_default` connection (what KubernetesPodOperator uses) reaches
        # the cluster kube-init prepared: list the project Secret's keys, never its values.
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        secret = KubernetesHook(conn_id="kubernetes_default").core_v1_client.read_namespaced_secret(
            "airflow-project-secrets-fraud", "ml"
        )
        print(f"PROJECT_KEYS={','.join(sorted(secret.data or {}))}")

    read_through_backend()
    cluster_through_kubernetes_default()
