"""Reading secrets from code running inside a task: ``get_secret`` and ``get_secret_or_env``.

Modelled on MLRun's ``get_secret_or_env``: code asks for a key by the name it was requested
under (``"db-password"`` or ``"DB_PASSWORD"``) and does not care how the value was delivered.
This module must work in a plain task image without Airflow, so it imports nothing heavy at
import time and only touches Airflow when a step needs it.

``get_secret(key, default=None)`` looks in this order and returns the first value found:

1. the environment variable :func:`~airflow_secrets_provider.core.validation.env_name_for_key`
   ``(key)`` -- how ``SecretTaskOperator`` injects every provider's values
   (``db-password`` -> ``db_password``);
2. a file named ``key`` (or its env name) in one of the directories listed in
   ``AIRFLOW_SECRETS_MOUNT_DIRS`` (``os.pathsep``-separated, default ``/etc/airflow-secrets``),
   e.g. a Secret mounted with ``mount_secret("my-secret", "/etc/airflow-secrets")``; the file's
   content is returned exactly (no stripping);
3. Azure Key Vault, in ``azure_vault`` "pod" mode: when ``AIRFLOW_SECRETS_AZURE_VAULT_URL`` is
   set and the key is one of ``AIRFLOW_SECRETS_AZURE_VAULT_SECRETS`` (compared by env name; an
   empty list means any secret of the vault), fetched with the ``AZURE_TENANT_ID`` /
   ``AZURE_CLIENT_ID`` / ``AZURE_CLIENT_SECRET`` credentials the operator injected (else
   ``DefaultAzureCredential``). ``AZURE_AUTHORITY_HOST``,
   ``AIRFLOW_SECRETS_AZURE_CONNECTION_VERIFY`` (a CA file),
   ``AIRFLOW_SECRETS_AZURE_VERIFY_CHALLENGE_RESOURCE=false`` and
   ``AIRFLOW_SECRETS_AZURE_DISABLE_INSTANCE_DISCOVERY=true`` adapt it to a sovereign cloud;
4. the configured :class:`~airflow_secrets_provider.secrets.ChainedSecretsBackend` (``[workers]
   secrets_backend`` or ``[secrets] backend``), asked for an Airflow *variable* named ``key``
   -- that backend only, not the metadata DB or the Execution API;
5. ``default``.

``get_secret_or_env(key, default=None)`` does the same, then also accepts a plain environment
variable spelled exactly ``key`` (``db-password``), MLRun's "secret first, then the
environment" order.

Every value returned (not ``default``) is registered with Airflow's log masker when Airflow is
installed, so a stray ``print`` or ``log.info`` in the task shows ``***``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.validation import env_name_for_key

MOUNT_DIRS_ENV = "AIRFLOW_SECRETS_MOUNT_DIRS"
DEFAULT_MOUNT_DIR = "/etc/airflow-secrets"
ENV_AZURE_CONNECTION_VERIFY = "AIRFLOW_SECRETS_AZURE_CONNECTION_VERIFY"
ENV_AZURE_VERIFY_CHALLENGE_RESOURCE = "AIRFLOW_SECRETS_AZURE_VERIFY_CHALLENGE_RESOURCE"
ENV_AZURE_DISABLE_INSTANCE_DISCOVERY = "AIRFLOW_SECRETS_AZURE_DISABLE_INSTANCE_DISCOVERY"

_lock = threading.Lock()
_memo: dict[str, Any] = {}


def get_secret(key: str, default: str | None = None) -> str | None:
    """The value of secret ``key`` from what the task was given; see the module docstring."""
    value = _find(key)
    if value is None:
        return default
    _mask(value)
    return value


def get_secret_or_env(key: str, default: str | None = None) -> str | None:
    """:func:`get_secret`, then a plain environment variable named exactly ``key``."""
    value = _find(key)
    if value is None:
        value = os.environ.get(key)
    if value is None:
        return default
    _mask(value)
    return value


def reset() -> None:
    """Forget memoised Key Vault values and the backend (tests; after rotating credentials)."""
    with _lock:
        _memo.clear()


def _find(key: str) -> str | None:
    if not isinstance(key, str) or not key:
        raise ValueError("a secret key must be a non-empty string")
    for step in (_from_env, _from_files, _from_azure_pod, _from_backend):
        value = step(key)
        if value is not None:
            return value
    return None


def _from_env(key: str) -> str | None:
    return os.environ.get(env_name_for_key(key))


def _mount_dirs() -> list[str]:
    raw = os.environ.get(MOUNT_DIRS_ENV)
    return [d for d in (raw.split(os.pathsep) if raw is not None else [DEFAULT_MOUNT_DIR]) if d]


def _from_files(key: str) -> str | None:
    if "/" in key or "\\" in key or "\0" in key or key in (".", ".."):
        return None  # a key never names a path outside the mount directory
    for directory in _mount_dirs():
        for name in dict.fromkeys((key, env_name_for_key(key))):
            path = Path(directory) / name
            try:
                if not path.is_file():
                    continue
                raw = path.read_bytes()  # bytes, then decode: read_text would rewrite \r\n
            except OSError:
                continue
            return _decode_mounted(raw, path)
    return None


@drops_original_error
def _decode_mounted(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretConfigError(str(path), "is not UTF-8 text; read binary secrets from the file directly") from None


def _azure_vault_name(key: str, listed: list[str]) -> str | None:
    from airflow_secrets_provider.core.validation import is_key_vault_secret_name

    if listed:
        wanted = env_name_for_key(key)
        return next((name for name in listed if name == key or env_name_for_key(name) == wanted), None)
    for candidate in (key, key.replace("_", "-")):
        if is_key_vault_secret_name(candidate):
            return candidate
    return None


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    return default if raw is None else raw.strip().lower() in ("1", "true", "yes")


def _azure_reader() -> Any:
    from airflow_secrets_provider.azure.vault import AzureVaultReader, CredentialConfig, VaultOptions

    env = os.environ
    authority = env.get("AZURE_AUTHORITY_HOST") or None
    discovery_off = _flag(ENV_AZURE_DISABLE_INSTANCE_DISCOVERY, False)
    if env.get("AZURE_TENANT_ID") and env.get("AZURE_CLIENT_ID") and env.get("AZURE_CLIENT_SECRET"):
        credential = CredentialConfig(
            "client_secret",
            env["AZURE_TENANT_ID"],
            env["AZURE_CLIENT_ID"],
            env["AZURE_CLIENT_SECRET"],
            authority=authority,
            disable_instance_discovery=discovery_off,
        )
    else:
        credential = CredentialConfig(authority=authority)
    verify: bool | str = env.get(ENV_AZURE_CONNECTION_VERIFY) or True
    options = VaultOptions(
        connection_verify=verify,
        verify_challenge_resource=_flag(ENV_AZURE_VERIFY_CHALLENGE_RESOURCE, True),
    )
    return AzureVaultReader(credential, options)


def _from_azure_pod(key: str) -> str | None:
    from airflow_secrets_provider.providers.azure_vault import ENV_VAULT_SECRETS, ENV_VAULT_URL

    vault_url = os.environ.get(ENV_VAULT_URL)
    if not vault_url:
        return None
    listed = [s.strip() for s in os.environ.get(ENV_VAULT_SECRETS, "").split(",") if s.strip()]
    name = _azure_vault_name(key, listed)
    if name is None:
        return None
    memo_key = f"azure:{vault_url}:{name.lower()}"
    with _lock:
        if memo_key in _memo:
            return str(_memo[memo_key])
        reader = _memo.get("azure-reader")
        if reader is None:
            reader = _memo["azure-reader"] = _azure_reader()
    value = reader.find_secret(vault_url, name)
    if value is not None:
        with _lock:
            _memo[memo_key] = value
    return value  # type: ignore[no-any-return]


def _from_backend(key: str) -> str | None:
    if importlib.util.find_spec("airflow") is None:
        return None
    with _lock:
        if "backend" not in _memo:
            _memo["backend"] = _configured_backend()
        backend = _memo["backend"]
    if backend is None:
        return None
    return backend.get_variable(key)  # type: ignore[no-any-return]


def _configured_backend() -> Any:
    """The ChainedSecretsBackend configured for workers (else for Airflow), or ``None``."""
    from airflow.sdk.configuration import get_custom_secret_backend

    from airflow_secrets_provider.secrets.backend import ChainedSecretsBackend

    backend = get_custom_secret_backend(worker_mode=True)
    return backend if isinstance(backend, ChainedSecretsBackend) else None


def _mask(value: str) -> None:
    if importlib.util.find_spec("airflow") is None:
        return
    from airflow_secrets_provider.secrets.masking import mask_value

    mask_value(value)
