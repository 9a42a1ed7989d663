"""The backend's cache (secrets/cache.py): TTLs, negative cache, bounds, single flight,
no caching after a failing source. Through the chain with a counting source, and directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

from airflow_secrets_provider.core.errors import SecretAccessError, SecretsProviderError
from airflow_secrets_provider.secrets.cache import LoadResult, LookupCache
from tests.support.backend import CountingSource, backend, until_followers


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
    source = CountingSource({("connections", "db"): "postgres://u:p4ssw0rd-x@h/db"})
    chain = backend(source)
    source.hold = until_followers(chain, ("connections", "db"), 11)
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
    source = CountingSource({("variables", "v"): "shared-value"})
    chain = backend(source, ttl=0, negative_ttl=0)
    source.hold = until_followers(chain, ("variables", "v"), 7)
    start = threading.Barrier(8)
    threads = [threading.Thread(target=lambda: (start.wait(), chain.get_variable("v"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(source.calls) == 1
    source.hold = None  # a lone lookup now
    assert chain.get_variable("v") == "shared-value"
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
    source = CountingSource(error=SecretAccessError("counting", "the store"))
    chain = backend(source)
    source.hold = until_followers(chain, ("variables", "v"), 4)
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
