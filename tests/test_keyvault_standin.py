"""The Key Vault stand-in is only useful if the *real* Azure SDKs accept it as the service.

These tests drive ``azure-keyvault-secrets`` and ``azure-identity`` (unmodified, over HTTPS)
against :class:`tests.support.keyvault_standin.KeyVaultStandIn`: challenge authentication,
paging, error mapping, the retry policy reacting to injected faults, and both credential types
the provider supports. If an SDK upgrade changes what it sends or expects, this file is where it
shows, before the provider's own Key Vault tests start failing in confusing ways.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from tests.support.keyvault_standin import VAULT_RESOURCE, KeyVaultStandIn

pytestmark = pytest.mark.azure

SCOPE = f"{VAULT_RESOURCE}/.default"


def client_secret_credential(vault: KeyVaultStandIn, secret: str | None = None) -> ClientSecretCredential:
    return ClientSecretCredential(
        vault.tenant_id,
        vault.client_id,
        secret if secret is not None else vault.client_secret,
        authority=vault.authority,
        disable_instance_discovery=True,
        connection_verify=vault.ca_file,
    )


def secret_client(vault: KeyVaultStandIn, credential: Any = None, **kwargs: Any) -> SecretClient:
    return SecretClient(
        vault.url,
        credential if credential is not None else client_secret_credential(vault),
        verify_challenge_resource=False,  # the challenge names vault.azure.net, the vault is 127.0.0.1
        connection_verify=vault.ca_file,
        **kwargs,
    )


def raw_get(vault: KeyVaultStandIn, path: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    """A request outside the SDK, to assert on wire details the SDK hides (headers, raw items)."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", vault.port, context=ssl.create_default_context(cafile=vault.ca_file), timeout=10
    )
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_first_request_is_challenged_then_authorized(vault: KeyVaultStandIn) -> None:
    vault.set_secret("db-password", "s3cret", content_type="text/plain", tags={"team": "data"})

    secret = secret_client(vault).get_secret("db-password")

    assert secret.value == "s3cret"
    assert secret.properties.content_type == "text/plain"
    assert secret.properties.tags == {"team": "data"}
    assert secret.properties.vault_url == vault.url
    statuses = [(r.method, r.path.split("/")[-1] or r.path.split("/")[-2], r.status) for r in vault.request_log]
    assert statuses == [
        ("GET", "db-password", 401),  # the SDK's unauthenticated probe
        ("GET", "openid-configuration", 200),  # MSAL's tenant discovery
        ("POST", "token", 200),
        ("GET", "db-password", 200),
    ]


def test_challenge_header_and_error_body_on_the_wire(vault: KeyVaultStandIn) -> None:
    status, headers, body = raw_get(vault, "/secrets/anything/?api-version=7.5")

    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant_id}", '
        'resource="https://vault.azure.net"'
    )
    assert body["error"]["code"] == "Unauthorized"


def test_token_not_issued_by_the_standin_is_rejected(vault: KeyVaultStandIn) -> None:
    class ForgedCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("forged", int(time.time()) + 3600)

    vault.set_secret("x", "y")
    with pytest.raises(ClientAuthenticationError):
        secret_client(vault, ForgedCredential(), retry_total=0).get_secret("x")


def test_set_get_versions_and_update_through_the_sdk(vault: KeyVaultStandIn) -> None:
    client = secret_client(vault)

    first = client.set_secret("api-key", "v1")
    second = client.set_secret("api-key", "v2", content_type="application/json", tags={"k": "v"})

    assert [v.value for v in vault.secret_versions("api-key")] == ["v1", "v2"]
    assert client.get_secret("api-key").value == "v2"
    assert client.get_secret("api-key", first.properties.version).value == "v1"
    assert second.properties.version == vault.secret_versions("api-key")[-1].version
    assert {p.version for p in client.list_properties_of_secret_versions("api-key")} == {
        first.properties.version,
        second.properties.version,
    }

    client.update_secret_properties("api-key", enabled=False)
    with pytest.raises(HttpResponseError) as disabled:
        client.get_secret("api-key")
    assert disabled.value.status_code == 403
    assert disabled.value.error is not None and disabled.value.error.code == "Forbidden"


