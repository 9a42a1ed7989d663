"""ChainedSecretsBackend (secrets/backend.py): chain order, errors, connections, configuration,
teams. Sources here are the real ``env`` source and a counting source.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

from airflow_secrets_provider.core.errors import SecretAccessError, SecretConfigError
from airflow_secrets_provider.get_provider_info import get_provider_info
from airflow_secrets_provider.secrets import ChainedSecretsBackend
from airflow_secrets_provider.secrets.chain import build_source
from tests.support.backend import CountingSource, backend
from tests.support.canaries import canary


def test_first_source_holding_the_id_wins() -> None:
    first = CountingSource({("variables", "a"): "from-first"})
    second = CountingSource({("variables", "a"): "from-second", ("variables", "b"): "only-second"})
    chain = backend(first, second)
    assert chain.get_variable("a") == "from-first"
    assert chain.get_variable("b") == "only-second"
    assert second.calls == [("variables", "b")]


def test_access_denied_stops_the_chain_without_the_value(caplog: pytest.LogCaptureFixture) -> None:
    denied = CountingSource(error=SecretAccessError("counting", "the store", "access denied"))
    after = CountingSource({("variables", "v"): canary("not-reached")})
    chain = backend(denied, after)
    with pytest.raises(AirflowSecretsBackendAccessDenied) as info:
        chain.get_variable("v")
    assert canary("not-reached") not in str(info.value)
    assert "'v'" in str(info.value)
    assert after.calls == []


def test_other_errors_are_logged_without_values_and_fall_through(caplog: pytest.LogCaptureFixture) -> None:
    leaky = CountingSource(error=ValueError(f"parse error near '{canary('leaked')}'"))
    after = CountingSource({("variables", "v"): canary("real-value")})
    chain = backend(leaky, after)
    with caplog.at_level(logging.WARNING):
        assert chain.get_variable("v") == canary("real-value")
        assert backend(leaky).get_variable("w") is None
    assert "ValueError" in caplog.text
    assert canary("leaked") not in caplog.text
    assert canary("real-value") not in caplog.text


def test_connections_are_built_with_deserialize_connection() -> None:
    uri = "postgres://app:pw-from-uri-1@db:5432/app"
    js = json.dumps({"conn_type": "http", "host": "api.example", "password": "pw-from-json-1", "extra": {"a": "b"}})
    chain = backend(CountingSource({("connections", "u"): uri, ("connections", "j"): js}))
    conn = chain.get_connection("u")
    assert conn is not None
    assert (conn.conn_id, conn.conn_type, conn.host, conn.password) == ("u", "postgres", "db", "pw-from-uri-1")
    conn = chain.get_connection("j")
    assert conn is not None
    assert (conn.conn_type, conn.host, conn.password, conn.extra_dejson) == (
        "http",
        "api.example",
        "pw-from-json-1",
        {"a": "b"},
    )
    assert chain.get_connection("missing") is None


def test_construction_does_no_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    attempts: list[object] = []

    def no_network(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("construction must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    chain = ChainedSecretsBackend(
        sources=[
            {"kind": "kubernetes", "project": "p", "kube_config": str(tmp_path / "no-such-kubeconfig")},
            {"kind": "azure_vault", "vault_url": "https://10.255.255.1:1", "retry_total": 0},
            {"kind": "file", "variables_file": str(tmp_path / "absent.env")},
        ]
    )
    assert attempts == []
    assert len(chain.sources) == 3


def test_backend_kwargs_as_strings_from_per_key_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_S", "string-config-value")
    chain = ChainedSecretsBackend(
        sources='[{"kind": "env"}]', cache_ttl_seconds="0", negative_cache_ttl_seconds="7.5", cache_max_entries="5"
    )
    assert (chain.cache.ttl, chain.cache.negative_ttl, chain.cache.max_entries) == (0, 7.5, 5)
    assert chain.get_variable("s") == "string-config-value"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sources": []}, "sources"),
        ({"sources": [{"kind": "vault"}]}, "sources[0].kind"),
        ({"sources": [{"kind": "env", "prefx": "A"}]}, "sources[0].prefx"),
        ({"sources": [{"kind": "env", "variables_lookup_pattern": "("}]}, "sources[0].variables_lookup_pattern"),
        ({"sources": [{"kind": "file"}]}, "sources[0]"),
        (
            {"sources": [{"kind": "file", "variables_file": "/x", "variables_prefix": "v"}]},
            "sources[0].variables_prefix",
        ),
        ({"sources": [{"kind": "kubernetes", "namespace": "n"}]}, "sources[0]"),
        ({"sources": [{"kind": "azure_vault", "vault_url": "http://insecure"}]}, "sources[0].vault_url"),
        (
            {"sources": [{"kind": "azure_vault", "vault_url": "https://v", "retry_total": "many"}]},
            "sources[0].retry_total",
        ),
        (
            {"sources": [{"kind": "azure_vault", "vault_url": "https://v", "credential": "client_secret"}]},
            "sources[0].tenant_id",
        ),
        ({"cache_ttl_seconds": -1}, "cache_ttl_seconds"),
    ],
)
def test_configuration_errors_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        ChainedSecretsBackend(**kwargs)
    assert info.value.field == field


def test_client_secret_is_not_in_any_repr() -> None:
    chain = ChainedSecretsBackend(
        sources=[
            {
                "kind": "azure_vault",
                "vault_url": "https://v.vault.azure.net",
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": "client-secret-must-not-show",
            }
        ]
    )
    source = chain.sources[0]
    texts = [repr(chain), repr(source), repr(getattr(source, "reader", None))]
    assert not any("client-secret-must-not-show" in text for text in texts)


def test_provider_info_lists_the_backend() -> None:
    assert get_provider_info()["secrets-backends"] == ["airflow_secrets_provider.secrets.backend.ChainedSecretsBackend"]


def test_a_teams_own_secret_comes_first_and_no_lookup_reaches_another_teams(monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    team_var, global_var = secrets.token_hex(16), secrets.token_hex(16)
    team_conn, global_conn = f"postgres://u:{secrets.token_hex(16)}@h/db", f"postgres://u:{secrets.token_hex(16)}@h/db"
    monkeypatch.setenv("AIRFLOW_VAR__ML___REGION", team_var)  # Airflow's spelling of team ml's own variable
    monkeypatch.setenv("AIRFLOW_VAR_REGION", global_var)
    monkeypatch.setenv("AIRFLOW_CONN__ML___WAREHOUSE", team_conn)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", global_conn)
    chain = backend(build_source({"kind": "env"}, 0))

    assert chain.get_variable("region", team_name="ml") == team_var
    assert chain.get_conn_value("warehouse", team_name="ml") == team_conn
    # Cached per team: the global answer is not the team's, and the other way round.
    assert chain.get_variable("region") == global_var
    assert chain.get_variable("region", team_name="web") == global_var
    assert chain.get_conn_value("warehouse") == global_conn
    # Naming a team's own id directly reaches nothing, with or without another team.
    assert chain.get_variable("_ml___region") is None
    assert chain.get_variable("_ml___region", team_name="web") is None
    assert chain.get_conn_value("_ml___warehouse") is None
