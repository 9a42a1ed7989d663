"""Source naming (secrets/sources.py): prefixes, separators, spellings, lookup patterns."""

from __future__ import annotations

import pytest

from airflow_secrets_provider.secrets.chain import build_source
from airflow_secrets_provider.secrets.sources import LOOKUP_KINDS, Naming, spell_as_is
from tests.support.backend import CountingSource, backend


def test_env_source_naming_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MY_DB", "mysql://u:env-pass-1@h/db")
    monkeypatch.setenv("AIRFLOW_VAR_MY_KEY", "env-variable-1")
    monkeypatch.setenv("AIRFLOW_CONFIG_SQL_CONN", "sqlite:////tmp/x.db")
    monkeypatch.setenv("MYCO_VAR_MY_KEY", "myco-variable-1")
    monkeypatch.setenv("AIRFLOW_CONN_MY-DB", "mysql://u:other-pass-2@h/db")
    chain = backend({"kind": "env"})
    # Airflow's EnvironmentVariablesBackend: upper case only, so distinct ids never share a variable.
    assert chain.get_conn_value("my_db") == "mysql://u:env-pass-1@h/db"
    assert chain.get_conn_value("my-db") == "mysql://u:other-pass-2@h/db"
    assert chain.get_conn_value("my.db") is None
    assert chain.get_variable("my_key") == "env-variable-1"
    assert chain.get_config("sql_conn") == "sqlite:////tmp/x.db"
    assert backend({"kind": "env", "prefix": "MYCO_"}).get_variable("my_key") == "myco-variable-1"


def test_null_prefix_disables_a_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_K", "value-not-served")
    monkeypatch.setenv("AIRFLOW_CONN_K", "http://served")
    chain = backend({"kind": "env", "variables_prefix": None})
    assert chain.get_variable("k") is None
    assert chain.get_conn_value("k") == "http://served"


def test_azure_naming_follows_the_microsoft_provider() -> None:
    source = build_source({"kind": "azure_vault", "vault_url": "https://v.vault.azure.net"}, 0)
    assert source.naming.name_for("connections", "my_db") == "airflow-connections-my-db"
    assert source.naming.name_for("variables", "hello") == "airflow-variables-hello"
    assert source.naming.name_for("config", "sql_alchemy_conn") == "airflow-config-sql-alchemy-conn"
    assert source.naming.name_for("variables", "has.dot") is None  # cannot exist in a vault
    custom = build_source(
        {"kind": "azure_vault", "vault_url": "https://v.vault.azure.net", "variables_prefix": "", "sep": "-"}, 0
    )
    assert custom.naming.name_for("variables", "my_key") == "my-key"
    # KeyVaultBackend strips the separator from a prefix given with it; so do we.
    trailing = build_source(
        {"kind": "azure_vault", "vault_url": "https://v.vault.azure.net", "connections_prefix": "airflow-connections-"},
        0,
    )
    assert trailing.naming.name_for("connections", "my_db") == "airflow-connections-my-db"


def test_kubernetes_naming_is_airflows_env_convention() -> None:
    source = build_source({"kind": "kubernetes", "namespace": "ns", "project": "fraud"}, 0)
    assert source.naming.name_for("connections", "my_db") == "AIRFLOW_CONN_MY_DB"
    assert source.naming.name_for("connections", "my-db") == "AIRFLOW_CONN_MY-DB"  # not my_db's key
    assert source.naming.name_for("variables", "k") == "AIRFLOW_VAR_K"
    assert source.naming.name_for("variables", "has space") is None  # no Secret key can spell it


def test_lookup_patterns_skip_a_source_for_other_ids() -> None:
    naming = Naming(
        dict.fromkeys(LOOKUP_KINDS, ""),
        "",
        {"variables": __import__("re").compile(r"team_a_"), "connections": None, "config": None},
        spell_as_is,
    )
    team_a = CountingSource({("variables", "team_a_key"): "team-a-value"}, naming=naming)
    fallback = CountingSource({("variables", "other"): "other-value"})
    chain = backend(team_a, fallback)
    assert chain.get_variable("team_a_key") == "team-a-value"
    assert chain.get_variable("other") == "other-value"
    assert team_a.calls == [("variables", "team_a_key")]  # never asked for "other"


def test_pattern_option_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_PROD_X", "prod-value-1")
    monkeypatch.setenv("AIRFLOW_VAR_DEV_X", "dev-value-1")
    chain = backend({"kind": "env", "variables_lookup_pattern": "^prod_"})
    assert chain.get_variable("prod_x") == "prod-value-1"
    assert chain.get_variable("dev_x") is None
