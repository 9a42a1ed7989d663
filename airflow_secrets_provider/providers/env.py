"""``env``: values read from the worker's environment at execute time.

``with_secrets("env", "A, B")`` or ``with_secrets("env", ["A", "B"])``. MLRun reads these on
the client that submits the job; in Airflow that client is the worker running the task, so the
variables must be set where tasks run (e.g. the worker's deployment), not where DAGs are parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_secrets_provider.core.errors import SecretConfigError, SecretNotFoundError
from airflow_secrets_provider.core.model import ResolveContext, ValueRequest
from airflow_secrets_provider.core.validation import check_env_name
from airflow_secrets_provider.core.values import SecretValues

KIND = "env"


@dataclass(frozen=True)
class EnvSecrets(ValueRequest):
    names: tuple[str, ...]

    kind = KIND
    template_fields = ("names",)

    def validate(self) -> None:
        for i, name in enumerate(self.names):
            check_env_name(name, f"source[{i}]", KIND)

    def env_names(self) -> tuple[str, ...]:
        return self.names

    def resolve(self, context: ResolveContext) -> SecretValues:
        missing = [name for name in self.names if name not in context.environ]
        if missing:
            raise SecretNotFoundError(KIND, missing[0], "the worker's environment")
        return SecretValues({name: context.environ[name] for name in self.names})


def parse(source: object) -> EnvSecrets:
    if isinstance(source, str):
        names = [part.strip() for part in source.split(",")]
    elif isinstance(source, (list, tuple)):
        names = list(source)
    else:
        raise SecretConfigError(
            "source", f"must be a comma-separated string or a list of names, got {type(source).__name__}", provider=KIND
        )
    if not names or names == [""]:
        raise SecretConfigError("source", "must name at least one environment variable", provider=KIND)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise SecretConfigError(f"source[{i}]", f"must be a string, got {type(name).__name__}", provider=KIND)
    request = EnvSecrets(tuple(names))
    request.validate()
    return request
