"""The one retry policy for Kubernetes API calls, on tenacity, shaped like ``generic_api_retry``.

cncf.kubernetes retries its own calls with ``kubernetes_helper_functions.generic_api_retry``:
tenacity, a bounded number of attempts, exponential backoff, ``Retry-After`` honoured on 429,
each retry logged. This policy is the same shape with what this package needs on top:

* **What is transient**: HTTP 5xx, 429 and connection failures (refused, reset, timed out), as
  in ``generic_api_retry``. A 409 is a *conflict* for a create (the object exists: the caller
  decides) and a *retry* for a read-modify-write (``retry_conflicts=True``: the whole function
  re-reads what it modifies). 401/403, 404, 422 and other 4xx fail at once: repeating a request
  the server rejected on its merits only delays the clear error.
* **Budgets**: a number of attempts *and* a time budget, with "equal jitter" backoff (half the
  exponential ceiling kept, half random) so that writers that collided do not collide again in
  lock step; ``Retry-After`` is honoured up to the cap.
* **Errors** are :mod:`~airflow_secrets_provider.kube.errors`' value-free types, raised with no ``ApiException`` chained
  (its ``str()`` prints the response body).

``sleep``, ``jitter`` and ``clock`` are injectable, so tests count sleeps instead of timing them.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.kube.body_logging import withhold_secret_bodies
from airflow_secrets_provider.kube.errors import (
    CONNECTION_ERRORS,
    PROVIDER,
    KubernetesAccessError,
    KubernetesApiError,
    KubernetesConflictError,
    KubernetesInvalidError,
    KubernetesNotFoundError,
    KubernetesUnavailableError,
    KubeTarget,
    connection_error,
    gave_up,
    translate_api_exception,
)

__all__ = [
    "DEFAULT_POLICY",
    "PROVIDER",
    "KubeTarget",
    "KubernetesAccessError",
    "KubernetesApiError",
    "KubernetesConflictError",
    "KubernetesInvalidError",
    "KubernetesNotFoundError",
    "KubernetesUnavailableError",
    "RetryPolicy",
    "call_kube",
    "call_with_retries",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

# Every path to the Kubernetes API passes through this module, so this is where the client's
# DEBUG log of Secret bodies is closed (see kube_logging).
withhold_secret_bodies()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard :func:`call_kube` tries. ``sleep``, ``jitter`` and ``clock`` are injectable for tests.

    The delay before attempt *n+1* is ``min(max_delay, base_delay * 2**(n-1))``, of which a
    random half is kept ("equal jitter"): concurrent writers that conflicted spread out instead
    of retrying together, yet never retry with no pause at all.
    """

    max_attempts: int = 8
    base_delay: float = 0.1
    max_delay: float = 4.0
    max_elapsed: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait = ceiling / 2 + self.jitter() * ceiling / 2
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait

    def retrying(self, started: float) -> tenacity.Retrying:
        """The tenacity controller for one call that began at ``started`` (``clock()`` time)."""

        def wait(state: tenacity.RetryCallState) -> float:
            return self.delay(state.attempt_number, _transient(state).retry_after)

        def stop(state: tenacity.RetryCallState) -> bool:
            return state.attempt_number >= self.max_attempts or (
                self.clock() - started + state.upcoming_sleep > self.max_elapsed
            )

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            wait=wait,
            stop=stop,
            sleep=self.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )


DEFAULT_POLICY = RetryPolicy()


class _Transient(Exception):
    """Internal: an attempt failed in a way worth repeating; carries the translated error."""

    def __init__(self, error: KubernetesApiError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _transient(state: tenacity.RetryCallState) -> _Transient:
    exc = state.outcome.exception() if state.outcome is not None else None
    assert isinstance(exc, _Transient)  # the retry predicate only lets these through
    return exc


def _log_retry(state: tenacity.RetryCallState) -> None:
    """``before_sleep_log`` in our words: the error's message names the call, never a body."""
    log.warning(
        "%s; retrying in %.2fs (attempt %d)", _transient(state).error, state.upcoming_sleep, state.attempt_number
    )


def _attempt(fn: Callable[[], T], operation: str, target: KubeTarget, retry_conflicts: bool) -> T:
    """One try of ``fn``: a success, a :class:`_Transient`, or a final value-free error."""
    retry_after: float | None = None
    try:
        return fn()
    except KubernetesConflictError as exc:
        # From a nested call inside a read-modify-write: the whole function may be redone.
        if not retry_conflicts:
            raise
        error: KubernetesApiError = exc
        retryable = True
    except KubernetesApiError:
        raise  # nested calls have already been retried or are permanent
    except ApiException as exc:
        error, retryable, retry_after = translate_api_exception(exc, operation, target, retry_conflicts)
    except CONNECTION_ERRORS as exc:
        error, retryable = connection_error(exc, operation, target), True
    # Raised outside the except blocks: no ApiException is chained to what we raise.
    if retryable:
        raise _Transient(error, retry_after)
    raise error


def call_kube(
    fn: Callable[[], T],
    operation: str,
    target: KubeTarget,
    *,
    retry_conflicts: bool = False,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> T:
    """Call ``fn`` (one Kubernetes API request, or a whole read-modify-write) with retries.

    ``retry_conflicts`` marks ``fn`` as safe to repeat after a 409, which is true only when
    ``fn`` re-reads what it modifies; a bare create or replace must not set it. A
    :class:`KubernetesConflictError` raised inside ``fn`` (by a nested ``call_kube``) counts as
    a 409, so a read-modify-write can nest its single calls and still be retried as a whole.
    Other :class:`KubernetesApiError` from nested calls pass through unchanged.
    """
    retrying = policy.retrying(policy.clock())
    final: KubernetesApiError | None = None
    try:
        return retrying(_attempt, fn, operation, target, retry_conflicts)
    except _Transient as exc:
        final = gave_up(exc.error, retrying.statistics.get("attempt_number", 1))
    raise final


def call_with_retries(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` through :func:`call_kube`, described by free text.

    For single calls whose description is easiest written inline, e.g.
    ``call_with_retries(f"delete secret {ns}/{name}", core_v1.delete_namespaced_secret, name, ns)``.
    Conflicts are not retried (a bare write cannot be repeated blindly); a 404 raises
    :class:`KubernetesNotFoundError`, not ``ApiException``.
    """
    return call_kube(functools.partial(call, *args, **kwargs), what, KubeTarget(""))
