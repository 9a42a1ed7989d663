"""The Airflow secrets backend: ``airflow_secrets_provider.secrets.ChainedSecretsBackend``.

Imported lazily, so that ``airflow_secrets_provider.secrets.masking`` and friends can be used
(e.g. by :mod:`airflow_secrets_provider.runtime` inside a pod) without importing Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_secrets_provider.secrets.backend import ChainedSecretsBackend

__all__ = ["ChainedSecretsBackend"]


def __getattr__(name: str) -> Any:
    if name == "ChainedSecretsBackend":
        from airflow_secrets_provider.secrets.backend import ChainedSecretsBackend

        return ChainedSecretsBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
