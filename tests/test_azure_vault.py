"""The Key Vault reader and the backend's azure_vault source, over the real Azure SDKs.

``azure-keyvault-secrets`` and ``azure-identity`` talk HTTPS to
:class:`tests.support.keyvault_standin.KeyVaultStandIn` (a test double of the service and its
token endpoints), so challenge auth, paging, retries and error mapping are the SDK's own.
Call counts come from the stand-in's request log: what reached the "service".
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from airflow.sdk._shared.secrets_masker import redact
from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

from airflow_secrets_provider import runtime
from airflow_secrets_provider.azure import vault as hook
from airflow_secrets_provider.azure.vault import AzureVaultReader, CredentialConfig, VaultOptions
from airflow_secrets_provider.core.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    SecretsProviderError,
)
from airflow_secrets_provider.core.model import ResolveContext
from airflow_secrets_provider.providers import with_secrets
from airflow_secrets_provider.providers.azure_vault import AzureVaultSecrets
from airflow_secrets_provider.secrets import ChainedSecretsBackend
from tests.support.canaries import canary
from tests.support.keyvault_standin import KeyVaultStandIn

pytestmark = pytest.mark.azure


def sp_config(vault: KeyVaultStandIn, secret: str | None = None) -> CredentialConfig:
    return CredentialConfig(
        "client_secret",
        vault.tenant_id,
        vault.client_id,
        secret or vault.client_secret,
        authority=vault.authority,
        disable_instance_discovery=True,
    )


def options(vault: KeyVaultStandIn, **overrides: Any) -> VaultOptions:
    base: dict[str, Any] = {"connection_verify": vault.ca_file, "verify_challenge_resource": False}
    base.update(overrides)
    return VaultOptions(**base)


def reader(vault: KeyVaultStandIn, **overrides: Any) -> AzureVaultReader:
    return AzureVaultReader(sp_config(vault), options(vault, **overrides))


def request(vault: KeyVaultStandIn, secrets: list[str], **extra: Any) -> AzureVaultSecrets:
    built = with_secrets("azure_vault", {"name": "standin", "vault_url": vault.url, "secrets": secrets, **extra})
    assert isinstance(built, AzureVaultSecrets)
    return built


def vault_gets(vault: KeyVaultStandIn, name: str) -> int:
    """Authenticated GETs of one secret (the SDK's unauthenticated challenge probe excluded)."""
    return sum(
        1
        for r in vault.request_log
        if r.method == "GET" and r.path.rstrip("/") == f"/secrets/{name}" and r.status != 401
    )


# ---------------------------------------------------------------------------------------------
# The reader (operator contract)


def test_read_named_secrets_concurrently(vault: KeyVaultStandIn) -> None:
    names = [f"secret-{i}" for i in range(6)]
    for name in names:
        vault.set_secret(name, f"value-of-{name}")
    concurrent = reader(vault, max_workers=6)
    concurrent.get_secrets(vault.url, names[:1])  # authenticate first: gather only the fetches
    vault.gather_requests(6, path_prefix="/secrets/secret-")

    values = concurrent.read(request(vault, names), ResolveContext(environ={}))

    assert dict(values) == {name: f"value-of-{name}" for name in names}
    assert vault.max_in_flight == 6  # all six were in flight together (no clock involved)


def test_pool_is_bounded_by_max_workers(vault: KeyVaultStandIn) -> None:
    names = [f"bounded-{i}" for i in range(4)]
    for name in names:
        vault.set_secret(name, "v-" + name)
    serial = reader(vault, max_workers=2)
    serial.get_secrets(vault.url, names[:1])
    vault.gather_requests(2, path_prefix="/secrets/bounded-")

    serial.get_secrets(vault.url, names)
    assert vault.max_in_flight == 2  # two waves of two: never more at once, and two together


def test_empty_list_reads_every_enabled_secret_across_pages(vault: KeyVaultStandIn) -> None:
    for i in range(12):
        vault.set_secret(f"paged-{i:02d}", f"paged-value-{i}")
    vault.set_secret("disabled-one", "never-read", enabled=False)
    vault.set_secret("disabled-two", "never-read", enabled=False)

    values = reader(vault, page_size=5).read(request(vault, []), ResolveContext(environ={}))

    assert dict(values) == {f"paged-{i:02d}": f"paged-value-{i}" for i in range(12)}
    list_pages = [r for r in vault.request_log if r.path.rstrip("/") == "/secrets" and r.status == 200]
    assert len(list_pages) == 3  # 14 secrets, 5 per page
    assert vault_gets(vault, "disabled-one") == 0


def test_worker_resolution_maps_vault_names_to_env_names(vault: KeyVaultStandIn) -> None:
    vault.set_secret("db-password", "mapped-value-1")
    resolved = request(vault, ["db-password"]).resolve(ResolveContext(environ={}, azure=reader(vault)))
    assert dict(resolved) == {"db_password": "mapped-value-1"}


def test_listing_all_rejects_vault_names_that_share_an_env_name(vault: KeyVaultStandIn) -> None:
    """With `[]` the vault picks the names; two that map to one env var must not drop one silently."""
    vault.set_secret("1a", f"{canary('collide')}-one")
    vault.set_secret("-1a", f"{canary('collide')}-two")
    with pytest.raises(SecretConfigError) as info:
        request(vault, []).resolve(ResolveContext(environ={}, azure=reader(vault)))
    assert "'_1a'" in str(info.value) and canary("collide") not in str(info.value)


def test_a_transport_that_cannot_be_set_up_is_named(vault: KeyVaultStandIn) -> None:
    vault.set_secret("db", "transport-value")
    broken = reader(vault, connection_verify="/nonexistent/ca.pem")
    with pytest.raises(SecretsProviderError) as info:
        broken.get_secret(vault.url, "db")
    assert "'db'" in str(info.value) and vault.url in str(info.value)


def test_missing_secret_names_vault_and_secret(vault: KeyVaultStandIn) -> None:
    vault.set_secret("present", canary("present"))
    with pytest.raises(SecretNotFoundError) as info:
        reader(vault).read(request(vault, ["present", "absent-secret"]), ResolveContext(environ={}))
    assert "absent-secret" in str(info.value)
    assert vault.url in str(info.value)
    assert canary("present") not in str(info.value)


def test_named_disabled_secret_is_not_found(vault: KeyVaultStandIn) -> None:
    vault.set_secret("switched-off", "x", enabled=False)
    with pytest.raises(SecretNotFoundError, match="disabled"):
        reader(vault).get_secret(vault.url, "switched-off")


def test_throttling_honours_retry_after(vault: KeyVaultStandIn) -> None:
    vault.set_secret("hot", "hot-value")
    read = reader(vault)
    read.get_secret(vault.url, "hot")
    vault.reset_counts()
    vault.fail_next(1, status=429, retry_after=1)

    started = time.monotonic()
    assert read.get_secret(vault.url, "hot") == "hot-value"
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in vault.request_log] == [429, 200]


