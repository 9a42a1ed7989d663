"""ChainedSecretsBackend without remote stores: cache, single flight, naming, masking, errors.

Sources here are the real ``env``/``file`` sources, the kubernetes source over a fake
``CoreV1Api``-like object, and a counting source that records every call the backend lets
through. Masking is asserted through Airflow's own ``redact`` (both maskers), not by spying.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow._shared.secrets_masker import redact as core_redact
from airflow.sdk._shared.secrets_masker import redact as sdk_redact
from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider import runtime
from airflow_secrets_provider.exceptions import SecretAccessError, SecretConfigError, SecretsProviderError
from airflow_secrets_provider.get_provider_info import get_provider_info
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.secrets import ChainedSecretsBackend
from airflow_secrets_provider.secrets.cache import LoadResult, LookupCache
from airflow_secrets_provider.secrets.kubernetes_source import KubernetesSource
from airflow_secrets_provider.secrets.sources import LOOKUP_KINDS, Naming, Source, build_source, spell_as_is
from tests.support.canaries import canary


class CountingSource(Source):
    """Holds ``values[(kind, name)]``; counts reads; can be slowed down or made to fail."""

    kind = "counting"

    def __init__(
        self,
        values: dict[tuple[str, str], str] | None = None,
        *,
        delay: float = 0.0,
        error: Exception | None = None,
        naming: Naming | None = None,
        gate: threading.Barrier | None = None,
    ) -> None:
        super().__init__(naming or Naming(dict.fromkeys(LOOKUP_KINDS, ""), "", {}, spell_as_is), "counting source")
        self.values = values or {}
        self.delay = delay
        self.error = error
        self.gate = gate  # every read waits here until the barrier's parties are all reading
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def read(self, kind: str, name: str) -> str | None:
        with self._lock:
            self.calls.append((kind, name))
        if self.delay:
            time.sleep(self.delay)
        if self.gate is not None:
            self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.values.get((kind, name))


def backend(*sources: Any, ttl: float = 300, negative_ttl: float = 60) -> ChainedSecretsBackend:
    return ChainedSecretsBackend(sources=list(sources), cache_ttl_seconds=ttl, negative_cache_ttl_seconds=negative_ttl)


def assert_masked(*values: str) -> None:
    for value in values:
        line = f"before {value} after"
        assert sdk_redact(line) == "before *** after", f"SDK masker does not hide a value of length {len(value)}"
        assert core_redact(line) == "before *** after", f"core masker does not hide a value of length {len(value)}"


# ---------------------------------------------------------------------------------------------
# Cache, negative cache, single flight


def test_repeated_lookups_within_ttl_make_one_call() -> None:
    source = CountingSource({("variables", "answer"): "forty-two-value"})
    chain = backend(source)
    for _ in range(25):
        assert chain.get_variable("answer") == "forty-two-value"
    assert source.calls == [("variables", "answer")]


def test_ttl_zero_disables_the_value_cache() -> None:
    source = CountingSource({("variables", "answer"): "forty-two-value"})
    chain = backend(source, ttl=0)
    for _ in range(5):
        assert chain.get_variable("answer") == "forty-two-value"
    assert len(source.calls) == 5


def test_a_miss_is_cached_negatively_and_can_be_turned_off() -> None:
    source = CountingSource()
    chain = backend(source)
    for _ in range(10):
        assert chain.get_variable("absent") is None
    assert len(source.calls) == 1

    uncached = CountingSource()
    chain = backend(uncached, negative_ttl=0)
    for _ in range(4):
        assert chain.get_variable("absent") is None
    assert len(uncached.calls) == 4


def test_kinds_are_cached_separately() -> None:
    source = CountingSource({("variables", "x"): "variable-value", ("connections", "x"): "http://h"})
    chain = backend(source)
    assert chain.get_variable("x") == "variable-value"
    assert chain.get_conn_value("x") == "http://h"
    assert chain.get_config("x") is None
    assert sorted(source.calls) == [("config", "x"), ("connections", "x"), ("variables", "x")]


def test_entries_expire_after_their_ttl() -> None:
    now = [1000.0]
    cache: LookupCache[str, str] = LookupCache(10, 2, clock=lambda: now[0])
    loads: list[str] = []

    def load(value: str | None) -> Callable[[], LoadResult[str]]:
        def run() -> LoadResult[str]:
            loads.append(str(value))
            return LoadResult(value)

        return run

    assert cache.get("hit", load("v1")) == "v1"
    assert cache.get("miss", load(None)) is None
    now[0] += 1.5
    assert cache.get("hit", load("v2")) == "v1"
    assert cache.get("miss", load(None)) is None
    assert loads == ["v1", "None"]
    now[0] += 1  # 2.5 s: the miss expired, the hit did not
    assert cache.get("miss", load(None)) is None
    assert cache.get("hit", load("v2")) == "v1"
    now[0] += 8  # 10.5 s: the hit expired too
    assert cache.get("hit", load("v2")) == "v2"
    assert loads == ["v1", "None", "None", "v2"]


def test_a_miss_after_a_source_failure_is_not_cached() -> None:
    broken = CountingSource(error=SecretsProviderError("store unreachable"))
    chain = backend(broken)
    assert chain.get_variable("k") is None
    assert chain.get_variable("k") is None
    assert len(broken.calls) == 2  # retried: the miss may have been wrong


def test_a_hit_after_a_source_failure_is_not_cached() -> None:
    """The failing source comes first: once it recovers, its value must win, not a cached fallback."""
    primary = CountingSource(error=SecretsProviderError("store unreachable"))
    fallback = CountingSource({("variables", "k"): "fallback-value"})
    chain = backend(primary, fallback)
    assert chain.get_variable("k") == "fallback-value"
    primary.error = None
    primary.values = {("variables", "k"): "primary-value"}
    assert chain.get_variable("k") == "primary-value"


def test_cache_is_bounded() -> None:
    cache: LookupCache[int, str] = LookupCache(100, 100, max_entries=3)
    for i in range(10):
        cache.get(i, lambda: LoadResult("value"))
    assert len(cache) == 3
    loaded: list[int] = []

    def load(i: int) -> Callable[[], LoadResult[str]]:
        def run() -> LoadResult[str]:
            loaded.append(i)
            return LoadResult("value")

        return run

    cache.get(9, load(9))
    cache.get(0, load(0))
    assert loaded == [0]  # the newest entries stay, the oldest went


def test_concurrent_lookups_of_one_id_make_one_call() -> None:
    source = CountingSource({("connections", "db"): "postgres://u:p4ssw0rd-x@h/db"}, delay=0.3)
    chain = backend(source)
    start = threading.Barrier(12)
    results: list[str | None] = []

    def lookup() -> None:
        start.wait()
        results.append(chain.get_conn_value("db"))

    threads = [threading.Thread(target=lookup) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == ["postgres://u:p4ssw0rd-x@h/db"] * 12
    assert source.calls == [("connections", "db")]


def test_single_flight_also_holds_with_caching_off() -> None:
    source = CountingSource({("variables", "v"): "shared-value"}, delay=0.3)
    chain = backend(source, ttl=0, negative_ttl=0)
    start = threading.Barrier(8)
    threads = [threading.Thread(target=lambda: (start.wait(), chain.get_variable("v"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(source.calls) == 1
    chain.get_variable("v")
    assert len(source.calls) == 2  # but nothing is remembered afterwards


def test_concurrent_lookups_of_different_ids_run_in_parallel() -> None:
    # Each read waits until all six are reading at once: serialised lookups would break the
    # barrier (after a bounded wait) and fail, whatever the machine's speed.
    values = {("variables", f"v{i}"): f"value-{i}-xyz" for i in range(6)}
    source = CountingSource(values, gate=threading.Barrier(6, timeout=60))
    chain = backend(source)
    results: dict[str, str | None] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.update({f"v{i}": chain.get_variable(f"v{i}")})) for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results == {name: value for (_, name), value in values.items()}  # not serialised behind one lock
    assert len(source.calls) == 6


def test_followers_get_the_leaders_access_denied() -> None:
    source = CountingSource(error=SecretAccessError("counting", "the store"), delay=0.2)
    chain = backend(source)
    errors: list[BaseException] = []

    def lookup() -> None:
        try:
            chain.get_variable("v")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=lookup) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 5
    assert all(isinstance(err, AirflowSecretsBackendAccessDenied) for err in errors)
    assert len(source.calls) == 1


# ---------------------------------------------------------------------------------------------
# Chain order, errors


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


# ---------------------------------------------------------------------------------------------
# Masking


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


# ---------------------------------------------------------------------------------------------
# Connections


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


# ---------------------------------------------------------------------------------------------
# Naming conventions and lookup patterns


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


# ---------------------------------------------------------------------------------------------
# File source (LocalFilesystemBackend formats)


def test_file_source_reads_env_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "conns.json").write_text(
        json.dumps({"api": {"conn_type": "http", "host": "h", "password": "json-file-pw"}, "uri": "http://u:p@h"})
    )
    (tmp_path / "vars.env").write_text("# comment\n\nplain = env-file-value\nmy-var=a=b=c\n")
    (tmp_path / "config.yaml").write_text(
        "sql_conn: sqlite:////tmp/y.db\nstructured:\n  a: 1\n  since: 2024-01-01\nrelease: 2024-02-03\n"
    )
    chain = backend(
        {
            "kind": "file",
            "connections_file": str(tmp_path / "conns.json"),
            "variables_file": str(tmp_path / "vars.env"),
            "config_file": str(tmp_path / "config.yaml"),
        }
    )
    conn = chain.get_connection("api")
    assert conn is not None
    assert (conn.conn_type, conn.password) == ("http", "json-file-pw")
    assert chain.get_conn_value("uri") == "http://u:p@h"
    assert chain.get_variable("plain") == "env-file-value"
    assert chain.get_variable("my-var") == "a=b=c"
    assert chain.get_config("sql_conn") == "sqlite:////tmp/y.db"
    assert json.loads(chain.get_config("structured") or "") == {"a": 1, "since": "2024-01-01"}
    assert chain.get_config("release") == "2024-02-03"  # YAML reads it as a date; served as text
    assert chain.get_variable("nope") is None


def test_file_source_kind_without_a_file_is_off_and_missing_file_is_empty(tmp_path: Path) -> None:
    chain = backend({"kind": "file", "variables_file": str(tmp_path / "later.json")})
    assert chain.get_variable("x") is None
    assert chain.get_conn_value("x") is None


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.env", f"ok=1\nsecret-line-without-equals-{canary('hunter2')}\n"),
        ("bad.json", f'{{"k": "{canary("hunter2")}-json", }}'),
        ("bad.yaml", f"k: [{canary('hunter2')}-yaml\n"),
    ],
)
def test_file_parse_errors_name_the_line_not_the_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    chain = backend({"kind": "file", "variables_file": str(path)})
    with caplog.at_level(logging.WARNING):
        assert chain.get_variable("k") is None
    assert str(path) in caplog.text
    assert "line" in caplog.text
    assert canary("hunter2") not in caplog.text


# ---------------------------------------------------------------------------------------------
# Kubernetes source over a CoreV1Api-like fake


class FakeCoreV1Api:
    def __init__(self, secrets: dict[str, tuple[dict[str, str], dict[str, str]]], status: int | None = None) -> None:
        self.secrets = secrets  # name -> (labels, data)
        self.status = status
        self.calls = 0

    def _secret(self, name: str) -> SimpleNamespace:
        labels, data = self.secrets[name]
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return SimpleNamespace(metadata=SimpleNamespace(name=name, labels=labels), data=encoded)

    def read_namespaced_secret(self, name: str, namespace: str) -> SimpleNamespace:
        self.calls += 1
        if self.status:
            raise ApiException(status=self.status, reason="Forbidden")
        if name not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        return self._secret(name)

    def list_namespaced_secret(self, namespace: str, label_selector: str) -> SimpleNamespace:
        self.calls += 1
        key, _, value = label_selector.partition("=")
        names = [n for n, (labels, _) in self.secrets.items() if labels.get(key) == value]
        return SimpleNamespace(items=[self._secret(n) for n in names])


def kube_source(api: FakeCoreV1Api, **config: Any) -> KubernetesSource:
    built = KubernetesSource.from_config({"kind": "kubernetes", "namespace": "ml", **config}, "sources[0]")
    built.hook = SecretsKubernetesHook.for_client(api)  # type: ignore[arg-type]
    return built


def test_kubernetes_source_reads_the_project_secret() -> None:
    api = FakeCoreV1Api(
        {"airflow-project-secrets-fraud": ({}, {"AIRFLOW_CONN_WAREHOUSE": "postgres://u:kube-pw-1@h/db"})}
    )
    chain = backend(kube_source(api, project="fraud"))
    conn = chain.get_connection("warehouse")
    assert conn is not None
    assert conn.password == "kube-pw-1"
    assert chain.get_variable("absent") is None
    assert api.calls == 2
    assert_masked("kube-pw-1")


def test_kubernetes_source_missing_secret_is_a_miss_and_forbidden_is_denied() -> None:
    assert backend(kube_source(FakeCoreV1Api({}), secret="nope")).get_variable("x") is None
    with pytest.raises(AirflowSecretsBackendAccessDenied):
        backend(kube_source(FakeCoreV1Api({}, status=403), secret="nope")).get_variable("x")


def test_kubernetes_source_label_selector_merges_secrets_in_name_order() -> None:
    api = FakeCoreV1Api(
        {
            "b-secret": ({"team": "data"}, {"AIRFLOW_VAR_SHARED": "from-b-secret", "AIRFLOW_VAR_ONLY_B": "only-b-val"}),
            "a-secret": ({"team": "data"}, {"AIRFLOW_VAR_SHARED": "from-a-secret"}),
            "other": ({"team": "web"}, {"AIRFLOW_VAR_WEB": "web-value-1"}),
        }
    )
    chain = backend(kube_source(api, label_selector="team=data"))
    assert chain.get_variable("shared") == "from-a-secret"
    assert chain.get_variable("only_b") == "only-b-val"
    assert chain.get_variable("web") is None


# ---------------------------------------------------------------------------------------------
# Configuration


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


# ---------------------------------------------------------------------------------------------
# Runtime API (env and mounted files; Key Vault pod mode is in test_azure_vault.py)


@pytest.fixture
def clean_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    runtime.reset()
    monkeypatch.setenv(runtime.MOUNT_DIRS_ENV, str(tmp_path))
    monkeypatch.delenv("AIRFLOW_SECRETS_AZURE_VAULT_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    monkeypatch.delenv("AIRFLOW__WORKERS__SECRETS_BACKEND", raising=False)
    return tmp_path


def test_get_secret_reads_the_injected_env_name(clean_runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("db_password", "injected-env-value")
    assert runtime.get_secret("db-password") == "injected-env-value"
    assert runtime.get_secret("db_password") == "injected-env-value"
    assert_masked("injected-env-value")


def test_get_secret_reads_mounted_files(clean_runtime: Path) -> None:
    (clean_runtime / "api-token").write_text("mounted-file-value\n")
    assert runtime.get_secret("api-token") == "mounted-file-value\n"
    assert runtime.get_secret("../etc/passwd") is None
    assert_masked("mounted-file-value")


def test_get_secret_returns_mounted_bytes_exactly_and_rejects_binary(clean_runtime: Path) -> None:
    (clean_runtime / "crlf").write_bytes(b"line-one-value\r\nline2\r")
    assert runtime.get_secret("crlf") == "line-one-value\r\nline2\r"  # no newline translation
    (clean_runtime / "keystore").write_bytes(b"binary-canary-1c9d\xff\xfe")
    with pytest.raises(SecretConfigError) as info:
        runtime.get_secret("keystore")
    assert "not UTF-8" in str(info.value) and info.value.__context__ is None


def test_get_secret_default_and_get_secret_or_env(clean_runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("odd-name", "plain-env-value")
    assert runtime.get_secret("odd-name") is None
    assert runtime.get_secret("odd-name", "fallback") == "fallback"
    assert runtime.get_secret_or_env("odd-name") == "plain-env-value"
    assert runtime.get_secret_or_env("absent-key", "dflt") == "dflt"


def test_get_secret_falls_back_to_the_configured_backend(clean_runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_runtime / "vars.json").write_text(json.dumps({"from_backend": "backend-served-value"}))
    monkeypatch.setenv("AIRFLOW__WORKERS__SECRETS_BACKEND", "airflow_secrets_provider.secrets.ChainedSecretsBackend")
    monkeypatch.setenv(
        "AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS",
        json.dumps({"sources": [{"kind": "file", "variables_file": str(clean_runtime / "vars.json")}]}),
    )
    assert runtime.get_secret("from_backend") == "backend-served-value"
    assert runtime.get_secret("not_there") is None


def test_package_exports_the_runtime_api() -> None:
    import airflow_secrets_provider as package

    assert package.get_secret is runtime.get_secret
    assert package.get_secret_or_env is runtime.get_secret_or_env


# ---------------------------------------------------------------------------------------------
# Teams (Airflow's multi-team mode)


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
