"""``inline``: values written in the DAG file, ``with_secrets("inline", {"KEY": "value"})``.

The values are in the DAG file the user wrote (and so in Airflow's stored DAG code) and
nowhere else: not in template fields, the serialized DAG, the pod spec or ``repr``. Prefer the
``kubernetes`` or ``azure_vault`` providers for anything that matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.model import ResolveContext, ValueRequest
from airflow_secrets_provider.core.secret_data import MAX_SECRET_BYTES
from airflow_secrets_provider.core.validation import check_env_name, literal_names
from airflow_secrets_provider.core.values import SecretValues

KIND = "inline"


@dataclass(frozen=True, repr=False)
class InlineSecrets(ValueRequest):
    values: SecretValues

    kind = KIND

    def validate(self) -> None:
        with literal_names():
            for key in self.values:
                check_env_name(key, "source key", KIND)

    def env_names(self) -> tuple[str, ...]:
        return tuple(self.values)

    def resolve(self, context: ResolveContext) -> SecretValues:
        return self.values

    def __repr__(self) -> str:
        return f"InlineSecrets(keys={sorted(self.values)!r})"


def parse(source: object) -> InlineSecrets:
    if not isinstance(source, Mapping):
        raise SecretConfigError(
            "source", f"must be a dict of name -> value, got {type(source).__name__}", provider=KIND
        )
    if not source:
        raise SecretConfigError("source", "must hold at least one secret", provider=KIND)
    total = 0
    for key, value in source.items():
        # Inline keys are never rendered, so one that looks like a template would reach the
        # pod as written: keys must be plain names.
        with literal_names():
            check_env_name(key, "source key", KIND)
        if not isinstance(value, str):
            raise SecretConfigError(
                f"source[{key!r}]", f"value must be a string, got {type(value).__name__}", provider=KIND
            )
        size = len(value.encode("utf-8"))
        total += size
        if size > MAX_SECRET_BYTES:
            raise SecretConfigError(
                f"source[{key!r}]",
                f"the value is {size} bytes, over the Kubernetes limit of {MAX_SECRET_BYTES} bytes (1 MiB) per Secret",
                provider=KIND,
            )
    if total > MAX_SECRET_BYTES:
        raise SecretConfigError(
            "source",
            f"the values take {total} bytes, over the Kubernetes limit of {MAX_SECRET_BYTES} bytes (1 MiB) per Secret",
            provider=KIND,
        )
    request = InlineSecrets(SecretValues(source))
    request.validate()
    return request
