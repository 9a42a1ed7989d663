"""A Secret chosen by a DAG param: ``dev-secret`` or ``prod-secret``, through a template.

Secret names, keys and mount paths may be Jinja templates; they are rendered and checked when
the task runs, before anything is created. Trigger with ``{"env": "prod"}`` (the UI's
"Trigger DAG w/ config") to read ``prod-secret`` instead of ``dev-secret``.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PULL_POLICY, TAGS, proof_command
from airflow.sdk import DAG, Param

from airflow_secrets_provider import SecretTaskOperator

with DAG(
    dag_id="example_templated_secret_name",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"env": Param("dev", enum=["dev", "prod"], description="which environment's Secret to use")},
    tags=[*TAGS, "templates"],
    doc_md=__doc__,
) as dag:
    deploy = SecretTaskOperator(
        task_id="deploy",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        **proof_command("APP_SECRET"),
    )
    deploy.set_env_from_secret("APP_SECRET", secret="{{ params.env }}-secret", secret_key="secret1")
