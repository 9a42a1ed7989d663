"""``{"kind": "azure_vault", "vault_url": ..., <credential and client options>}``.

Names follow apache-airflow-providers-microsoft-azure's ``KeyVaultBackend``:
``airflow-connections-<id>``, ``airflow-variables-<key>``, ``airflow-config-<key>``, with every
``_`` turned into the separator ``-`` (Key Vault names allow letters, digits and ``-`` only), so
existing vaults work unchanged. An id that still contains another character cannot exist in a
vault and is not looked up at all.

Options are the reader's (see :func:`~airflow_secrets_provider.azure.vault.reader_settings_from_options`):
``tenant_id``/``client_id``/``client_secret`` (a client secret credential, else
``DefaultAzureCredential``), ``credential`` (``default``, ``client_secret``,
``managed_identity``), ``authority``, ``disable_instance_discovery``, ``connection_verify``,
``verify_challenge_resource``, ``retry_total``, ``retry_backoff_factor``, ``retry_backoff_max``,
``connection_timeout``, ``read_timeout``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator
from typing_extensions import Unpack

from airflow_secrets_provider.azure.options import (
    READER_OPTIONS,
    ReaderModel,
    ReaderOptions,
    reader_settings_from_options,
)
from airflow_secrets_provider.core.typed_options import NonEmptyStr, validated
from airflow_secrets_provider.core.validation import is_key_vault_secret_name
from airflow_secrets_provider.secrets.sources import NamingModel, NamingOptions, Source

if TYPE_CHECKING:
    from airflow_secrets_provider.azure.vault import AzureVaultReader

KIND = "azure_vault"
DEFAULT_PREFIXES = {"connections": "airflow-connections", "variables": "airflow-variables", "config": "airflow-config"}


class AzureVaultSourceOptions(NamingOptions, ReaderOptions, total=False):
    """Naming and Key Vault client options of an ``azure_vault`` source."""


def _https(url: str) -> str:
    if not url.startswith("https://"):
        raise ValueError("must be an https:// URL")
    return url


class AzureVaultModel(NamingModel, ReaderModel):
    """The model of an ``azure_vault`` source's options: the vault, naming and client options."""

    vault_url: Annotated[NonEmptyStr, AfterValidator(_https)]
    sep: str = "-"


class AzureVaultSource(Source):
    """Secrets of one Azure Key Vault, named as the Microsoft provider's ``KeyVaultBackend`` names them.

    :param vault_url: the vault, ``https://<name>.vault.azure.net`` (or a sovereign cloud's).
    :param field: where this configuration came from, for error messages (``sources[0]``).
    :param options: :class:`~airflow_secrets_provider.secrets.sources.NamingOptions` (``sep``
        defaults to ``-``) and :class:`~airflow_secrets_provider.azure.options.ReaderOptions`.
    """

    kind = KIND
    options_model = AzureVaultModel

    def __init__(
        self, *, vault_url: str | None = None, field: str = "source", **options: Unpack[AzureVaultSourceOptions]
    ) -> None:
        checked = validated(AzureVaultModel, {"vault_url": vault_url, **options}, field, provider=KIND)
        sep = checked.sep

        def spell(name: str) -> str | None:
            name = name.replace("_", sep)
            return name if is_key_vault_secret_name(name) else None

        reader_options = {key: value for key, value in options.items() if key in READER_OPTIONS}
        self.credential, self.options = reader_settings_from_options(reader_options, f"{field}.")
        super().__init__(checked.naming(DEFAULT_PREFIXES, spell), f"{field} (azure_vault {checked.vault_url})")
        self.vault_url = checked.vault_url

    @cached_property
    def reader(self) -> AzureVaultReader:
        """Built on first use; its clients come from the process-wide registry (one per configuration)."""
        from airflow_secrets_provider.azure.vault import AzureVaultReader

        return AzureVaultReader(self.credential, self.options)

    def read(self, kind: str, name: str) -> str | None:
        return self.reader.find_secret(self.vault_url, name)
