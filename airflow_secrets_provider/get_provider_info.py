"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_secrets_provider.config import provider_config
from airflow_secrets_provider.version import __version__


def get_provider_info() -> dict[str, Any]:
    """Airflow reads ``config`` to show the ``[secrets_provider]`` options and merge their defaults."""
    return {
        "package-name": "airflow-secrets-provider",
        "name": "Airflow Secrets Provider",
        "description": "Secret-aware Kubernetes tasks and a chained secrets backend: inline, env, file, "
        "Kubernetes project secrets and Azure Key Vault, with no secret value in pod specs, "
        "serialized DAGs, logs or UIs.",
        "versions": [__version__],
        "secrets-backends": ["airflow_secrets_provider.secrets.backend.ChainedSecretsBackend"],
        "operators": [
            {
                "integration-name": "Airflow Secrets Provider",
                "python-modules": ["airflow_secrets_provider.operators.secret_task"],
            }
        ],
        "config": provider_config(),
    }