def test_server_errors_are_retried_up_to_retry_total(vault: KeyVaultStandIn) -> None:
    vault.set_secret("flaky", "flaky-value")
    read = reader(vault, retry_total=2, retry_backoff_factor=0.01)
    read.get_secret(vault.url, "flaky")
    vault.reset_counts()
    vault.fail_next(2, status=503, retry_after_ms=10)
    assert read.get_secret(vault.url, "flaky") == "flaky-value"
    assert [r.status for r in vault.request_log] == [503, 503, 200]

    vault.clear_faults()
    vault.reset_counts()
    vault.fail_next(3, status=500, retry_after_ms=10)  # one more than retry_total allows
    with pytest.raises(SecretsProviderError, match=r"'flaky'.*HTTP 500") as info:
        read.get_secret(vault.url, "flaky")
    assert not isinstance(info.value, (SecretNotFoundError, SecretAccessError))
    assert [r.status for r in vault.request_log] == [500, 500, 500]


def test_forbidden_is_an_access_error(vault: KeyVaultStandIn) -> None:
    vault.set_secret("guarded", "guarded-value")
    vault.deny_all()
    with pytest.raises(SecretAccessError, match="403"):
        reader(vault).get_secret(vault.url, "guarded")


def test_wrong_client_secret_is_an_access_error_without_the_secret(vault: KeyVaultStandIn) -> None:
    vault.set_secret("x-secret", "x-value")
    bad = AzureVaultReader(sp_config(vault, canary("wrong-client-secret")), options(vault, retry_total=0))
    with pytest.raises(SecretAccessError) as info:
        bad.get_secret(vault.url, "x-secret")
    assert canary("wrong-client-secret") not in str(info.value)
    assert canary("wrong-client-secret") not in repr(bad)


