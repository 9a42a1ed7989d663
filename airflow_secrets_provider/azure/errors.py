"""azure-core / azure-identity errors as the package's: vault and secret named, never a value.

Messages are built from the status, the service's error code and names only; the SDK's own
text is not copied, so nothing it might echo can reach a log.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_secrets_provider.azure.options import KIND
from airflow_secrets_provider.core.errors import SecretAccessError, SecretNotFoundError, SecretsProviderError


def translate_error(
    err: Exception, vault_url: str, name: str | None, *, explicit_identity: bool = True
) -> SecretsProviderError:
    """Map an azure-core/azure-identity error to ours: names vault and secret, never a value.

    Messages are built from the status, the service's error code and names only; the SDK's
    own text is not copied, so nothing it might echo can reach a log.

    A token that could not be had is a denial when the identity was named explicitly (a
    service principal whose secret Entra ID rejects), and "no credential" when it was
    ``DefaultAzureCredential`` trying whatever the machine offers (``explicit_identity=False``).
    """
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
    from azure.identity import CredentialUnavailableError

    what = f"secret {name!r}" if name else "the secret list"
    if isinstance(err, ResourceNotFoundError) and name:
        return SecretNotFoundError(KIND, name, vault_url)
    if isinstance(err, CredentialUnavailableError):
        return SecretsProviderError(
            f"{KIND} provider: no Azure credential is available to read {what} from {vault_url} "
            "(configure a client secret, a managed identity or the AZURE_* environment)"
        )
    status = getattr(err, "status_code", None)
    code = getattr(getattr(err, "error", None), "code", None)
    inner = getattr(getattr(err, "error", None), "innererror", None) or {}
    if status == 403 and name and isinstance(inner, Mapping) and inner.get("code") == "SecretDisabled":
        return SecretNotFoundError(KIND, name, f"{vault_url} (the secret is disabled)")
    if isinstance(err, ClientAuthenticationError) and status is None and explicit_identity:
        return SecretAccessError(KIND, vault_url, f"authentication failed ({type(err).__name__}) reading {what}")
    if isinstance(err, ClientAuthenticationError) and status is None:
        # DefaultAzureCredential found nothing that could get a token (a machine without an
        # Azure identity). Nothing was denied, so the secrets backend moves on instead of
        # blocking every lookup.
        return SecretsProviderError(
            f"{KIND} provider: no Azure credential could get a token to read {what} from {vault_url} "
            f"({type(err).__name__}; configure a client secret, a managed identity or the AZURE_* environment)"
        )
    http = f"HTTP {status} {code}" if code else f"HTTP {status}"
    if status in (401, 403):
        return SecretAccessError(KIND, vault_url, f"access denied ({http}) reading {what}")
    if isinstance(err, HttpResponseError) and status is not None:
        return SecretsProviderError(f"{KIND} provider: reading {what} from {vault_url} failed with {http}")
    return SecretsProviderError(f"{KIND} provider: reading {what} from {vault_url} failed ({type(err).__name__})")
