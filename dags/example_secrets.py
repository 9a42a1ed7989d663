"""The first DAG to run: every way a task can get a secret, by reference only.

Inline values sit in this file (and so in Airflow's stored DAG code) and nowhere else: not in
the serialized DAG, the rendered template fields or the pod spec. Prefer project secrets
(``kubernetes``) or ``azure_vault`` for anything that matters.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PULL_POLICY, TAGS
from airflow.sdk import DAG

from airflow_secrets_provider import SecretTaskOperator, with_secrets

with DAG(
    dag_id="example_secrets",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"env": "dev"},
    tags=[*TAGS, "tour"],
    doc_md=__doc__,
) as dag:
    train = SecretTaskOperator(
        task_id="train",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        project="fraud",
        cmds=["python3", "-c"],
        arguments=["import os; print(sorted(k for k in os.environ if k.isupper()))"],
        env_vars={"DB_URL": "postgresql://app:$(DB_PASSWORD)@db/app"},
        # Kept so that `kubectl get pod -o yaml` shows what Kubernetes stores: references only.
        on_finish_action="keep_pod",
        secrets=[
            # Keys of the project's Kubernetes Secret (airflow-project-secrets-fraud).
            with_secrets("kubernetes", ["AWS_KEY", "DB_PASSWORD"]),
            # A value written here; it reaches the pod through a per-task Secret.
            with_secrets("inline", {"MY_SECRET": "12345"}),
            # Pachyderm's pipeline-spec form for an externally managed Secret.
            {"name": "clearml", "envVar": "CLEARML_API_ACCESS_KEY", "key": "access"},
        ],
    )
    train.set_env_from_secret("SECRET_ENV_VAR_1", secret="{{ params.env }}-secret", secret_key="secret1")
    train.mount_secret("tls-certs", "/mnt/secrets/", items={"tls.crt": "tls.crt"})
    train.with_secrets("env", "MY_ENV_SECRET")

    report = SecretTaskOperator(
        task_id="report",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        project="fraud",  # no kubernetes request: every key of the project, as in MLRun
        cmds=["sh", "-c", "echo report"],
    )
    train >> report