def test_service_principal_from_the_k8s_secret_mapping(vault: KeyVaultStandIn) -> None:
    vault.set_secret("via-sp", "sp-value-1")
    loaded: list[str] = []

    def loader(name: str, context: ResolveContext) -> dict[str, str]:
        loaded.append(name)
        return {"tenant_id": vault.tenant_id, "client_id": vault.client_id, "secret": vault.client_secret}

    # The reader's own credential is unusable: only the loaded service principal can succeed.
    sp_reader = AzureVaultReader(
        CredentialConfig(authority=vault.authority, disable_instance_discovery=True),
        options(vault),
        service_principal_loader=loader,
    )
    values = sp_reader.read(request(vault, ["via-sp"], k8s_secret="azure-creds"), ResolveContext(environ={}))
    assert dict(values) == {"via-sp": "sp-value-1"}
    assert loaded == ["azure-creds"]
    assert vault.count("POST", f"/{vault.tenant_id}/oauth2/v2.0/token") == 1


def test_credential_from_service_principal_is_shared(vault: KeyVaultStandIn) -> None:
    data = {"tenant_id": vault.tenant_id, "client_id": vault.client_id, "secret": vault.client_secret}
    first = hook.credential_from_service_principal(
        data, authority=vault.authority, disable_instance_discovery=True, connection_verify=vault.ca_file
    )
    second = hook.credential_from_service_principal(
        data, authority=vault.authority, disable_instance_discovery=True, connection_verify=vault.ca_file
    )
    assert first is second
    assert first.get_token("https://vault.azure.net/.default").token.startswith("standin.")
    with pytest.raises(SecretConfigError, match="missing key 'secret'"):
        hook.credential_from_service_principal({"tenant_id": "t", "client_id": "c"})


