"""A DAG whose tasks get credentials only through ChainedSecretsBackend (tests/test_backend_airflow.py).

Each task appends what it saw as one JSON line to ``$ASP_BACKEND_TEST_OUTPUT``, a side channel
outside Airflow (no XCom, no logs), so the test can check the values that reached the task
while checking separately that Airflow's own output shows only ``***``.
"""

from __future__ import annotations

import json
import os

import pendulum
from airflow.sdk import DAG, BaseHook, Variable, task


def record(**values: object) -> None:
    path = os.environ.get("ASP_BACKEND_TEST_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(values) + "\n")


with DAG(
    dag_id="asp_backend_chain",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:

    @task
    def lookups() -> None:
        record(
            task="lookups",
            kv_conn_password=BaseHook.get_connection("kv_conn").password,
            file_conn_password=BaseHook.get_connection("file_conn").password,
            kv_var=Variable.get("kv_var"),
            file_var=Variable.get("file_var"),
            kv_json_token=Variable.get("kv_json", deserialize_json=True)["token"],
        )

    @task
    def templated(conn_password: str, var_value: str) -> None:
        record(task="templated", conn_password=conn_password, var_value=var_value)

    @task
    def log_values() -> None:
        # Printed, not logged: ``airflow tasks test`` masks task stdout (RedactedIO) but, in
        # Airflow 3.3.2, not log records of the in-process task, even for Airflow's own
        # connection passwords (real task logs are masked by the supervisor).
        print(f"PRINTED_VAR={Variable.get('kv_var')}")
        print(f"PRINTED_FILE_VAR={Variable.get('file_var')}")
        print(f"PRINTED_LEAF={Variable.get('kv_json', deserialize_json=True)['token']}")
        print(f"PRINTED_CONN={BaseHook.get_connection('kv_conn').password}")
        print(f"PRINTED_FILE_CONN={BaseHook.get_connection('file_conn').password}")
        record(task="log_values", done=True)

    lookups()
    templated("{{ conn.kv_conn.password }}", "{{ var.value.kv_var }}")
    log_values()


if __name__ == "__main__":
    dag.test()
