"""Key Vault options: how to authenticate and how the transport behaves, parsed once.

Frozen, hashable values, so that equal configurations share one credential and one client
(:mod:`~airflow_secrets_provider.azure.clients`). Flat options (backend source config, the operator's
``azure_vault_options``, ``AIRFLOW__SECRETS__BACKEND_KWARG__*`` strings) become these through
:func:`reader_settings_from_options`; an unknown option is an error naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BeforeValidator, Field, PlainValidator

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.typed_options import Count, Finite, Options, validated

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
        # Not an option check (ReaderModel does those): an invariant of the value itself, which
        # runtime.py and the operator also build directly.
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


def _verify(value: object) -> object:
    """``connection_verify``: true, false (also as text) or a CA bundle path."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    raise ValueError("must be true, false or a CA bundle path")


def _no_credential(value: object) -> object:
    return None if value == "" else value


Retries = Annotated[Count, Field(ge=0)]
Backoff = Annotated[Finite, Field(ge=0)]
Timeout = Annotated[Finite, Field(gt=0)]


class ReaderModel(Options):
    """The model of :class:`ReaderOptions`: types, bounds and defaults of every Key Vault option.

    Values may be text (``AIRFLOW__SECRETS__BACKEND_KWARG__*``): numbers and booleans are read
    from it. NaN and infinity are rejected (NaN passes every comparison, infinity waits for ever).
    """

    credential: Annotated[
        Literal["default", "client_secret", "managed_identity"] | None, BeforeValidator(_no_credential)
    ] = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False)  # never in a repr
    managed_identity_client_id: str | None = None
    authority: str | None = None
    disable_instance_discovery: bool = False
    connection_verify: Annotated[bool | str, PlainValidator(_verify)] = True
    verify_challenge_resource: bool = True
    retry_total: Retries = 5
    retry_status: Retries = 3
    retry_backoff_factor: Backoff = 0.8
    retry_backoff_max: Backoff = 60.0
    connection_timeout: Timeout = 10.0
    read_timeout: Timeout = 30.0
    max_workers: Annotated[Count, Field(ge=1)] = 8
    page_size: Annotated[Count, Field(ge=1, le=25)] = 25

    def settings(self) -> tuple[CredentialConfig, VaultOptions]:
        """The credential and transport values; ``credential`` defaults from ``client_secret``."""
        kind = self.credential or ("client_secret" if self.client_secret else "default")
        credential = CredentialConfig(
            kind=kind,
            tenant_id=self.tenant_id,
            client_id=self.client_id or self.managed_identity_client_id,
            client_secret=self.client_secret,
            authority=self.authority,
            disable_instance_discovery=self.disable_instance_discovery,
        )
        vault = VaultOptions(**{f.name: getattr(self, f.name) for f in fields(VaultOptions)})
        return credential, vault


READER_OPTIONS = frozenset(ReaderModel.model_fields)
"""Option names :func:`reader_settings_from_options` understands (backend source config, operator)."""
assert ReaderOptions.__optional_keys__ == READER_OPTIONS, "ReaderOptions must list every option"


@drops_original_error
def reader_settings_from_options(
    options: Mapping[str, Any], field_prefix: str = ""
) -> tuple[CredentialConfig, VaultOptions]:
    """Parse flat options (``tenant_id``, ``connection_verify``, ``retry_total`` ...) into config.

    ``credential`` defaults to ``"client_secret"`` when a ``client_secret`` is given, else
    ``"default"``. ``managed_identity_client_id`` selects a user-assigned identity. Unknown
    options are an error naming the field, so a typo does not silently fall back to defaults.
    """
    field = field_prefix.rstrip(".")
    model = validated(ReaderModel, options, field, provider=KIND)
    try:
        return model.settings()
    except SecretConfigError as err:
        raise SecretConfigError(f"{field_prefix}{err.field}", err.problem, provider=KIND) from None