def _managed_identity_env(monkeypatch: pytest.MonkeyPatch, vault: KeyVaultStandIn) -> None:
    for name in (
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_USERNAME",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in vault.managed_identity_env().items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("kind", ["managed_identity", "default"])
def test_managed_identity_and_default_credential(
    vault: KeyVaultStandIn, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _managed_identity_env(monkeypatch, vault)
    vault.set_secret("mi-secret", "from-managed-identity")
    mi_reader = AzureVaultReader(CredentialConfig(kind), options(vault))
    assert mi_reader.get_secret(vault.url, "mi-secret") == "from-managed-identity"
    assert mi_reader.get_secret(vault.url, "mi-secret") == "from-managed-identity"
    assert vault.count("GET", "/msi/token") == 1  # token cached by the shared credential
    assert vault.count("POST") == 0


def test_clients_are_created_once_per_configuration(vault: KeyVaultStandIn) -> None:
    vault.set_secret("reuse", "reuse-value")
    for _ in range(3):
        assert reader(vault).get_secret(vault.url, "reuse") == "reuse-value"
    assert reader(vault).client(vault.url) is reader(vault).client(vault.url)
    assert hook.cached_client_count() == 1
    assert vault.issued_token_count == 1
    reader(vault, retry_total=1).get_secret(vault.url, "reuse")
    assert hook.cached_client_count() == 2  # other options, other client; same credential
    assert vault.issued_token_count == 1


# ---------------------------------------------------------------------------------------------
# The backend's azure_vault source


def test_backend_n_lookups_within_ttl_make_one_vault_get(vault: KeyVaultStandIn) -> None:
    vault.set_secret("airflow-variables-hot-key", "hot-variable-value")
    chain = ChainedSecretsBackend(sources=[vault.backend_source()], cache_ttl_seconds=300)
    start = threading.Barrier(10)

    def lookup() -> None:
        start.wait()
        for _ in range(5):
            assert chain.get_variable("hot_key") == "hot-variable-value"

    threads = [threading.Thread(target=lookup) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert vault_gets(vault, "airflow-variables-hot-key") == 1
    assert redact("x hot-variable-value y") == "x *** y"


def test_backend_miss_is_cached_negatively(vault: KeyVaultStandIn) -> None:
    chain = ChainedSecretsBackend(sources=[vault.backend_source()], negative_cache_ttl_seconds=60)
    for _ in range(5):
        assert chain.get_variable("not_in_vault") is None
    assert vault_gets(vault, "airflow-variables-not-in-vault") == 1
    assert [r.status for r in vault.request_log if r.path.startswith("/secrets/airflow")][-1] == 404


def test_backend_connection_from_vault(vault: KeyVaultStandIn) -> None:
    vault.set_secret("airflow-connections-my-db", "postgres://app:vault-db-pw-1@db:5432/app")
    conn = ChainedSecretsBackend(sources=[vault.backend_source()]).get_connection("my_db")
    assert conn is not None
    assert (conn.host, conn.password) == ("db", "vault-db-pw-1")
    assert redact("pw=vault-db-pw-1") == "pw=***"


def test_backend_access_denied_raises_airflows_exception(vault: KeyVaultStandIn) -> None:
    vault.set_secret("airflow-variables-guarded", canary("guarded"))
    vault.deny_all()
    chain = ChainedSecretsBackend(sources=[vault.backend_source(), {"kind": "env"}])
    with pytest.raises(AirflowSecretsBackendAccessDenied) as info:
        chain.get_variable("guarded")
    assert canary("guarded") not in str(info.value)


def test_backend_unreachable_vault_falls_through(vault: KeyVaultStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_FALLBACK", "env-fallback-value")
    vault.fail_next(10, status=503)
    chain = ChainedSecretsBackend(sources=[vault.backend_source(retry_total=0), {"kind": "env"}])
    assert chain.get_variable("fallback") == "env-fallback-value"
    # The vault was asked (and failed) first; the env source answered after it.
    asked = [r.status for r in vault.request_log if r.path.rstrip("/") == "/secrets/airflow-variables-fallback"]
    assert 503 in asked


# ---------------------------------------------------------------------------------------------
# get_secret in a pod ("pod" mode)


def test_get_secret_in_pod_mode(vault: KeyVaultStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.set_secret("pod-secret", "pod-mode-value-1")
    vault.set_secret("unlisted", "must-not-be-read")
    runtime.reset()
    env = {
        "AIRFLOW_SECRETS_AZURE_VAULT_URL": vault.url,
        "AIRFLOW_SECRETS_AZURE_VAULT_SECRETS": "pod-secret",
        "AZURE_TENANT_ID": vault.tenant_id,
        "AZURE_CLIENT_ID": vault.client_id,
        "AZURE_CLIENT_SECRET": vault.client_secret,
        "AZURE_AUTHORITY_HOST": vault.authority,
        runtime.ENV_AZURE_CONNECTION_VERIFY: vault.ca_file,
        runtime.ENV_AZURE_VERIFY_CHALLENGE_RESOURCE: "false",
        runtime.ENV_AZURE_DISABLE_INSTANCE_DISCOVERY: "true",
        runtime.MOUNT_DIRS_ENV: "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    monkeypatch.delenv("AIRFLOW__WORKERS__SECRETS_BACKEND", raising=False)
    try:
        assert runtime.get_secret("pod_secret") == "pod-mode-value-1"
        assert runtime.get_secret("pod-secret") == "pod-mode-value-1"
        assert vault_gets(vault, "pod-secret") == 1  # memoised in the process
        assert runtime.get_secret("unlisted") is None
        assert vault_gets(vault, "unlisted") == 0
        assert redact("v=pod-mode-value-1") == "v=***"
    finally:
        runtime.reset()


def test_no_default_credential_is_a_failure_not_a_denial() -> None:
    """DefaultAzureCredential on a machine without an Azure identity must not block other backends."""
    from azure.core.exceptions import ClientAuthenticationError

    from airflow_secrets_provider.azure.vault import translate_error
    from airflow_secrets_provider.core.errors import SecretAccessError, SecretsProviderError

    err = ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")
    chained = translate_error(err, "https://v.vault.azure.net", "db", explicit_identity=False)
    assert isinstance(chained, SecretsProviderError) and not isinstance(chained, SecretAccessError)
    assert "no Azure credential" in str(chained)
    named = translate_error(err, "https://v.vault.azure.net", "db", explicit_identity=True)
    assert isinstance(named, SecretAccessError)  # a named identity that is refused is a denial
