"""Checks of ``SecretTaskOperator``'s own scalar options, at construction (pure, no I/O).

Kept out of the operator module so its constructor stays a list of assignments. Booleans are
strict: the string ``"false"`` is truthy, so accepting it would silently mean the opposite.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictBool

from airflow_secrets_provider.core.typed_options import Options, validated


class OperatorOptions(Options):
    """The operator's option arguments checked here (the rest are KubernetesPodOperator's)."""

    attach_project_secrets: StrictBool
    apply_presets: StrictBool
    azure_vault_options: dict[str, Any] | None = None


def check_operator_options(attach_project_secrets: object, apply_presets: object, azure_vault_options: object) -> None:
    """Reject options of the wrong type, naming the argument; parse the Key Vault options once."""
    options = validated(
        OperatorOptions,
        {
            "attach_project_secrets": attach_project_secrets,
            "apply_presets": apply_presets,
            "azure_vault_options": azure_vault_options,
        },
    )
    if options.azure_vault_options is not None:
        from airflow_secrets_provider.azure.options import reader_settings_from_options

        reader_settings_from_options(options.azure_vault_options, "azure_vault_options.")
