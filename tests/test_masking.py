"""Masking (secrets/masking.py), asserted through Airflow's own ``redact`` (both maskers)."""

from __future__ import annotations

import json

from airflow._shared.secrets_masker import redact as core_redact
from airflow.sdk._shared.secrets_masker import redact as sdk_redact

from tests.support.backend import CountingSource, assert_masked, backend


def test_variables_are_masked_whatever_their_name() -> None:
    chain = backend(CountingSource({("variables", "region"): "eu-west-unmasked-by-airflow"}))
    assert chain.get_variable("region") == "eu-west-unmasked-by-airflow"
    assert_masked("eu-west-unmasked-by-airflow")


def test_every_leaf_of_a_json_variable_is_masked() -> None:
    value = json.dumps({"user": "alice-the-admin", "nested": {"list": ["leaf-in-a-list", 12345]}, "n": None})
    chain = backend(CountingSource({("variables", "cfg"): value}))
    assert chain.get_variable("cfg") == value
    assert_masked(value, "alice-the-admin", "leaf-in-a-list")


def test_connection_uri_password_and_json_leaves_are_masked() -> None:
    uri = "postgres://app:p%40ss-word-9@db.internal:5432/app"
    as_json = json.dumps({"conn_type": "generic", "login": "json-login-xyz", "extra": {"api_key": "extra-key-777"}})
    chain = backend(CountingSource({("connections", "uri"): uri, ("connections", "json"): as_json}))
    assert chain.get_conn_value("uri") == uri
    assert chain.get_conn_value("json") == as_json
    assert_masked(uri, "p@ss-word-9", "p%40ss-word-9", "json-login-xyz", "extra-key-777")
    assert sdk_redact("type generic") == "type generic"  # conn_type is a type name, not a secret


def test_masking_reaches_string_extras_numbers_uri_extras_and_config_uris() -> None:
    as_json = json.dumps({"conn_type": "generic", "extra": json.dumps({"token": "string-extra-leaf-1"})})
    uri = "wasb://acct@host/?sas=uri-extra-leaf-22&__extra__=" + json.dumps({"k": "extra-json-leaf-3"})
    chain = backend(
        CountingSource(
            {
                ("connections", "json"): as_json,
                ("connections", "uri"): uri,
                ("variables", "pin"): json.dumps({"pin": 98765432}),
                ("config", "sql_alchemy_conn"): "postgresql://airflow:cfg%40pass99@db/airflow?sslmode=require",
            }
        )
    )
    assert chain.get_conn_value("json") and chain.get_conn_value("uri") and chain.get_variable("pin")
    assert chain.get_config("sql_alchemy_conn")
    assert_masked(
        "string-extra-leaf-1", "uri-extra-leaf-22", "extra-json-leaf-3", "98765432", "cfg@pass99", "cfg%40pass99"
    )
    assert sdk_redact("sslmode require") == "sslmode require"  # a config URI's options stay readable


def test_values_are_masked_again_on_cache_hits() -> None:
    from airflow._shared.secrets_masker import reset_secrets_masker as reset_core_masker
    from airflow.sdk._shared.secrets_masker import reset_secrets_masker

    chain = backend(CountingSource({("variables", "v"): "re-registered-value"}))
    chain.get_variable("v")
    reset_secrets_masker()  # what a fresh task process' maskers look like (SDK and core copies)
    reset_core_masker()
    assert sdk_redact("re-registered-value") == "re-registered-value"
    assert core_redact("re-registered-value") == "re-registered-value"
    chain.get_variable("v")
    assert_masked("re-registered-value")
