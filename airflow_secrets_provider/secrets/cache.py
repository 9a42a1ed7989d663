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
* Storage is a plain dict of ``(value, expiry)``: a hit is one dict read and one clock read,
  without a lock (a dict read is atomic), so a cached lookup costs about what Airflow's
  environment-variable backend costs. Writes take a lock; a full cache drops expired entries,
  then the oldest stored.

Values are kept in memory only, never logged, and the cache's ``repr`` shows sizes only.

Why not ``cachetools`` (no longer a dependency): its caches are not thread-safe and update their
bookkeeping on every read (``TTLCache`` also has one lifetime for hits and misses alike), so each
hit would take a lock, and single flight and "not cacheable" answers would still be ours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

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

    Each entry's lifetime is chosen when it is stored (``ttl`` for a hit, ``negative_ttl`` for
    a miss; a lifetime of 0 is never stored). Reads take no lock; writes do, and a store is
    never called while it is held. At most ``max_entries`` are kept: expired ones go first,
    then the oldest stored.
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
        self.max_entries = max(1, max_entries)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[K, tuple[V | None, float]] = {}  # value (None: a miss), expiry
        self._flight: SingleFlight[K, V | None] = SingleFlight()

    def __repr__(self) -> str:
        return f"LookupCache(ttl={self.ttl}, negative_ttl={self.negative_ttl}, entries={len(self)})"

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def followers(self, key: K) -> int:
        """Callers waiting for the lookup of ``key`` in progress (see :meth:`SingleFlight.followers`)."""
        return self._flight.followers(key)

    def _expire(self, now: float) -> None:
        # Caller holds the lock.
        for key in [k for k, (_, expiry) in self._entries.items() if expiry <= now]:
            del self._entries[key]

    def _store(self, key: K, value: V | None) -> None:
        lifetime = self.ttl if value is not None else self.negative_ttl
        if lifetime <= 0:
            return
        with self._lock:
            now = self._clock()
            entries = self._entries
            entries.pop(key, None)  # re-stored: it is the newest now
            if len(entries) >= self.max_entries:
                self._expire(now)
                while len(entries) >= self.max_entries:
                    del entries[next(iter(entries))]  # dicts keep insertion order: the oldest
            entries[key] = (value, now + lifetime)

    def get(self, key: K, load: Callable[..., LoadResult[V]], *args: Any) -> V | None:
        """The cached answer for ``key``, or ``load(*args)`` (one caller at a time per key)."""
        entry = self._entries.get(key)
        if entry is not None and entry[1] > self._clock():
            return entry[0]

        def lead() -> V | None:
            # A flight that finished between our cache check and now may have filled it.
            entry = self._entries.get(key)
            if entry is not None and entry[1] > self._clock():
                return entry[0]
            result = load(*args)
            if result.cacheable:
                self._store(key, result.value)
            return result.value

        return self._flight.do(key, lead)