def test_list_pages_with_next_link_and_no_values(vault: KeyVaultStandIn) -> None:
    for i in range(30):
        vault.set_secret(f"secret-{i:02d}", f"value-{i}", enabled=i != 7)
    client = secret_client(vault)
    client.get_secret("secret-00")  # authenticate first, so the log below is only paging
    vault.reset_counts()

    listed = list(client.list_properties_of_secrets(max_page_size=7))

    assert sorted(str(p.name) for p in listed) == [f"secret-{i:02d}" for i in range(30)]
    assert [p.enabled for p in listed if p.name == "secret-07"] == [False]  # disabled ones are listed
    assert vault.count("GET", "/secrets") == 5  # ceil(30 / 7) pages, each via nextLink

    token = client_secret_credential(vault).get_token(SCOPE).token
    status, _, page = raw_get(vault, "/secrets?api-version=7.5&maxresults=7", token)
    assert status == 200
    assert len(page["value"]) == 7
    assert all("value" not in item and set(item) >= {"id", "attributes"} for item in page["value"])
    assert page["nextLink"].startswith(f"{vault.url}/secrets?") and "$skiptoken=" in page["nextLink"]
    assert raw_get(vault, "/secrets?api-version=7.5&maxresults=26", token)[0] == 400


def test_missing_secret_raises_resource_not_found(vault: KeyVaultStandIn) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        secret_client(vault).get_secret("does-not-exist")
    assert missing.value.error is not None and missing.value.error.code == "SecretNotFound"


def test_disabled_secret_is_forbidden_like_the_service(vault: KeyVaultStandIn) -> None:
    vault.set_secret("off", "hidden", enabled=False)
    with pytest.raises(HttpResponseError) as forbidden:
        secret_client(vault).get_secret("off")
    assert forbidden.value.status_code == 403
    assert "disabled secret" in str(forbidden.value)
    assert "SecretDisabled" in str(forbidden.value)


def test_delete_removes_without_polling(vault: KeyVaultStandIn) -> None:
    vault.set_secret("gone", "soon")
    client = secret_client(vault)

    vault.reset_counts()
    deleted = client.begin_delete_secret("gone").result()

    assert deleted.name == "gone"
    # No soft-delete polling: the DELETE (after the 401 challenge) and nothing that polls (counted, not timed).
    about_it = [r for r in vault.request_log if r.path.startswith(("/secrets/gone", "/deletedsecrets"))]
    assert [(r.method, r.status) for r in about_it] == [("DELETE", 401), ("DELETE", 200)]
    assert vault.secret_versions("gone") == []
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("gone")


def test_throttling_retry_after_is_honoured(vault: KeyVaultStandIn) -> None:
    vault.set_secret("hot", "value")
    client = secret_client(vault)
    client.get_secret("hot")
    vault.reset_counts()
    vault.fail_next(1, status=429, retry_after=1)

    started = time.monotonic()
    assert client.get_secret("hot").value == "value"
    elapsed = time.monotonic() - started

    assert elapsed >= 1.0
    assert [r.status for r in vault.request_log] == [429, 200]


def test_service_unavailable_is_retried(vault: KeyVaultStandIn) -> None:
    vault.set_secret("flaky", "value")
    client = secret_client(vault, retry_total=3, retry_backoff_factor=0.01)
    client.get_secret("flaky")
    vault.reset_counts()
    vault.fail_next(2, status=503)

    assert client.get_secret("flaky").value == "value"
    assert [r.status for r in vault.request_log] == [503, 503, 200]


def test_retries_exhausted_surface_the_error(vault: KeyVaultStandIn) -> None:
    vault.set_secret("down", "value")
    client = secret_client(vault, retry_total=1, retry_backoff_factor=0.01)
    client.get_secret("down")
    vault.fail_next(5, status=503)

    with pytest.raises(HttpResponseError) as failed:
        client.get_secret("down")
    assert failed.value.status_code == 503
    vault.clear_faults()
    assert client.get_secret("down").value == "value"


