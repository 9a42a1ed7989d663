"""A Python task reads a connection and variables through the secrets backend.

With ``ChainedSecretsBackend`` configured, ``BaseHook.get_connection`` and ``Variable.get`` are
answered by its sources: here ``demo_db`` and ``demo_api_token`` come from the local file source,
``feature_store_token`` from the project's Kubernetes Secret (key
``AIRFLOW_VAR_FEATURE_STORE_TOKEN``). The task prints them on purpose: every value the backend
returns is registered with Airflow's masker, so the task log shows ``***``.
"""

from __future__ import annotations

import pendulum
from _asp_examples import TAGS
from airflow.sdk import DAG, BaseHook, Variable, task

with DAG(
    dag_id="example_backend_lookup",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "secrets-backend"],
    doc_md=__doc__,
) as dag:

    @task
    def read_through_backend() -> None:
        conn = BaseHook.get_connection("demo_db")
        print(f"connection demo_db: host={conn.host} login={conn.login} password={conn.password}", flush=True)
        print(f"variable demo_api_token: {Variable.get('demo_api_token')}", flush=True)
        print(f"variable feature_store_token: {Variable.get('feature_store_token')}", flush=True)

    read_through_backend()
