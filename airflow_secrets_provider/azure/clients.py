"""Key Vault credentials and ``SecretClient`` objects, built once per configuration per process.

A ``SecretClient`` holds a connection pool and its credential a token cache; building them per
lookup would pay a TLS handshake and a token request every time (and hit Entra ID's
throttling). A forked child starts with an empty registry: sockets and locks must not be
shared across a fork. azure-core's own retry policy (408/429/5xx, connection errors,
``Retry-After``) is configured from :class:`~airflow_secrets_provider.azure.options.VaultOptions`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from airflow_secrets_provider.azure.options import CredentialConfig, VaultOptions

if TYPE_CHECKING:
    from azure.core.credentials import (
        AccessToken,
        AccessTokenInfo,
        SupportsTokenInfo,
        TokenCredential,
        TokenRequestOptions,
    )
    from azure.keyvault.secrets import SecretClient


class _TokenSignal:
    """A client's credential that tells when the client holds a token.

    Until a client has been through Key Vault's challenge and obtained a token, every request
    sent concurrently starts its own challenge, discovery and token request. Once a token has
    been issued, the challenge is cached (process-wide, by the SDK) and the token too, so the
    reader can fan out at that moment rather than after the whole first read. The signal is per
    client, not per credential: one credential may hold a token for another vault's scope.
    """

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential
        self.issued = threading.Event()

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        token = self._credential.get_token(*scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs)
        self.issued.set()
        return token

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        # Every credential _build_credential makes (azure-identity >= 1.17) has get_token_info;
        # azure-core prefers it over get_token when present.
        info = cast("SupportsTokenInfo", self._credential).get_token_info(*scopes, options=options)
        self.issued.set()
        return info

    def close(self) -> None:
        """Nothing to release: the credential is shared and outlives any one client."""

    def __repr__(self) -> str:
        return f"_TokenSignal({type(self._credential).__name__}, issued={self.issued.is_set()})"


class _Registry:
    """Credentials and clients built once per configuration per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._credentials: dict[tuple[Any, ...], TokenCredential] = {}
        self._clients: dict[tuple[Any, ...], SecretClient] = {}
        self._signals: dict[int, _TokenSignal] = {}  # by id() of a client held in _clients

    def _check_fork(self) -> None:
        # Caller holds the lock. Pools and token caches are not fork-safe: start afresh.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._credentials.clear()
            self._clients.clear()
            self._signals.clear()

    def token_issued(self, client: SecretClient) -> threading.Event:
        """Set once ``client`` has obtained a token (and so passed Key Vault's challenge)."""
        with self._lock:
            self._check_fork()
            signal = self._signals.get(id(client))
        if signal is None:
            raise KeyError("the client was not built by this registry")  # a programming error
        return signal.issued

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
                signal = _TokenSignal(credential)
                found = self._clients[key] = _build_client(vault_url, signal, options)
                self._signals[id(found)] = signal
            return found

    def clear(self) -> None:
        with self._lock:
            self._credentials.clear()
            self._clients.clear()
            self._signals.clear()

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
