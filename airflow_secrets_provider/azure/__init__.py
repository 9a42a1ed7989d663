"""Azure Key Vault: reader options, credentials and the client registry, error translation, the reader.

The ``azure_vault`` provider kind (``providers/``) and backend source (``secrets/``) both read
through :class:`.vault.AzureVaultReader`; the Azure SDKs are imported only when a vault is used.
"""
