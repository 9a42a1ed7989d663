"""Reading secrets from Azure Key Vault with the real ``azure-keyvault-secrets`` SDK.

Used by both sides of the provider:

* the operator's worker, through :meth:`AzureVaultReader.read` (the ``context.azure.read``
  contract :class:`~airflow_secrets_provider.providers.azure_vault.AzureVaultSecrets` calls):
  named secrets are fetched concurrently, ``[]`` lists every *enabled* secret and fetches it;
* the secrets backend and ``get_secret`` in a pod, through :meth:`AzureVaultReader.find_secret`.

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
  :class:`~airflow_secrets_provider.exceptions.SecretNotFoundError`, HTTP 401/403 or a refused
  credential is :class:`~airflow_secrets_provider.exceptions.SecretAccessError`, anything else a
  :class:`~airflow_secrets_provider.exceptions.SecretsProviderError` naming the HTTP status.
* **A sovereign cloud or a test server** needs ``authority``, ``disable_instance_discovery``,
  ``connection_verify`` (a CA file) and ``verify_challenge_resource=False``; all are options.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from airflow_secrets_provider.exceptions import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    SecretsProviderError,
    drops_original_error,
)
from airflow_secrets_provider.validation import is_key_vault_secret_name, shown
from airflow_secrets_provider.values import SecretValues

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient

    from airflow_secrets_provider.model import ResolveContext
    from airflow_secrets_provider.providers.azure_vault import AzureVaultSecrets

KIND = "azure_vault"
CREDENTIAL_KINDS = ("default", "client_secret", "managed_identity")
SERVICE_PRINCIPAL_KEYS = ("tenant_id", "client_id", "secret")
"""Keys of a Kubernetes Secret holding a service principal (MLRun's convention)."""


# ---------------------------------------------------------------------------------------------
# Configuration


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
        if self.kind not in CREDENTIAL_KINDS:
            raise SecretConfigError("credential", f"must be one of {list(CREDENTIAL_KINDS)}", provider=KIND)
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

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise SecretConfigError("max_workers", "must be at least 1", provider=KIND)
        if not 1 <= self.page_size <= 25:
            raise SecretConfigError("page_size", "must be between 1 and 25 (Key Vault's limit)", provider=KIND)
        for name in ("retry_total", "retry_status"):
            if getattr(self, name) < 0:
                raise SecretConfigError(name, "must not be negative", provider=KIND)


_CREDENTIAL_OPTIONS = {f.name for f in fields(CredentialConfig)} - {"kind"}
_VAULT_OPTIONS = {f.name for f in fields(VaultOptions)}
READER_OPTIONS = frozenset(_CREDENTIAL_OPTIONS | _VAULT_OPTIONS | {"credential", "managed_identity_client_id"})
"""Option names :func:`reader_settings_from_options` understands (backend source config, operator)."""


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Backend kwargs may arrive as strings (``AIRFLOW__SECRETS__BACKEND_KWARG__*``)."""
    if kind is bool and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    if kind in (int, float) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool)):
        return value
    raise SecretConfigError(name, f"must be a {kind.__name__}", provider=KIND)


@drops_original_error
def reader_settings_from_options(
    options: Mapping[str, Any], field_prefix: str = ""
) -> tuple[CredentialConfig, VaultOptions]:
    """Parse flat options (``tenant_id``, ``connection_verify``, ``retry_total`` ...) into config.

    ``credential`` defaults to ``"client_secret"`` when a ``client_secret`` is given, else
    ``"default"``. ``managed_identity_client_id`` selects a user-assigned identity. Unknown
    options are an error naming the field, so a typo does not silently fall back to defaults.
    """
    unknown = set(options) - READER_OPTIONS
    if unknown:
        raise SecretConfigError(f"{field_prefix}{sorted(unknown)[0]}", "is not a known Key Vault option", provider=KIND)
    kind = options.get("credential") or ("client_secret" if options.get("client_secret") else "default")
    client_id = options.get("client_id") or options.get("managed_identity_client_id")
    try:
        credential = CredentialConfig(
            kind=kind,
            tenant_id=options.get("tenant_id"),
            client_id=client_id,
            client_secret=options.get("client_secret"),
            authority=options.get("authority"),
            disable_instance_discovery=_coerce(
                "disable_instance_discovery", options.get("disable_instance_discovery", False), bool
            ),
        )
        verify = options.get("connection_verify", True)
        if isinstance(verify, str) and verify.strip().lower() in ("true", "false"):
            verify = verify.strip().lower() == "true"
        vault_kwargs: dict[str, Any] = {"connection_verify": verify}
        for f in fields(VaultOptions):
            if f.name in options and f.name != "connection_verify":
                default = getattr(VaultOptions, f.name)
                vault_kwargs[f.name] = _coerce(f.name, options[f.name], type(default))
        vault = VaultOptions(**vault_kwargs)
    except SecretConfigError as err:
        raise SecretConfigError(f"{field_prefix}{err.field}", err.problem, provider=KIND) from None
    return credential, vault


# ---------------------------------------------------------------------------------------------
# Process-wide clients


class _Registry:
    """Credentials and clients built once per configuration per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._credentials: dict[tuple[Any, ...], TokenCredential] = {}
        self._clients: dict[tuple[Any, ...], SecretClient] = {}

    def _check_fork(self) -> None:
        # Caller holds the lock. Pools and token caches are not fork-safe: start afresh.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._credentials.clear()
            self._clients.clear()

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


# ---------------------------------------------------------------------------------------------
# Errors


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


# ---------------------------------------------------------------------------------------------
# The reader


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
        """
        ordered = list(dict.fromkeys(names))
        if not ordered:
            return SecretValues()
        for i, name in enumerate(ordered):
            if not is_key_vault_secret_name(name):
                raise SecretConfigError(
                    f"secrets[{i}]", f"{shown(name)} is not a valid Key Vault secret name", provider=KIND
                )
        self.client(vault_url, credential)  # build once, before the threads race to it

        def fetch(name: str) -> str | Exception:
            try:
                return self.get_secret(vault_url, name, credential)
            except SecretsProviderError as err:
                return err

        workers = min(self.options.max_workers, len(ordered))
        if workers == 1:
            results = [fetch(name) for name in ordered]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azure-vault") as pool:
                results = list(pool.map(fetch, ordered))
        values: dict[str, str] = {}
        for name, result in zip(ordered, results, strict=True):
            if isinstance(result, Exception):
                raise result
            values[name] = result
        return SecretValues(values)

    @drops_original_error
    def list_enabled_names(self, vault_url: str, credential: CredentialConfig | None = None) -> list[str]:
        """Names of every enabled secret, following ``nextLink`` pages."""
        from azure.core.exceptions import AzureError

        try:
            pages = self.client(vault_url, credential).list_properties_of_secrets(max_page_size=self.options.page_size)
            return [props.name for props in pages if props.enabled and props.name]
        except (AzureError, OSError, ValueError) as err:
            raise translate_error(err, vault_url, None, explicit_identity=self._explicit(credential)) from None
