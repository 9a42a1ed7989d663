"""A TTL cache with a negative cache, in front of a single-flight loader.

Why the backend needs its own: Airflow's ``SecretCache`` only works during DAG parsing, so every
``Variable.get`` or ``{{ conn.x }}`` in a running task, and every lookup in the API server on a
worker's behalf, would otherwise go to the remote store. Key Vault throttles a few thousand
transactions per 10 s per vault, and a busy deployment looks the same ids up again and again.

* **Hits** are kept ``ttl`` seconds, **misses** ``negative_ttl`` seconds (usually shorter, so a
  secret created after a miss shows up soon). Either is off at 0.
* **Single flight**: concurrent lookups of one key wait for the one in progress instead of
  each calling the store; the leader's result (or exception) is handed to all of them.
* A lookup may declare its answer not cacheable (a source failed, so a miss may be wrong and a
  later source's hit may be shadowed once it recovers); such answers are asked again next time.
* Storage is ``cachetools.TLRUCache``: per-entry lifetimes, bounded size, least recently used
  out first.

Values are kept in memory only, never logged, and the cache's ``repr`` shows sizes only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class LoadResult(Generic[V]):
    """What a loader found: ``value`` (``None`` for a miss) and whether the answer may be cached.

    ``cacheable=False`` when a source failed on the way: a miss might be the failing source's
    hit, and a hit from a later source might be shadowed by it once it recovers.
    """

    value: V | None = field(repr=False)  # a secret value: never in a repr
    cacheable: bool = True


class _Call(Generic[V]):
    __slots__ = ("done", "error", "followers", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: V | None = None
        self.error: BaseException | None = None
        self.followers = 0


class SingleFlight(Generic[K, V]):
    """Run at most one ``fn`` per key at a time; concurrent callers share its outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[K, _Call[V]] = {}

    def do(self, key: K, fn: Callable[[], V]) -> V:
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.followers += 1
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result  # type: ignore[return-value]
        try:
            call.result = fn()
            return call.result
        except BaseException as err:
            call.error = err
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()

    def followers(self, key: K) -> int:
        """How many callers wait for the call in progress for ``key`` (tests synchronise on it)."""
        with self._lock:
            call = self._calls.get(key)
            return call.followers if call is not None else 0

    def in_flight(self) -> int:
        with self._lock:
            return len(self._calls)


class LookupCache(Generic[K, V]):
    """``get(key, load)``: a cached value, or ``load()`` once (single flight) and remember it.

    The storage is ``cachetools.TLRUCache`` (installed with Airflow): each entry's lifetime is
    chosen when it is stored (``ttl`` for a hit, ``negative_ttl`` for a miss; a lifetime of 0
    is never stored), expired entries go first and then the least recently used, so the cache
    holds at most ``max_entries``. cachetools is not thread-safe; one lock guards it, and is
    never held while a store is called.
    """

    def __init__(
        self,
        ttl: float,
        negative_ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or negative_ttl < 0:
            raise ValueError("cache TTLs must not be negative")
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: cachetools.TLRUCache[K, _Entry[V]] = cachetools.TLRUCache(
            maxsize=max_entries, ttu=self._expires, timer=clock
        )
        self._flight: SingleFlight[K, V | None] = SingleFlight()

    def _expires(self, key: K, entry: _Entry[V], now: float) -> float:
        return now + (self.ttl if entry.value is not None else self.negative_ttl)

    def __repr__(self) -> str:
        return f"LookupCache(ttl={self.ttl}, negative_ttl={self.negative_ttl}, entries={len(self)})"

    def __len__(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def followers(self, key: K) -> int:
        """Callers waiting for the lookup of ``key`` in progress (see :meth:`SingleFlight.followers`)."""
        return self._flight.followers(key)

    def _cached(self, key: K) -> _Entry[V] | None:
        with self._lock:
            return self._entries.get(key)

    def get(self, key: K, load: Callable[[], LoadResult[V]]) -> V | None:
        entry = self._cached(key)
        if entry is not None:
            return entry.value

        def lead() -> V | None:
            # A flight that finished between our cache check and now may have filled it.
            entry = self._cached(key)
            if entry is not None:
                return entry.value
            result = load()
            if result.cacheable:
                with self._lock:
                    self._entries[key] = _Entry(result.value)
            return result.value

        return self._flight.do(key, lead)


@dataclass(frozen=True)
class _Entry(Generic[V]):
    """A stored answer; ``None`` is a remembered miss."""

    value: V | None = field(repr=False)
