"""Pachyderm's pipeline-spec form: secrets described as plain dicts.

``{"name", "envVar", "key"}`` maps one key of a Secret to an env var (``env_var`` works too);
``{"name", "mount_path"}`` mounts the whole Secret as files. Pipelines ported from Pachyderm keep
their secret sections as they are.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PULL_POLICY, TAGS, proof_command
from airflow.sdk import DAG

from airflow_secrets_provider import SecretTaskOperator

with DAG(
    dag_id="example_pachyderm_form",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "pachyderm"],
    doc_md=__doc__,
) as dag:
    SecretTaskOperator(
        task_id="pipeline_step",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        secrets=[
            {"name": "clearml", "envVar": "CLEARML_API_ACCESS_KEY", "key": "access"},
            {"name": "tls-certs", "mount_path": "/pfs/secrets/tls"},
        ],
        **proof_command("CLEARML_API_ACCESS_KEY", "/pfs/secrets/tls/tls.key"),
    )
