"""Backend lookups: cached hits, and Key Vault (against the stand-in, tests/support/keyvault_standin.py).

* cached ``get_conn_value``: ``ChainedSecretsBackend`` (env source) vs Airflow's
  ``EnvironmentVariablesBackend``; inside a task (a recording supervisor channel installed as
  ``SUPERVISOR_COMMS``) the supervisor messages per cached lookup are counted too;
* a cold fan-out of 50 vault secrets with 20 ms vault latency: ``AzureVaultReader.get_secrets``
  vs a serial ``SecretClient.get_secret`` loop, each with a new client and credential; run twice,
  against the stand-in in its own process (as a real vault is remote:
  :mod:`benchmarks.remote_vault`) and in the client's process (where the stand-in's TLS
  handshakes and handler threads compete with the client for the GIL, which a cold start with
  eight new connections pays for and a warm one does not);
* 20 backend lookups of one variable: ours (cached) vs the Microsoft Azure provider's
  ``AzureKeyVaultBackend`` (no cache), both through the real SDK to the same stand-in.
"""

from __future__ import annotations

import os
import secrets as token_source
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.harness import Result, interleaved, interleaved_measures, summarize

VAULT_LATENCY = 0.020


class RecordingComms:
    """Stands in for the task's channel to its supervisor: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


@contextmanager
def inside_a_task() -> Iterator[RecordingComms]:
    from airflow.sdk.execution_time import task_runner

    comms = RecordingComms()
    had = hasattr(task_runner, "SUPERVISOR_COMMS")
    saved = getattr(task_runner, "SUPERVISOR_COMMS", None)
    task_runner.SUPERVISOR_COMMS = comms  # type: ignore[assignment]
    try:
        yield comms
    finally:
        if had:
            task_runner.SUPERVISOR_COMMS = saved  # type: ignore[assignment]
        else:
            del task_runner.SUPERVISOR_COMMS


def cached_lookup(repeats: int = 41) -> Result:
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    from airflow_secrets_provider.secrets import ChainedSecretsBackend

    conn_id = f"bench_{token_source.token_hex(4)}"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = f"postgres://app:{token_source.token_hex(16)}@db:5432/app"
    ours, env = ChainedSecretsBackend(), EnvironmentVariablesBackend()
    try:
        ours.get_conn_value(conn_id)  # fill the cache
        pairs = interleaved(
            lambda: ours.get_conn_value(conn_id), lambda: env.get_conn_value(conn_id), repeats=repeats, inner=2000
        )
        with inside_a_task() as comms:
            fresh = ChainedSecretsBackend()
            fresh.get_conn_value(conn_id)
            first = len(comms.sent)
            for _ in range(100):
                fresh.get_conn_value(conn_id)
            per_hit = (len(comms.sent) - first) / 100
    finally:
        del os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"]
    return summarize(
        "cached get_conn_value",
        "ChainedSecretsBackend (env source, cached)",
        "EnvironmentVariablesBackend",
        pairs,
        target="<= 1.2x; 0 supervisor messages per hit",
        counts={"supervisor messages per cached lookup inside a task": per_hit},
    )


def _vault_counts(vault: Any) -> dict[str, int]:
    log = vault.request_log
    return {
        "vault GETs": sum(1 for r in log if r.path.startswith("/secrets") and r.status != 401),
        "challenges (401)": sum(1 for r in log if r.path.startswith("/secrets") and r.status == 401),
        "token requests": sum(1 for r in log if r.path.endswith("/oauth2/v2.0/token")),
        "discovery requests": sum(1 for r in log if "openid-configuration" in r.path or "discovery" in r.path),
    }


def _forget_challenges() -> None:
    """The SDK caches Key Vault's challenge per vault URL process-wide; a cold start has none."""
    from azure.keyvault.secrets._shared import http_challenge_cache

    http_challenge_cache.clear()


def _client_secret_credential(vault: Any) -> Any:
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        vault.tenant_id,
        vault.client_id,
        vault.client_secret,
        authority=vault.authority,
        disable_instance_discovery=True,
        connection_verify=vault.ca_file,
    )


def _sdk_client(vault: Any) -> Any:
    from azure.keyvault.secrets import SecretClient

    return SecretClient(
        vault.url, _client_secret_credential(vault), verify_challenge_resource=False, connection_verify=vault.ca_file
    )


def _our_reader(vault: Any) -> Any:
    from airflow_secrets_provider.azure.vault import AzureVaultReader

    return AzureVaultReader.from_options(vault.reader_options())


def azure_fan_out(names: int = 50, repeats: int = 9) -> list[Result]:
    """The fan-out against the stand-in in its own process (a remote vault), then in ours."""
    from benchmarks.remote_vault import RemoteKeyVault
    from tests.support.keyvault_standin import KeyVaultStandIn

    return [
        _azure_fan_out(RemoteKeyVault(), "stand-in in its own process", names, repeats),
        _azure_fan_out(KeyVaultStandIn(), "stand-in in the client's process", names, repeats),
    ]


