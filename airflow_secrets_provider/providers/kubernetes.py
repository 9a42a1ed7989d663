"""``kubernetes``: project secrets kept in one Kubernetes Secret per project (MLRun's model).

``with_secrets("kubernetes", ["AWS_KEY", "DB_PASSWORD"])`` exposes those keys of the task's
project Secret (``airflow-project-secrets-<project>``) as environment variables of the same
name; ``[]`` exposes all of them. The values never leave the cluster: the pod references the
Secret and the kubelet injects them.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.model import Attachment, AttachTarget, SecretEnvFrom, SecretKeyEnv, SecretRequest
from airflow_secrets_provider.core.validation import check_secret_key, env_name_for_key, is_templated

KIND = "kubernetes"


@dataclass(frozen=True)
class KubernetesSecrets(SecretRequest):
    """``keys`` empty means every key of the project. ``implicit`` marks the default request a
    task with a project gets when it asked for nothing: it tolerates a project with no Secret."""

    keys: tuple[str, ...] = ()
    implicit: bool = False

    kind = KIND
    template_fields = ("keys",)

    def validate(self) -> None:
        for i, key in enumerate(self.keys):
            check_secret_key(key, f"source[{i}]", KIND)
        env_names = [env_name_for_key(k) for k in self.keys if not is_templated(k)]
        for name in env_names:
            if env_names.count(name) > 1:
                raise SecretConfigError("source", f"keys map to the same environment variable {name!r}", provider=KIND)

    def env_names(self) -> tuple[str, ...] | None:
        return tuple(env_name_for_key(k) for k in self.keys) if self.keys else None

    def attachments(self, target: AttachTarget, index: int) -> list[Attachment]:
        if target.project_secret is None:
            raise SecretConfigError("project", "is required to use kubernetes project secrets", provider=KIND)
        if not self.keys:
            return [SecretEnvFrom(target.project_secret, optional=self.implicit)]
        return [SecretKeyEnv(env_name_for_key(key), target.project_secret, key) for key in self.keys]


def parse(source: object) -> KubernetesSecrets:
    if source is None:
        keys: list[object] = []
    elif isinstance(source, str):
        keys = [part.strip() for part in source.split(",") if part.strip()]
    elif isinstance(source, (list, tuple)):
        keys = list(source)
    else:
        raise SecretConfigError("source", f"must be a list of keys, got {type(source).__name__}", provider=KIND)
    for i, key in enumerate(keys):
        if not isinstance(key, str):
            raise SecretConfigError(f"source[{i}]", f"must be a string, got {type(key).__name__}", provider=KIND)
    request = KubernetesSecrets(tuple(keys))  # type: ignore[arg-type]
    request.validate()
    return request
