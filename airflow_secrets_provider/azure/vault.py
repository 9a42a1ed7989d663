"""Reading secrets from Azure Key Vault with the real ``azure-keyvault-secrets`` SDK.

Used by both sides of the provider:

* the operator's worker, through :meth:`AzureVaultReader.read` (the ``context.azure.read``
  contract :class:`~airflow_secrets_provider.providers.azure_vault.AzureVaultSecrets` calls):
  named secrets are fetched concurrently, ``[]`` lists every *enabled* secret and fetches it;
* the secrets backend and ``get_secret`` in a pod, through :meth:`AzureVaultReader.find_secret`.

One job per module: :mod:`~airflow_secrets_provider.azure.options` parses the configuration, :mod:`~airflow_secrets_provider.azure.clients`
keeps credentials and clients, :mod:`~airflow_secrets_provider.azure.errors` maps SDK errors; this module reads (their
public names are re-exported here).

Why it is shaped this way:

* **One client per (vault, credential, options) per process.** A ``SecretClient`` holds a
  connection pool and its credential a token cache; building them per lookup would pay a TLS
  handshake and a token request every time (and hit Entra ID's throttling). They are kept in a
  process-wide registry keyed by configuration; a forked child starts with an empty registry,
  since sockets and locks must not be shared across a fork.
* **azure-core's own retry policy** retries 408/429/5xx and connection errors and honours
  ``Retry-After`` / ``retry-after-ms``; we only expose its knobs (``retry_total`` ...). Key Vault
  throttles at a few thousand transactions per 10 s per vault, so the defaults back off rather
  than hammer. Timeouts are much shorter than the SDK's 300 s, because a worker or an Airflow
  lookup stuck on an unreachable vault is worse than a clear failure.
* **Errors say which vault and which secret, never a value**: a missing (or disabled) secret is
  :class:`~airflow_secrets_provider.core.errors.SecretNotFoundError`, HTTP 401/403 or a refused
  credential is :class:`~airflow_secrets_provider.core.errors.SecretAccessError`, anything else a
  :class:`~airflow_secrets_provider.core.errors.SecretsProviderError` naming the HTTP status.
* **A sovereign cloud or a test server** needs ``authority``, ``disable_instance_discovery``,
  ``connection_verify`` (a CA file) and ``verify_challenge_resource=False``; all are options.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from airflow_secrets_provider.azure.clients import (
    _REGISTRY,
    cached_client_count,
    clear_clients,
    credential_from_service_principal,
)
from airflow_secrets_provider.azure.errors import translate_error
from airflow_secrets_provider.azure.options import (
    CREDENTIAL_KINDS,
    KIND,
    READER_OPTIONS,
    SERVICE_PRINCIPAL_KEYS,
    CredentialConfig,
    VaultOptions,
    reader_settings_from_options,
)
from airflow_secrets_provider.core.errors import (
    SecretConfigError,
    SecretNotFoundError,
    SecretsProviderError,
    drops_original_error,
)
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.core.validation import is_key_vault_secret_name
from airflow_secrets_provider.core.values import SecretValues

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

    from airflow_secrets_provider.core.model import ResolveContext
    from airflow_secrets_provider.providers.azure_vault import AzureVaultSecrets

__all__ = [
    "CREDENTIAL_KINDS",
    "KIND",
    "READER_OPTIONS",
    "SERVICE_PRINCIPAL_KEYS",
    "AzureVaultReader",
    "CredentialConfig",
    "VaultOptions",
    "cached_client_count",
    "clear_clients",
    "credential_from_service_principal",
    "reader_settings_from_options",
    "translate_error",
]


ServicePrincipalLoader = Callable[[str, "ResolveContext"], Mapping[str, str]]
"""Given a Kubernetes Secret name and the resolve context, return its ``tenant_id``/``client_id``/``secret``."""


class AzureVaultReader:
    """Reads Key Vault secrets; one instance can serve many vaults and many tasks.

    ``credential`` is how to authenticate when a request names no ``k8s_secret``.
    ``service_principal_loader``, when given, is called with a request's ``k8s_secret`` to get
    the service principal stored there (the operator reads the Kubernetes Secret); without a
    loader such requests use ``credential`` too.
    """

    def __init__(
        self,
        credential: CredentialConfig | None = None,
        options: VaultOptions | None = None,
        *,
        service_principal_loader: ServicePrincipalLoader | None = None,
    ) -> None:
        self.credential = credential or CredentialConfig()
        self.options = options or VaultOptions()
        self.service_principal_loader = service_principal_loader

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **kwargs: Any) -> AzureVaultReader:
        """A reader from flat options, see :func:`reader_settings_from_options`."""
        credential, vault_options = reader_settings_from_options(options)
        return cls(credential, vault_options, **kwargs)

    def __repr__(self) -> str:
        return f"AzureVaultReader(credential={self.credential!r}, options={self.options!r})"

    # -- the operator's contract -----------------------------------------------------------

    def read(self, request: AzureVaultSecrets, context: ResolveContext) -> SecretValues:
        """Values of ``request.secrets`` (all enabled secrets when empty), keyed by vault name."""
        credential = self.credential
        if request.k8s_secret and self.service_principal_loader is not None:
            credential = CredentialConfig.from_service_principal(
                self.service_principal_loader(request.k8s_secret, context),
                authority=self.credential.authority,
                disable_instance_discovery=self.credential.disable_instance_discovery,
                origin=f"Kubernetes Secret {request.k8s_secret!r}",
            )
        names: Sequence[str] = request.secrets or self.list_enabled_names(request.url, credential)
        return self.get_secrets(request.url, names, credential)

    # -- building blocks -------------------------------------------------------------------

    def client(self, vault_url: str, credential: CredentialConfig | None = None) -> SecretClient:
        return _REGISTRY.client(vault_url, credential or self.credential, self.options)

    def _explicit(self, credential: CredentialConfig | None) -> bool:
        return (credential or self.credential).kind != "default"

    @drops_original_error
    def get_secret(self, vault_url: str, name: str, credential: CredentialConfig | None = None) -> str:
        """One secret's current value; :class:`SecretNotFoundError` when missing or disabled."""
        from azure.core.exceptions import AzureError

        if not is_key_vault_secret_name(name):
            raise SecretConfigError("secret", f"{shown(name)} is not a valid Key Vault secret name", provider=KIND)
        try:
            secret = self.client(vault_url, credential).get_secret(name)
        except (AzureError, OSError, ValueError) as err:
            # OSError/ValueError: the transport could not even be set up (a CA bundle path that
            # does not exist, a malformed URL); named like every other failure.
            raise translate_error(err, vault_url, name, explicit_identity=self._explicit(credential)) from None
        return secret.value or ""

    def find_secret(self, vault_url: str, name: str, credential: CredentialConfig | None = None) -> str | None:
        """Like :meth:`get_secret` but ``None`` for a missing, disabled or unnameable secret."""
        if not is_key_vault_secret_name(name):
            return None
        try:
            return self.get_secret(vault_url, name, credential)
        except SecretNotFoundError:
            return None

    def get_secrets(
        self, vault_url: str, names: Iterable[str], credential: CredentialConfig | None = None
    ) -> SecretValues:
        """Fetch ``names`` concurrently (at most ``max_workers`` at a time).

        Every fetch runs to completion; then the first failure in request order is raised, so
        the error is deterministic however the threads interleave.

        A client without a token sends the first name alone: that request pays Key Vault's
        challenge, the authority's discovery and the token request once. The others start the
        moment the token is issued, while the first read is still in flight (fanned out before
        it, each worker would pay all three; waiting for the whole first read costs a round
        trip). When the first request fails before any token exists (a refused credential, an
        unreachable vault), that error is raised without sending the rest.
        """
        ordered = list(dict.fromkeys(names))
        if not ordered:
            return SecretValues()
        for i, name in enumerate(ordered):
            if not is_key_vault_secret_name(name):
                raise SecretConfigError(
                    f"secrets[{i}]", f"{shown(name)} is not a valid Key Vault secret name", provider=KIND
                )
        client = self.client(vault_url, credential)  # build once, before the threads race to it
        token_issued = _REGISTRY.token_issued(client)

        def fetch(name: str) -> str | Exception:
            try:
                return self.get_secret(vault_url, name, credential)
            except SecretsProviderError as err:  # SecretNotFoundError included
                return err

        workers = min(self.options.max_workers, len(ordered))
        if workers <= 1:
            return _in_request_order(ordered, [fetch(name) for name in ordered])
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azure-vault") as pool:
            if token_issued.is_set():
                return _in_request_order(ordered, list(pool.map(fetch, ordered)))
            first = pool.submit(fetch, ordered[0])
            _wait_for_token_or(first, token_issued)
            if not token_issued.is_set():
                failed = first.result()
                if isinstance(failed, Exception) and not isinstance(failed, SecretNotFoundError):
                    raise failed
            rest = list(pool.map(fetch, ordered[1:]))
            return _in_request_order(ordered, [first.result(), *rest])

    @drops_original_error
    def list_enabled_names(self, vault_url: str, credential: CredentialConfig | None = None) -> list[str]:
        """Names of every enabled secret, following ``nextLink`` pages."""
        from azure.core.exceptions import AzureError

        try:
            pages = self.client(vault_url, credential).list_properties_of_secrets(max_page_size=self.options.page_size)
            return [props.name for props in pages if props.enabled and props.name]
        except (AzureError, OSError, ValueError) as err:
            raise translate_error(err, vault_url, None, explicit_identity=self._explicit(credential)) from None


def _wait_for_token_or(first: Future[str | Exception], token_issued: threading.Event) -> None:
    """Block until the client holds a token, or the first request has ended without one."""
    ended = threading.Event()
    first.add_done_callback(lambda _future: ended.set())
    # Two events, no primitive to wait on both: poll the token every millisecond (a small
    # fraction of a round trip to any vault); the first request's end wakes us at once.
    while not token_issued.is_set() and not ended.wait(0.001):
        pass


def _in_request_order(ordered: Sequence[str], results: Sequence[str | Exception]) -> SecretValues:
    """The values, or the first failure in request order (deterministic under any interleaving)."""
    for result in results:
        if isinstance(result, Exception):
            raise result
    return SecretValues(dict(zip(ordered, cast("Sequence[str]", results), strict=True)))
