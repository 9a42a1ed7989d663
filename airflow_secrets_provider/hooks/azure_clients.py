"""Key Vault credentials and ``SecretClient`` objects, built once per configuration per process.

A ``SecretClient`` holds a connection pool and its credential a token cache; building them per
lookup would pay a TLS handshake and a token request every time (and hit Entra ID's
throttling). A forked child starts with an empty registry: sockets and locks must not be
shared across a fork. azure-core's own retry policy (408/429/5xx, connection errors,
``Retry-After``) is configured from :class:`~.azure_options.VaultOptions`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_secrets_provider.hooks.azure_options import CredentialConfig, VaultOptions

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient


class _Registry:
    """Credentials and clients built once per configuration per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._credentials: dict[tuple[Any, ...], TokenCredential] = {}
        self._clients: dict[tuple[Any, ...], SecretClient] = {}
        self._warm: set[int] = set()  # id() of clients (held in _clients) that completed a request

    def _check_fork(self) -> None:
        # Caller holds the lock. Pools and token caches are not fork-safe: start afresh.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._credentials.clear()
            self._clients.clear()
            self._warm.clear()

    def is_warm(self, client: SecretClient) -> bool:
        """Whether ``client`` has answered a request: its challenge and token are cached."""
        with self._lock:
            self._check_fork()
            return id(client) in self._warm

    def mark_warm(self, client: SecretClient) -> None:
        with self._lock:
            self._check_fork()
            if any(found is client for found in self._clients.values()):
                self._warm.add(id(client))

    def credential(self, config: CredentialConfig, verify: bool | str) -> TokenCredential:
        key = (config, verify)
        with self._lock:
            self._check_fork()
            found = self._credentials.get(key)
            if found is None:
                found = self._credentials[key] = _build_credential(config, verify)
            return found

    def client(self, vault_url: str, config: CredentialConfig, options: VaultOptions) -> SecretClient:
        key = (vault_url.rstrip("/"), config, options)
        credential = self.credential(config, options.connection_verify)
        with self._lock:
            self._check_fork()
            found = self._clients.get(key)
            if found is None:
                found = self._clients[key] = _build_client(vault_url, credential, options)
            return found

    def clear(self) -> None:
        with self._lock:
            self._credentials.clear()
            self._clients.clear()
            self._warm.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)


_REGISTRY = _Registry()


def clear_clients() -> None:
    """Forget every cached client and credential (tests; after rotating a service principal)."""
    _REGISTRY.clear()


def cached_client_count() -> int:
    """How many ``SecretClient`` objects this process holds (tests assert reuse with it)."""
    return len(_REGISTRY)


def _build_credential(config: CredentialConfig, verify: bool | str) -> TokenCredential:
    from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

    transport: dict[str, Any] = {} if verify is True else {"connection_verify": verify}
    if config.kind == "client_secret":
        assert config.tenant_id and config.client_id and config.client_secret  # __post_init__ checked
        extra: dict[str, Any] = dict(transport)
        if config.authority:
            extra["authority"] = config.authority
        if config.disable_instance_discovery:
            extra["disable_instance_discovery"] = True
        return ClientSecretCredential(config.tenant_id, config.client_id, config.client_secret, **extra)
    if config.kind == "managed_identity":
        return ManagedIdentityCredential(client_id=config.client_id, **transport)
    default_extra: dict[str, Any] = dict(transport)
    if config.client_id:
        default_extra["managed_identity_client_id"] = config.client_id
    if config.authority:
        default_extra["authority"] = config.authority
    return DefaultAzureCredential(**default_extra)


def credential_from_service_principal(
    data: Mapping[str, str],
    *,
    authority: str | None = None,
    disable_instance_discovery: bool = False,
    connection_verify: bool | str = True,
) -> TokenCredential:
    """The (shared) ``ClientSecretCredential`` for ``{"tenant_id", "client_id", "secret"}``.

    For the operator's worker mode with ``k8s_secret``: the operator reads that Kubernetes
    Secret and passes its data here (or builds an :class:`AzureVaultReader` with
    ``CredentialConfig.from_service_principal``).
    """
    config = CredentialConfig.from_service_principal(
        data, authority=authority, disable_instance_discovery=disable_instance_discovery
    )
    return _REGISTRY.credential(config, connection_verify)


HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


def _quiet_http_logging() -> None:
    """azure-core logs every request and response at INFO: three records per lookup in task
    logs. Like the Microsoft provider's backend, default that logger to WARNING unless the
    deployment configured it (``AZURE_HTTP_LOGGING_LEVEL`` or an explicit level)."""
    logger = logging.getLogger(HTTP_LOGGER)
    if logger.level == logging.NOTSET:
        level = os.environ.get("AZURE_HTTP_LOGGING_LEVEL", "WARNING").upper()
        logger.setLevel(level if level in logging.getLevelNamesMapping() else logging.WARNING)


def _build_client(vault_url: str, credential: TokenCredential, options: VaultOptions) -> SecretClient:
    from azure.keyvault.secrets import SecretClient

    _quiet_http_logging()
    return SecretClient(
        vault_url,
        credential,
        verify_challenge_resource=options.verify_challenge_resource,
        connection_verify=options.connection_verify,
        retry_total=options.retry_total,
        retry_status=options.retry_status,
        retry_backoff_factor=options.retry_backoff_factor,
        retry_backoff_max=options.retry_backoff_max,
        connection_timeout=options.connection_timeout,
        read_timeout=options.read_timeout,
    )
