"""Key Vault options: how to authenticate and how the transport behaves, parsed once.

Frozen, hashable values, so that equal configurations share one credential and one client
(:mod:`~airflow_secrets_provider.azure.clients`). Flat options (backend source config, the operator's
``azure_vault_options``, ``AIRFLOW__SECRETS__BACKEND_KWARG__*`` strings) become these through
:func:`reader_settings_from_options`; an unknown option is an error naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.redaction import describe_names, is_shown

KIND = "azure_vault"
CREDENTIAL_KINDS = ("default", "client_secret", "managed_identity")
SERVICE_PRINCIPAL_KEYS = ("tenant_id", "client_id", "secret")
"""Keys of a Kubernetes Secret holding a service principal (MLRun's convention)."""


@dataclass(frozen=True)
class CredentialConfig:
    """How to authenticate to Entra ID. Hashable, so equal configurations share one credential.

    ``kind`` is ``"default"`` (``DefaultAzureCredential``: environment, workload identity,
    managed identity, Azure CLI ...), ``"client_secret"`` (a service principal) or
    ``"managed_identity"``. ``client_secret`` is excluded from ``repr``.
    """

    kind: str = "default"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    authority: str | None = None
    disable_instance_discovery: bool = False

    def __post_init__(self) -> None:
        if self.kind not in CREDENTIAL_KINDS:
            raise SecretConfigError("credential", f"must be one of {list(CREDENTIAL_KINDS)}", provider=KIND)
        if self.kind == "client_secret":
            for name in ("tenant_id", "client_id", "client_secret"):
                if not getattr(self, name):
                    raise SecretConfigError(name, "is required for a client secret credential", provider=KIND)

    @classmethod
    def from_service_principal(
        cls,
        data: Mapping[str, str],
        *,
        authority: str | None = None,
        disable_instance_discovery: bool = False,
        origin: str = "the credentials secret",
    ) -> CredentialConfig:
        """A client secret credential from ``{"tenant_id", "client_id", "secret"}``.

        That is what the Kubernetes Secret named by ``k8s_secret`` holds (MLRun's convention);
        the operator reads it and hands the mapping here. Errors name the missing key only.
        """
        missing = [key for key in SERVICE_PRINCIPAL_KEYS if not data.get(key)]
        if missing:
            raise SecretConfigError(
                origin, f"is missing key {missing[0]!r} (needs {list(SERVICE_PRINCIPAL_KEYS)})", provider=KIND
            )
        return cls(
            kind="client_secret",
            tenant_id=data["tenant_id"],
            client_id=data["client_id"],
            client_secret=data["secret"],
            authority=authority,
            disable_instance_discovery=disable_instance_discovery,
        )


@dataclass(frozen=True)
class VaultOptions:
    """Transport, retry and concurrency settings shared by every call of a reader.

    ``connection_verify`` is ``True`` (system CAs), ``False`` or a CA bundle path; it applies to
    the vault and to the token endpoint. ``verify_challenge_resource=False`` lets the vault live
    on a host that is not ``*.vault.azure.net`` (a sovereign cloud's custom domain, a test server).
    """

    connection_verify: bool | str = True
    verify_challenge_resource: bool = True
    retry_total: int = 5
    retry_status: int = 3
    retry_backoff_factor: float = 0.8
    retry_backoff_max: float = 60.0
    connection_timeout: float = 10.0
    read_timeout: float = 30.0
    max_workers: int = 8
    page_size: int = 25

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise SecretConfigError("max_workers", "must be at least 1", provider=KIND)
        if not 1 <= self.page_size <= 25:
            raise SecretConfigError("page_size", "must be between 1 and 25 (Key Vault's limit)", provider=KIND)
        for name in ("retry_total", "retry_status"):
            if getattr(self, name) < 0:
                raise SecretConfigError(name, "must not be negative", provider=KIND)
        # NaN passes every comparison and infinity waits for ever: finite numbers only.
        for name in ("retry_backoff_factor", "retry_backoff_max"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise SecretConfigError(name, "must be a finite number of seconds, not negative", provider=KIND)
        for name in ("connection_timeout", "read_timeout"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise SecretConfigError(name, "must be a finite, positive number of seconds", provider=KIND)


class ReaderOptions(TypedDict, total=False):
    """The flat options :func:`reader_settings_from_options` reads (see its classes' fields).

    :param credential: ``default``, ``client_secret`` or ``managed_identity``.
    :param tenant_id: the service principal's tenant.
    :param client_id: the service principal's (or a user-assigned identity's) client id.
    :param client_secret: the service principal's secret (never shown in any repr).
    :param managed_identity_client_id: pin one user-assigned managed identity.
    :param authority: Entra ID authority host (sovereign clouds).
    :param disable_instance_discovery: for authorities Entra ID does not know (test servers).
    :param connection_verify: ``True``, ``False`` or a CA bundle path.
    :param verify_challenge_resource: ``False`` for a vault outside ``*.vault.azure.net``.
    :param retry_total: azure-core retries of any kind.
    :param retry_status: azure-core retries of a bad status.
    :param retry_backoff_factor: azure-core's backoff factor (seconds).
    :param retry_backoff_max: azure-core's backoff cap (seconds).
    :param connection_timeout: seconds to connect.
    :param read_timeout: seconds to wait for an answer.
    :param max_workers: concurrent fetches of named secrets.
    :param page_size: secrets per page when listing (at most 25).
    """

    credential: str
    tenant_id: str | None
    client_id: str | None
    client_secret: str | None
    managed_identity_client_id: str | None
    authority: str | None
    disable_instance_discovery: bool | str
    connection_verify: bool | str
    verify_challenge_resource: bool | str
    retry_total: int | str
    retry_status: int | str
    retry_backoff_factor: float | str
    retry_backoff_max: float | str
    connection_timeout: float | str
    read_timeout: float | str
    max_workers: int | str
    page_size: int | str


_CREDENTIAL_OPTIONS = {f.name for f in fields(CredentialConfig)} - {"kind"}
_VAULT_OPTIONS = {f.name for f in fields(VaultOptions)}
READER_OPTIONS = frozenset(_CREDENTIAL_OPTIONS | _VAULT_OPTIONS | {"credential", "managed_identity_client_id"})
"""Option names :func:`reader_settings_from_options` understands (backend source config, operator)."""
assert ReaderOptions.__optional_keys__ == READER_OPTIONS, "ReaderOptions must list every option"


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Backend kwargs may arrive as strings (``AIRFLOW__SECRETS__BACKEND_KWARG__*``)."""
    if kind is bool and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    if kind in (int, float) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool)):
        return value
    raise SecretConfigError(name, f"must be a {kind.__name__}", provider=KIND)


@drops_original_error
def reader_settings_from_options(
    options: Mapping[str, Any], field_prefix: str = ""
) -> tuple[CredentialConfig, VaultOptions]:
    """Parse flat options (``tenant_id``, ``connection_verify``, ``retry_total`` ...) into config.

    ``credential`` defaults to ``"client_secret"`` when a ``client_secret`` is given, else
    ``"default"``. ``managed_identity_client_id`` selects a user-assigned identity. Unknown
    options are an error naming the field, so a typo does not silently fall back to defaults.
    """
    if not isinstance(options, Mapping):
        raise SecretConfigError(
            field_prefix.rstrip(".") or "options",
            f"must be a dict of Key Vault options, got {type(options).__name__}",
            provider=KIND,
        )
    unknown = sorted(set(options) - READER_OPTIONS, key=str)
    if unknown:
        name = unknown[0]
        if isinstance(name, str) and is_shown(name):
            raise SecretConfigError(f"{field_prefix}{name}", "is not a known Key Vault option", provider=KIND)
        raise SecretConfigError(
            field_prefix.rstrip(".") or "options",
            f"{describe_names(unknown[:1], 'option name')} is not a known Key Vault option",
            provider=KIND,
        )
    kind = options.get("credential") or ("client_secret" if options.get("client_secret") else "default")
    client_id = options.get("client_id") or options.get("managed_identity_client_id")
    try:
        credential = CredentialConfig(
            kind=kind,
            tenant_id=options.get("tenant_id"),
            client_id=client_id,
            client_secret=options.get("client_secret"),
            authority=options.get("authority"),
            disable_instance_discovery=_coerce(
                "disable_instance_discovery", options.get("disable_instance_discovery", False), bool
            ),
        )
        verify = options.get("connection_verify", True)
        if isinstance(verify, str) and verify.strip().lower() in ("true", "false"):
            verify = verify.strip().lower() == "true"
        vault_kwargs: dict[str, Any] = {"connection_verify": verify}
        for f in fields(VaultOptions):
            if f.name in options and f.name != "connection_verify":
                default = getattr(VaultOptions, f.name)
                vault_kwargs[f.name] = _coerce(f.name, options[f.name], type(default))
        vault = VaultOptions(**vault_kwargs)
    except SecretConfigError as err:
        raise SecretConfigError(f"{field_prefix}{err.field}", err.problem, provider=KIND) from None
    return credential, vault
