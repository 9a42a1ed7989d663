"""The compose test's DAG (tests/test_compose.py): credentials only through ChainedSecretsBackend.

In the compose stack the backend's `kubernetes` source reads the example project's Secret
(airflow-project-secrets-fraud), which kube-init filled from ``.env``. The task prints the
values it got, which the task log must show as ``***``, and their SHA-256, which lets the
test check the task saw the right values without any value leaving the task.
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

    read_through_backend()
