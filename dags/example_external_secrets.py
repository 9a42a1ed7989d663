"""Externally managed Secrets, as environment variables and as files.

Secrets someone else manages (here ``warehouse-creds`` and ``tls-certs`` in the namespace) are
referenced, never copied: ``set_env_from_secret`` maps one key to an env var, ``mount_secret``
mounts chosen keys as files.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PULL_POLICY, TAGS, proof_command
from airflow.sdk import DAG

from airflow_secrets_provider import SecretTaskOperator

with DAG(
    dag_id="example_external_secrets",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "external-secrets"],
    doc_md=__doc__,
) as dag:
    load = SecretTaskOperator(
        task_id="load_warehouse",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        **proof_command("WAREHOUSE_USER", "WAREHOUSE_PASSWORD", "/etc/tls/tls.crt", "/etc/tls/tls.key"),
    )
    load.set_env_from_secret("WAREHOUSE_USER", secret="warehouse-creds", secret_key="username")
    load.set_env_from_secret("WAREHOUSE_PASSWORD", secret="warehouse-creds", secret_key="password")
    load.mount_secret("tls-certs", "/etc/tls", items=["tls.crt", "tls.key"])
