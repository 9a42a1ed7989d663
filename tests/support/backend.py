"""Helpers for backend tests: a counting source, a chain builder and a masking check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from airflow._shared.secrets_masker import redact as core_redact
from airflow.sdk._shared.secrets_masker import redact as sdk_redact

from airflow_secrets_provider.secrets import ChainedSecretsBackend
from airflow_secrets_provider.secrets.sources import LOOKUP_KINDS, Naming, Source, spell_as_is


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
        hold: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(naming or Naming(dict.fromkeys(LOOKUP_KINDS, ""), "", {}, spell_as_is), "counting source")
        self.values = values or {}
        self.delay = delay
        self.error = error
        self.gate = gate  # every read waits here until the barrier's parties are all reading
        self.hold = hold  # called at the start of every read (e.g. to wait for followers)
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def read(self, kind: str, name: str) -> str | None:
        with self._lock:
            self.calls.append((kind, name))
        if self.hold is not None:
            self.hold()
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


def until_followers(chain: ChainedSecretsBackend, key: tuple[str, str], n: int) -> Callable[[], None]:
    """A ``hold`` for the leader's read: wait (bounded) until ``n`` other lookups wait for it.

    Makes "concurrent lookups share one call" exact: without it a follower that arrives after
    the leader finished would look up on its own, which says nothing about single flight.
    """

    def hold() -> None:
        deadline = time.monotonic() + 60
        while chain.cache.followers(key) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {chain.cache.followers(key)} of {n} lookups joined the one in flight")
            time.sleep(0.01)

    return hold
