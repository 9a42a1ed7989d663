"""An Airflow connection and a variable delivered into a pod, never into its spec.

``with_secrets("airflow", {...})`` asks for connection fields and variables by name. Nothing is
read while this file is parsed; when the task runs, the worker looks them up as any task does
(``Connection.get`` / ``Variable.get``: the metadata DB and every configured secrets backend;
here ``demo_db`` and ``demo_api_token`` come from ``ChainedSecretsBackend``'s file source),
registers every value with Airflow's masker and writes them into the task's own Kubernetes Secret,
owned by the pod. The pod spec and the rendered template fields hold only ``secretKeyRef``s.

* ``"conn:demo_db.password"``: one field (``host``, ``port``, ``login``, ``password``,
  ``schema``, ``uri``, ``extra``, ``extra.<key>``); ``"conn:demo_db"`` is its URI;
* ``"conn:demo_db.*"`` under ``DEMO_DB``: ``DEMO_DB_HOST``, ``DEMO_DB_PORT``, ``DEMO_DB_LOGIN``,
  ``DEMO_DB_PASSWORD``, ``DEMO_DB_SCHEMA``, ``DEMO_DB_URI``, ``DEMO_DB_EXTRA_<KEY>`` per extra key;
* ``"var:demo_api_token"``: a variable.

The container prints a SHA-256 proof of the password and the token, then the values themselves,
on purpose: the task log shows ``***`` for them.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PROOF, PULL_POLICY, TAGS
from airflow.sdk import DAG

from airflow_secrets_provider import SecretTaskOperator, with_secrets

#: The proof lines, then each value in clear: Airflow masks them in the task log.
PRINT_VALUES = PROOF + "\nfor name in sys.argv[1:]:\n    print(name, 'value:', os.environ.get(name), flush=True)\n"

with DAG(
    dag_id="example_connection_to_pod",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "airflow-connections"],
    doc_md=__doc__,
) as dag:
    SecretTaskOperator(
        task_id="use_connection",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        cmds=["python3", "-c", PRINT_VALUES],
        arguments=["DB_PASSWORD", "API_TOKEN"],
        secrets=[
            with_secrets(
                "airflow",
                {
                    "DB_PASSWORD": "conn:demo_db.password",
                    "DB_URI": "conn:demo_db",
                    "API_TOKEN": "var:demo_api_token",
                },
            ),
        ],
    ).with_secrets("airflow", {"DEMO_DB": "conn:demo_db.*"})  # DEMO_DB_HOST, DEMO_DB_PORT ... of the same connection
