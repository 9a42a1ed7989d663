"""Checks of ``SecretTaskOperator``'s own scalar options, at construction (pure, no I/O).

Kept out of the operator module so its constructor stays a list of assignments. Booleans are
strict: the string ``"false"`` is truthy, so accepting it would silently mean the opposite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_secrets_provider.core.errors import SecretConfigError


def check_operator_options(attach_project_secrets: object, apply_presets: object, azure_vault_options: object) -> None:
    """Reject options of the wrong type, naming the argument; parse the Key Vault options once."""
    for name, value in (("attach_project_secrets", attach_project_secrets), ("apply_presets", apply_presets)):
        if not isinstance(value, bool):
            raise SecretConfigError(name, f"must be True or False, got {type(value).__name__}")
    if azure_vault_options is None:
        return
    if not isinstance(azure_vault_options, Mapping):
        raise SecretConfigError(
            "azure_vault_options", f"must be a dict of Key Vault options, got {type(azure_vault_options).__name__}"
        )
    from airflow_secrets_provider.azure.options import reader_settings_from_options

    options: Mapping[str, Any] = azure_vault_options
    reader_settings_from_options(options, "azure_vault_options.")
