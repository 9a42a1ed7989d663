"""Secrets from an Azure Key Vault, when one is configured; skipped (not failed) otherwise.

Set ``ASP_AZURE_VAULT_NAME`` (and ``ASP_AZURE_VAULT_URL`` for a non-public cloud) in Airflow's
environment and create the Secret ``azure-creds`` (keys ``tenant_id``, ``client_id``,
``secret``) in the namespace. The worker then reads ``db-password`` from the vault at execute
time and hands it to the pod through a per-task Secret (as ``db_password``). Without a vault
the first task skips with a message that says what to set, and the job is skipped with it.
"""

from __future__ import annotations

import os

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PULL_POLICY, TAGS, proof_command
from airflow.sdk import DAG, task

from airflow_secrets_provider import SecretTaskOperator, with_secrets

VAULT_NAME = os.environ.get("ASP_AZURE_VAULT_NAME", "")
VAULT_URL = os.environ.get("ASP_AZURE_VAULT_URL") or None

with DAG(
    dag_id="example_azure_vault",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "azure"],
    doc_md=__doc__,
) as dag:

    @task
    def vault_configured() -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        if not VAULT_NAME:
            raise AirflowSkipException(
                "No Azure Key Vault configured: set ASP_AZURE_VAULT_NAME (and ASP_AZURE_VAULT_URL outside "
                "Azure's public cloud) and create the Secret azure-creds; skipping the vault job."
            )

    source: dict[str, object] = {
        "name": VAULT_NAME or "example-vault",  # a placeholder name when none is configured (the job skips)
        "k8s_secret": "azure-creds",
        "secrets": ["db-password"],
    }
    if VAULT_URL:
        source["vault_url"] = VAULT_URL
    use_vault = SecretTaskOperator(
        task_id="use_vault_secret",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        secrets=[with_secrets("azure_vault", source)],
        **proof_command("db_password"),
    )
    vault_configured() >> use_vault
