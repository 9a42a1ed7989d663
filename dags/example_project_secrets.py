"""Project secrets for a training job: every key of the project reaches the pod.

The project ``fraud`` keeps its secrets in one Kubernetes Secret,
``airflow-project-secrets-fraud``. A task that names the project and asks for nothing in
particular gets all of its keys as environment variables (``envFrom``, as in MLRun): the pod
spec holds a reference to the Secret, never a value.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PROJECT, PULL_POLICY, TAGS, proof_command
from airflow.sdk import DAG

from airflow_secrets_provider import SecretTaskOperator

with DAG(
    dag_id="example_project_secrets",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "project-secrets"],
    doc_md=__doc__,
) as dag:
    SecretTaskOperator(
        task_id="train",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        project=PROJECT,
        **proof_command("AWS_KEY", "DB_PASSWORD"),
    )
