"""airflow-secrets-provider: MLRun/Kubeflow/Pachyderm-style secrets for Airflow 3 on Kubernetes.

Public API::

    from airflow_secrets_provider import SecretTaskOperator, with_secrets
    from airflow_secrets_provider import get_secret, get_secret_or_env  # inside a task

``SecretTaskOperator``, ``get_secret`` and ``get_secret_or_env`` are imported lazily: this
package is also loaded by Airflow's provider discovery and secrets-backend machinery, which
must not pay for (or recurse into) importing the Kubernetes provider, and ``get_secret`` must
work in a task image without Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_secrets_provider.core.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    SecretsProviderError,
)
from airflow_secrets_provider.core.values import SecretValues
from airflow_secrets_provider.providers import PROVIDER_KINDS, with_secrets
from airflow_secrets_provider.version import __version__

if TYPE_CHECKING:
    from airflow_secrets_provider.operators.secret_task import SecretTaskOperator
    from airflow_secrets_provider.runtime import get_secret, get_secret_or_env

__all__ = [
    "PROVIDER_KINDS",
    "SecretAccessError",
    "SecretConfigError",
    "SecretNotFoundError",
    "SecretTaskOperator",
    "SecretValues",
    "SecretsProviderError",
    "__version__",
    "get_secret",
    "get_secret_or_env",
    "with_secrets",
]


def __getattr__(name: str) -> Any:
    if name == "SecretTaskOperator":
        from airflow_secrets_provider.operators.secret_task import SecretTaskOperator

        return SecretTaskOperator
    if name in ("get_secret", "get_secret_or_env"):
        from airflow_secrets_provider import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
