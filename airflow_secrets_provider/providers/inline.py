"""``inline``: values written in the DAG file, ``with_secrets("inline", {"KEY": "value"})``.

The values are in the DAG file the user wrote (and so in Airflow's stored DAG code) and
nowhere else: not in template fields, the serialized DAG, the pod spec or ``repr``. Prefer the
``kubernetes`` or ``azure_vault`` providers for anything that matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow_secrets_provider.exceptions import SecretConfigError
from airflow_secrets_provider.model import ResolveContext, ValueRequest
from airflow_secrets_provider.validation import check_env_name
from airflow_secrets_provider.values import SecretValues

KIND = "inline"


@dataclass(frozen=True, repr=False)
class InlineSecrets(ValueRequest):
    values: SecretValues

    kind = KIND

    def validate(self) -> None:
        for key in self.values:
            check_env_name(key, f"source[{key!r}]", KIND)

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
    for key, value in source.items():
        check_env_name(key, "source key", KIND)
        if not isinstance(value, str):
            raise SecretConfigError(
                f"source[{key!r}]", f"value must be a string, got {type(value).__name__}", provider=KIND
            )
    request = InlineSecrets(SecretValues(source))
    request.validate()
    return request
