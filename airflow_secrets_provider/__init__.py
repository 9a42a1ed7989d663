"""airflow-secrets-provider: MLRun/Kubeflow/Pachyderm-style secrets for Airflow 3 on Kubernetes.

Public API::

    from airflow_secrets_provider import SecretTaskOperator, with_secrets

``SecretTaskOperator`` is imported lazily: this package is also loaded by Airflow's provider
discovery and secrets-backend machinery, which must not pay for (or recurse into) importing
the Kubernetes provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_secrets_provider.exceptions import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    SecretsProviderError,
)
from airflow_secrets_provider.providers import PROVIDER_KINDS, with_secrets
from airflow_secrets_provider.values import SecretValues
from airflow_secrets_provider.version import __version__

if TYPE_CHECKING:
    from airflow_secrets_provider.operators.secret_task import SecretTaskOperator

__all__ = [
    "PROVIDER_KINDS",
    "SecretAccessError",
    "SecretConfigError",
    "SecretNotFoundError",
    "SecretTaskOperator",
    "SecretValues",
    "SecretsProviderError",
    "__version__",
    "with_secrets",
]


def __getattr__(name: str) -> Any:
    if name == "SecretTaskOperator":
        from airflow_secrets_provider.operators.secret_task import SecretTaskOperator

        return SecretTaskOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
