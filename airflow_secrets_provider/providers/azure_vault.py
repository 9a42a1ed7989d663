"""``azure_vault``: secrets held in an Azure Key Vault.

``with_secrets("azure_vault", {"name": "my-vault", "k8s_secret": "azure-creds", "secrets": ["db-password"]})``.
``secrets: []`` means every enabled secret of the vault.

Two ways to deliver, chosen with ``"resolve_in"``:

* ``"worker"`` (default): the Airflow worker reads the secrets at execute time and hands them
  to the pod through the per-task Kubernetes Secret, so the pod needs no vault credentials.
  The worker authenticates with the service principal in ``k8s_secret`` (keys ``tenant_id``,
  ``client_id``, ``secret``; MLRun's convention) when given, else ``DefaultAzureCredential``.
* ``"pod"`` (MLRun's mode): ``k8s_secret``'s credentials are exposed to the pod as
  ``AZURE_TENANT_ID`` / ``AZURE_CLIENT_ID`` / ``AZURE_CLIENT_SECRET`` (what azure-identity's
  ``EnvironmentCredential`` reads) together with the vault URL and secret names, and
  ``get_secret`` fetches inside the pod.

Vault secret names may contain ``-``, which environment variable names cannot; a secret is
exposed as :func:`~airflow_secrets_provider.core.validation.env_name_for_key` of its name
(``db-password`` -> ``db_password``). ``get_secret("db-password")`` applies the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_secrets_provider.core.errors import SecretConfigError, SecretsProviderError
from airflow_secrets_provider.core.model import (
    Attachment,
    AttachTarget,
    PlainEnv,
    ResolveContext,
    SecretKeyEnv,
    ValueRequest,
)
from airflow_secrets_provider.core.redaction import describe_names, shown
from airflow_secrets_provider.core.validation import (
    check_secret_name,
    env_name_for_key,
    is_key_vault_name,
    is_key_vault_secret_name,
    is_templated,
)
from airflow_secrets_provider.core.values import SecretValues

KIND = "azure_vault"
RESOLVE_IN = ("worker", "pod")

# Environment variables a pod gets in "pod" mode; runtime.get_secret reads them.
ENV_VAULT_URL = "AIRFLOW_SECRETS_AZURE_VAULT_URL"
ENV_VAULT_SECRETS = "AIRFLOW_SECRETS_AZURE_VAULT_SECRETS"
CREDENTIAL_ENV = (("AZURE_TENANT_ID", "tenant_id"), ("AZURE_CLIENT_ID", "client_id"), ("AZURE_CLIENT_SECRET", "secret"))


def default_vault_url(name: str) -> str:
    return f"https://{name}.vault.azure.net"


@dataclass(frozen=True)
class AzureVaultSecrets(ValueRequest):
    vault_name: str
    secrets: tuple[str, ...] = ()
    k8s_secret: str | None = None
    vault_url: str | None = None
    resolve_in: str = "worker"

    kind = KIND
    template_fields = ("vault_name", "secrets", "k8s_secret", "vault_url")

    @property
    def url(self) -> str:
        return self.vault_url or default_vault_url(self.vault_name)

    def validate(self) -> None:
        if not is_templated(self.vault_name) and not is_key_vault_name(self.vault_name):
            raise SecretConfigError(
                "source.name",
                f"{shown(self.vault_name)} is not a valid Key Vault name (3-24 letters, digits and '-')",
                provider=KIND,
            )
        if (
            self.vault_url is not None
            and not is_templated(self.vault_url)
            and not self.vault_url.startswith("https://")
        ):
            raise SecretConfigError("source.vault_url", "must be an https:// URL", provider=KIND)
        if self.k8s_secret is not None:
            check_secret_name(self.k8s_secret, "source.k8s_secret", KIND)
        if self.resolve_in not in RESOLVE_IN:
            raise SecretConfigError("source.resolve_in", f"must be one of {list(RESOLVE_IN)}", provider=KIND)
        if self.resolve_in == "pod" and self.k8s_secret is None:
            raise SecretConfigError("source.k8s_secret", "is required when resolve_in is 'pod'", provider=KIND)
        env_names: dict[str, str] = {}
        for i, name in enumerate(self.secrets):
            if is_templated(name):
                continue
            if not is_key_vault_secret_name(name):
                raise SecretConfigError(
                    f"source.secrets[{i}]",
                    f"{shown(name)} is not a valid Key Vault secret name (letters, digits and '-')",
                    provider=KIND,
                )
            env = env_name_for_key(name)
            if env in env_names:
                raise SecretConfigError(
                    f"source.secrets[{i}]",
                    f"{name!r} and {env_names[env]!r} both map to env var {env!r}",
                    provider=KIND,
                )
            env_names[env] = name

    def env_names(self) -> tuple[str, ...] | None:
        if self.resolve_in == "pod":
            return (*tuple(name for name, _ in CREDENTIAL_ENV), ENV_VAULT_URL, ENV_VAULT_SECRETS)
        return tuple(env_name_for_key(name) for name in self.secrets) if self.secrets else None

    def attachments(self, target: AttachTarget, index: int) -> list[Attachment]:
        if self.resolve_in == "worker":
            return super().attachments(target, index)
        assert self.k8s_secret is not None  # validate() guarantees it
        refs: list[Attachment] = [SecretKeyEnv(env, self.k8s_secret, key) for env, key in CREDENTIAL_ENV]
        refs.append(PlainEnv(ENV_VAULT_URL, self.url))
        refs.append(PlainEnv(ENV_VAULT_SECRETS, ",".join(self.secrets)))
        return refs

    def resolve(self, context: ResolveContext) -> SecretValues:
        if self.resolve_in == "pod":
            return SecretValues()
        if context.azure is None:
            raise SecretsProviderError(f"{KIND} provider: no Key Vault reader configured on this worker")
        values: Mapping[str, str] = context.azure.read(self, context)
        by_env: dict[str, str] = {}
        source_of: dict[str, str] = {}
        for name, value in values.items():
            env = env_name_for_key(name)
            if env in source_of:
                # Possible with `secrets: []`, where the vault decides the names (`1a`, `-1a`).
                raise SecretConfigError(
                    "secrets",
                    f"vault secrets {source_of[env]!r} and {name!r} both map to env var {env!r}; list the one to use",
                    provider=KIND,
                )
            by_env[env] = value
            source_of[env] = name
        return SecretValues(by_env)


def parse(source: object) -> AzureVaultSecrets:
    if not isinstance(source, Mapping):
        raise SecretConfigError(
            "source", f"must be a dict with 'name' and 'secrets', got {type(source).__name__}", provider=KIND
        )
    allowed = {"name", "k8s_secret", "secrets", "vault_url", "resolve_in"}
    unknown = set(source) - allowed
    if unknown:
        raise SecretConfigError(
            "source", f"unknown fields {describe_names(unknown)}; allowed: {sorted(allowed)}", provider=KIND
        )
    if "name" not in source:
        raise SecretConfigError("source.name", "is required (the Key Vault name)", provider=KIND)
    name = source["name"]
    if not isinstance(name, str):
        raise SecretConfigError("source.name", "must be a string", provider=KIND)
    secrets: Any = source.get("secrets", [])
    if isinstance(secrets, str):
        secrets = [part.strip() for part in secrets.split(",") if part.strip()]
    if not isinstance(secrets, (list, tuple)) or not all(isinstance(s, str) for s in secrets):
        raise SecretConfigError("source.secrets", "must be a list of secret names ([] for all)", provider=KIND)
    for field in ("k8s_secret", "vault_url", "resolve_in"):
        if field in source and source[field] is not None and not isinstance(source[field], str):
            raise SecretConfigError(f"source.{field}", "must be a string", provider=KIND)
    request = AzureVaultSecrets(
        vault_name=name,
        secrets=tuple(secrets),
        k8s_secret=source.get("k8s_secret"),
        vault_url=source.get("vault_url"),
        resolve_in=source.get("resolve_in") or "worker",
    )
    request.validate()
    return request