def _azure_fan_out(standin: Any, where: str, names: int, repeats: int) -> Result:
    from airflow_secrets_provider.azure import vault as azure_vault

    with standin as vault:
        wanted = [f"bench-{i}" for i in range(names)]
        for name in wanted:
            vault.set_secret(name, token_source.token_hex(16))
        vault.inject_latency(VAULT_LATENCY)
        url = vault.url  # read once: with the stand-in in another process, each read is a message
        counts: dict[str, dict[str, int]] = {}
        warm_seconds: list[float] = []
        cold_minus_warm: list[float] = []  # per repeat: the warm call right after the cold one

        def ours_cold() -> float:
            azure_vault.clear_clients()
            _forget_challenges()
            reader = _our_reader(vault)
            vault.reset_counts()
            start = time.perf_counter()
            reader.get_secrets(url, wanted)
            elapsed = time.perf_counter() - start
            counts["ours, cold"] = _vault_counts(vault)
            start = time.perf_counter()
            reader.get_secrets(url, wanted)
            warm_seconds.append(time.perf_counter() - start)
            cold_minus_warm.append(elapsed - warm_seconds[-1])
            return elapsed

        def serial_cold() -> float:
            _forget_challenges()
            client = _sdk_client(vault)
            vault.reset_counts()
            start = time.perf_counter()
            for name in wanted:
                client.get_secret(name)
            elapsed = time.perf_counter() - start
            counts["serial SecretClient, cold"] = _vault_counts(vault)
            client.close()
            return elapsed

        pairs = interleaved_measures(ours_cold, serial_cold, repeats=repeats)
        azure_vault.clear_clients()
    warm = sorted(warm_seconds)[len(warm_seconds) // 2]
    extra = sorted(cold_minus_warm)[len(cold_minus_warm) // 2]
    return summarize(
        f"{names} vault secrets, cold client, {int(VAULT_LATENCY * 1000)} ms vault latency, {where}",
        "AzureVaultReader.get_secrets (8 workers)",
        "serial SecretClient.get_secret",
        pairs,
        target="1 token, <= 1 challenge, <= 1 discovery; cold within 2 round trips of warm",
        counts={
            **counts,
            "ours: cold minus warm, in round trips of the injected latency (median of pairs)": round(
                extra / VAULT_LATENCY, 1
            ),
            "ours, warm: median seconds": round(warm, 4),
        },
    )


def azure_backend(lookups: int = 20, repeats: int = 9) -> Result:
    from airflow_secrets_provider.azure import vault as azure_vault
    from airflow_secrets_provider.secrets import ChainedSecretsBackend
    from tests.support.keyvault_standin import KeyVaultStandIn

    try:
        from airflow.providers.microsoft.azure.secrets.key_vault import AzureKeyVaultBackend
    except ImportError as err:
        raise RuntimeError(
            "the Microsoft Azure provider is not importable: run the benchmarks with scripts/bench.sh"
        ) from err

    with KeyVaultStandIn() as vault:
        key = f"bench-{token_source.token_hex(4)}"
        vault.set_secret(f"airflow-variables-{key}", token_source.token_hex(16))
        counts: dict[str, dict[str, int]] = {}

        def ours() -> float:
            azure_vault.clear_clients()
            backend = ChainedSecretsBackend(sources=[vault.backend_source(variables_prefix="airflow-variables")])
            backend.get_variable(key)  # client, token and first read: the same for both sides
            vault.reset_counts()
            start = time.perf_counter()
            for _ in range(lookups):
                assert backend.get_variable(key) is not None
            elapsed = time.perf_counter() - start
            counts["ours"] = _vault_counts(vault)
            return elapsed

        def microsoft() -> float:
            backend = AzureKeyVaultBackend(vault_url=vault.url)
            # Its own client setup takes no authority, CA or instance-discovery option for the
            # credential, which a local stand-in needs: the same SDK client is handed to it.
            backend.client = _sdk_client(vault)
            backend.get_variable(key)
            vault.reset_counts()
            start = time.perf_counter()
            for _ in range(lookups):
                assert backend.get_variable(key) is not None
            elapsed = time.perf_counter() - start
            counts["AzureKeyVaultBackend"] = _vault_counts(vault)
            backend.client.close()
            return elapsed

        pairs = interleaved_measures(ours, microsoft, repeats=repeats)
        azure_vault.clear_clients()
    return summarize(
        f"{lookups} lookups of one variable in Key Vault (after a first one)",
        "ChainedSecretsBackend (azure_vault source)",
        "AzureKeyVaultBackend (Microsoft Azure provider)",
        pairs,
        counts=counts,
    )
