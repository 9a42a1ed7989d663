"""The six secret providers and the one entry point users call: :func:`with_secrets`.

Each provider module exposes ``KIND`` and ``parse(source) -> SecretRequest``; its request type
knows how it attaches to a pod (references only) and, for providers whose values live outside
the cluster, how the worker resolves them. Adding a provider means adding a module and a line
to :mod:`airflow_secrets_provider.kinds` (the registry the backend shares).
"""

from __future__ import annotations

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.model import SecretRequest
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.kinds import KINDS, REQUEST_KINDS

PROVIDER_KINDS: tuple[str, ...] = REQUEST_KINDS


def with_secrets(kind: str, source: object) -> SecretRequest:
    """A secret request in MLRun's shapes, validated now and resolved only at execute time.

    * ``("inline", {"KEY": "value"})``
    * ``("env", "A, B")`` or ``("env", ["A", "B"])``
    * ``("file", "/path/secrets.txt")``: ``KEY=VALUE`` lines
    * ``("kubernetes", ["K1", "K2"])``: keys of the task's project; ``[]`` means all
    * ``("azure_vault", {"name": ..., "k8s_secret": ..., "secrets": [...]})``: ``[]`` means all
    * ``("airflow", {"DB_PASSWORD": "conn:my_db.password", "TOKEN": "var:token"})``: Airflow
      connections and variables, looked up by the task on the worker
    """
    entry = KINDS.get(kind) if isinstance(kind, str) else None
    if entry is None or entry.request_parser is None:
        given = shown(kind) if isinstance(kind, str) else f"of type {type(kind).__name__}"
        raise SecretConfigError("kind", f"unknown secret provider {given}; expected one of {list(PROVIDER_KINDS)}")
    return entry.parser()(source)


__all__ = ["PROVIDER_KINDS", "with_secrets"]
