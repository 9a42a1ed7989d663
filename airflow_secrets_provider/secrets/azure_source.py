"""``{"kind": "azure_vault", "vault_url": ..., <credential and client options>}``.

Names follow apache-airflow-providers-microsoft-azure's ``KeyVaultBackend``:
``airflow-connections-<id>``, ``airflow-variables-<key>``, ``airflow-config-<key>``, with every
``_`` turned into the separator ``-`` (Key Vault names allow letters, digits and ``-`` only), so
existing vaults work unchanged. An id that still contains another character cannot exist in a
vault and is not looked up at all.

Options are the reader's (see :func:`~airflow_secrets_provider.hooks.azure_vault.reader_settings_from_options`):
``tenant_id``/``client_id``/``client_secret`` (a client secret credential, else
``DefaultAzureCredential``), ``credential`` (``default``, ``client_secret``,
``managed_identity``), ``authority``, ``disable_instance_discovery``, ``connection_verify``,
``verify_challenge_resource``, ``retry_total``, ``retry_backoff_factor``, ``retry_backoff_max``,
``connection_timeout``, ``read_timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_secrets_provider.exceptions import SecretConfigError
from airflow_secrets_provider.hooks.azure_vault import (
    READER_OPTIONS,
    AzureVaultReader,
    reader_settings_from_options,
)
from airflow_secrets_provider.secrets.sources import Naming, Source, check_options, parse_naming, require_str
from airflow_secrets_provider.validation import is_key_vault_secret_name

KIND = "azure_vault"
DEFAULT_PREFIXES = {"connections": "airflow-connections", "variables": "airflow-variables", "config": "airflow-config"}


class AzureVaultSource(Source):
    kind = KIND
    OPTIONS = frozenset({"vault_url"})

    def __init__(self, naming: Naming, label: str, vault_url: str, reader: AzureVaultReader) -> None:
        super().__init__(naming, label)
        self.vault_url = vault_url
        self.reader = reader

    @classmethod
    def from_config(cls, config: Mapping[str, Any], field: str) -> AzureVaultSource:
        check_options(config, field, cls.OPTIONS | READER_OPTIONS)
        vault_url = require_str(config, "vault_url", field)
        assert vault_url is not None
        if not vault_url.startswith("https://"):
            raise SecretConfigError(f"{field}.vault_url", "must be an https:// URL", provider=KIND)
        sep = config.get("sep", "-")
        if not isinstance(sep, str):
            raise SecretConfigError(f"{field}.sep", "must be a string", provider=KIND)

        def spell(name: str) -> str | None:
            name = name.replace("_", sep)
            return name if is_key_vault_secret_name(name) else None

        reader_options = {k: v for k, v in config.items() if k in READER_OPTIONS}
        credential, options = reader_settings_from_options(reader_options, f"{field}.")
        return cls(
            parse_naming(config, field, DEFAULT_PREFIXES, sep, spell),
            f"{field} (azure_vault {vault_url})",
            vault_url,
            AzureVaultReader(credential, options),
        )

    def read(self, kind: str, name: str) -> str | None:
        # Clients are created lazily by the reader's process-wide registry, on first lookup.
        return self.reader.find_secret(self.vault_url, name)