def test_injected_latency_delays_vault_requests(vault: KeyVaultStandIn) -> None:
    vault.set_secret("slow", "value")
    client = secret_client(vault)
    client.get_secret("slow")
    vault.reset_counts()
    vault.inject_latency(0.3)

    started = time.monotonic()
    client.get_secret("slow")

    assert time.monotonic() - started >= 0.3
    assert vault.request_log[-1].duration >= 0.3


def test_deny_all_models_missing_permission(vault: KeyVaultStandIn) -> None:
    vault.set_secret("guarded", "value")
    client = secret_client(vault)
    vault.deny_all()

    with pytest.raises(HttpResponseError) as denied:
        client.get_secret("guarded")
    assert denied.value.status_code == 403

    vault.deny_all(False)
    assert client.get_secret("guarded").value == "value"


def test_client_secret_credential_gets_its_token_from_the_standin(vault: KeyVaultStandIn) -> None:
    token = client_secret_credential(vault).get_token(SCOPE)

    assert token.token.startswith("standin.")
    assert token.expires_on > time.time() + 3000
    assert vault.issued_token_count == 1
    assert vault.count("POST", f"/{vault.tenant_id}/oauth2/v2.0/token") == 1


def test_wrong_client_secret_is_a_client_authentication_error(vault: KeyVaultStandIn) -> None:
    vault.set_secret("x", "y")
    credential = client_secret_credential(vault, secret="wrong")

    with pytest.raises(ClientAuthenticationError, match=r"invalid_client|AADSTS7000215"):
        credential.get_token(SCOPE)
    with pytest.raises(ClientAuthenticationError):
        secret_client(vault, client_secret_credential(vault, secret="wrong")).get_secret("x")
    assert vault.issued_token_count == 0


def test_token_endpoint_faults_are_retried_by_azure_identity(vault: KeyVaultStandIn) -> None:
    vault.fail_next(1, status=503, path_prefix=f"/{vault.tenant_id}/oauth2")

    client_secret_credential(vault).get_token(SCOPE)

    token_calls = [r.status for r in vault.request_log if r.path.endswith("/token")]
    assert token_calls == [503, 200]


def _managed_identity_env(monkeypatch: pytest.MonkeyPatch, vault: KeyVaultStandIn) -> None:
    for name in ("IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in vault.managed_identity_env().items():
        monkeypatch.setenv(name, value)


def test_managed_identity_credential_reads_the_app_service_endpoint(
    vault: KeyVaultStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _managed_identity_env(monkeypatch, vault)
    vault.set_secret("mi-secret", "from-mi")

    assert secret_client(vault, ManagedIdentityCredential()).get_secret("mi-secret").value == "from-mi"
    assert vault.count("GET", "/msi/token") == 1
    assert vault.count("POST") == 0  # no client-credentials flow involved


def test_managed_identity_with_wrong_header_fails(vault: KeyVaultStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    _managed_identity_env(monkeypatch, vault)
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")

    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(SCOPE)
    assert vault.issued_token_count == 0


def test_concurrent_clients_are_counted_exactly(vault: KeyVaultStandIn) -> None:
    vault.set_secret("shared", "value")
    client = secret_client(vault)
    client.get_secret("shared")
    vault.reset_counts()

    def read() -> None:
        for _ in range(10):
            client.get_secret("shared")

    threads = [threading.Thread(target=read) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert vault.count("GET", "/secrets/shared") == 50


def test_stop_closes_listeners_and_threads() -> None:
    standin = KeyVaultStandIn().start()
    port = standin.port
    vault_client = secret_client(standin)
    standin.set_secret("k", "v")
    vault_client.get_secret("k")  # leaves a keep-alive connection open in the SDK's pool

    # stop() must not wait for the SDK's idle keep-alive connection to go away by itself.
    stopping = threading.Thread(target=standin.stop)
    stopping.start()
    stopping.join(timeout=60)  # a bounded wait for the outcome, not a speed limit
    assert not stopping.is_alive(), "stop() waits on an idle keep-alive connection"
    assert not [t for t in threading.enumerate() if t.name.startswith("keyvault-standin")]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
