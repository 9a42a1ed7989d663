"""A subset of a project's keys: the task asks for ``DB_PASSWORD`` and gets only that.

``with_secrets("kubernetes", [...])`` narrows the project's keys to a list; each becomes a
``secretKeyRef`` to ``airflow-project-secrets-fraud``. A key missing from the project fails the
task before any pod is created. The pod proves it got ``DB_PASSWORD`` and not ``AWS_KEY``.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PROJECT, PULL_POLICY, TAGS, proof_command
from airflow.sdk import DAG

from airflow_secrets_provider import SecretTaskOperator, with_secrets

with DAG(
    dag_id="example_project_key_subset",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "project-secrets"],
    doc_md=__doc__,
) as dag:
    SecretTaskOperator(
        task_id="evaluate",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        project=PROJECT,
        secrets=[with_secrets("kubernetes", ["DB_PASSWORD"])],
        **proof_command("DB_PASSWORD", "AWS_KEY"),  # AWS_KEY: "not received"
    )
