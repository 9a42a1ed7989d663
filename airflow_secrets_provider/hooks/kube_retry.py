"""Retry and error translation for calls to the Kubernetes API.

Why a helper of our own: the official client raises ``ApiException`` for every HTTP error and
leaves retrying to the caller, and its ``str()`` prints the whole response body, which for a
Secret can hold the very data we must never show. Every Kubernetes call this package makes goes
through :func:`call_kube`, which

* retries what is transient: HTTP 5xx, 429 (honouring ``Retry-After``), dropped or refused
  connections (urllib3 errors, ``ConnectionError``) and, only when the caller says the whole
  call can be repeated safely (a read-modify-write), 409 conflicts;
* fails at once on what is permanent (401/403, 404, 422 and any other 4xx), because repeating
  a request the server has rejected on its merits only delays the clear error;
* bounds the effort by a number of attempts *and* a time budget, with exponential backoff and
  jitter, so writers that collided do not collide again in lock step;
* raises :class:`KubernetesApiError` (or a subclass) whose message names the operation, the
  object's kind, name and namespace and the HTTP status and reason, and never the request or
  response body.
"""

from __future__ import annotations

import functools
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.exceptions import SecretAccessError, SecretsProviderError
from airflow_secrets_provider.hooks.kube_logging import withhold_secret_bodies

T = TypeVar("T")

# Every path to the Kubernetes API passes through this module, so this is where the client's
# DEBUG log of Secret bodies is closed (see kube_logging).
withhold_secret_bodies()

PROVIDER = "kubernetes"

# Server-built Status messages that are safe to repeat because they are assembled only from the
# request's verb, resource, object name, namespace and user, never from the object's content.
# Anything else (an admission webhook's message, a validation message with "Invalid value: ...")
# may echo what was sent, so it is left out.
_RBAC_FORBIDDEN_RE = re.compile(
    r'[a-z0-9.]+( "[-a-z0-9.]*")? is forbidden: User "[^"\\]*" cannot [a-z]+ resource "[a-z0-9/.]+"'
    r' in API group "[-a-z0-9.]*"( in the namespace "[-a-z0-9]*")?'
)
# Field paths from a 422 ``details.causes[].field``: ``data[KEY]``, ``metadata.name``... They
# name keys and fields (never values); anything odder-looking is dropped.
_SAFE_FIELD_RE = re.compile(r"[A-Za-z0-9_.\[\]-]{1,300}")
_SAFE_CAUSE_REASON_RE = re.compile(r"[A-Za-z]{1,64}")


@dataclass(frozen=True)
class KubeTarget:
    """The object a call is about, for messages: ``Secret 'x' in namespace 'ns'``."""

    kind: str
    name: str | None = None
    namespace: str | None = None

    def describe(self) -> str:
        text = " ".join(part for part in (self.kind, None if self.name is None else repr(self.name)) if part)
        return f"{text} in namespace {self.namespace!r}" if self.namespace else text


class KubernetesApiError(SecretsProviderError):
    """A Kubernetes API call failed; ``status`` is the HTTP status (None: no HTTP answer).

    The message is built from names only: the operation, the target and the status/reason,
    plus, where the server's Status is known to carry no object content, its explanation.
    """

    def __init__(
        self,
        operation: str,
        target: KubeTarget,
        *,
        status: int | None,
        reason: str,
        detail: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.operation = operation
        self.target = target
        self.status = status
        self.reason = reason
        self.detail = detail
        self.attempts = attempts
        # For code that catches SecretAccessError and reads its attributes.
        self.provider = PROVIDER
        self.where = target.describe()
        outcome = f"HTTP {status} {reason}".rstrip() if status is not None else reason
        if attempts > 1:
            outcome = f"{outcome} (gave up after {attempts} attempts)"
        what = " ".join(part for part in (operation, target.describe()) if part)
        message = f"Kubernetes API: {what} failed: {outcome}"
        if detail:
            message = f"{message}: {detail}"
        # Not super().__init__: SecretAccessError (a sibling base of a subclass) has another
        # signature, and the message is all the args an exception needs.
        Exception.__init__(self, message)

    def __reduce__(self) -> tuple[object, ...]:
        kwargs = {"status": self.status, "reason": self.reason, "detail": self.detail, "attempts": self.attempts}
        return (_rebuild, (type(self), self.operation, self.target, kwargs))


def _rebuild(
    cls: type[KubernetesApiError], operation: str, target: KubeTarget, kwargs: dict[str, object]
) -> KubernetesApiError:
    return cls(operation, target, **kwargs)  # type: ignore[arg-type]


class KubernetesAccessError(KubernetesApiError, SecretAccessError):
    """401/403: the identity may not do this. Permanent; fix the RBAC, do not retry."""


class KubernetesNotFoundError(KubernetesApiError, LookupError):
    """404: the object (or its namespace) does not exist."""


class KubernetesConflictError(KubernetesApiError):
    """409: ``AlreadyExists`` on create, or ``Conflict`` (stale ``resourceVersion``) on write."""


class KubernetesInvalidError(KubernetesApiError, ValueError):
    """422 (or 400): the server rejected the object itself; ``detail`` lists the fields."""


class KubernetesUnavailableError(KubernetesApiError):
    """A transient failure (5xx, 429, connection) that outlived the retry budget."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard :func:`call_kube` tries. ``sleep`` and ``jitter`` are injectable for tests.

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


DEFAULT_POLICY = RetryPolicy()

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


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
    Other :class:`KubernetesApiError` from nested calls pass through unchanged (they have
    already been retried or are permanent).
    """
    started = policy.clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except KubernetesConflictError as exc:
            if not retry_conflicts:
                raise
            error: KubernetesApiError = exc
            retryable, retry_after = True, None
        except KubernetesApiError:
            raise
        except ApiException as exc:
            error, retryable, retry_after = _from_api_exception(exc, operation, target, retry_conflicts)
        except _CONNECTION_ERRORS as exc:
            error = KubernetesUnavailableError(
                operation, target, status=None, reason=f"connection error ({type(exc).__name__})"
            )
            retryable, retry_after = True, None
        # Raised outside the except blocks: no ApiException (whose str() prints the response
        # body) is chained to what we raise.
        if not retryable:
            raise error
        wait = policy.delay(attempt, retry_after)
        if attempt >= policy.max_attempts or policy.clock() - started + wait > policy.max_elapsed:
            raise _gave_up(error, attempt)
        policy.sleep(wait)


def call_with_retries(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` through :func:`call_kube`, described by free text.

    For single calls whose description is easiest written inline, e.g.
    ``call_with_retries(f"delete secret {ns}/{name}", core_v1.delete_namespaced_secret, name, ns)``.
    Conflicts are not retried (a bare write cannot be repeated blindly); a 404 raises
    :class:`KubernetesNotFoundError`, not ``ApiException``.
    """
    return call_kube(functools.partial(call, *args, **kwargs), what, KubeTarget(""))


def _gave_up(error: KubernetesApiError, attempts: int) -> KubernetesApiError:
    cls = type(error) if isinstance(error, KubernetesConflictError) else KubernetesUnavailableError
    return cls(
        error.operation,
        error.target,
        status=error.status,
        reason=error.reason,
        detail=error.detail,
        attempts=attempts,
    )


def _from_api_exception(
    exc: ApiException, operation: str, target: KubeTarget, retry_conflicts: bool
) -> tuple[KubernetesApiError, bool, float | None]:
    """Translate ``exc`` into (our error, whether to retry, server-requested delay)."""
    status = exc.status if isinstance(exc.status, int) else None
    reason = exc.reason if isinstance(exc.reason, str) else ""
    status_doc = _status_document(exc.body)
    status_reason = status_doc.get("reason")
    if isinstance(status_reason, str) and _SAFE_CAUSE_REASON_RE.fullmatch(status_reason):
        reason = status_reason  # "AlreadyExists" vs "Conflict" says more than "Conflict"
    detail = _safe_detail(status, status_doc)

    def make(cls: type[KubernetesApiError]) -> KubernetesApiError:
        return cls(operation, target, status=status, reason=reason, detail=detail)

    if status is None or status == 0:
        return make(KubernetesApiError), False, None
    if status >= 500 or status == 429:
        return make(KubernetesUnavailableError), True, _retry_after(exc)
    if status == 409:
        return make(KubernetesConflictError), retry_conflicts, None
    if status in (401, 403):
        return make(KubernetesAccessError), False, None
    if status == 404:
        return make(KubernetesNotFoundError), False, None
    if status in (400, 422):
        return make(KubernetesInvalidError), False, None
    return make(KubernetesApiError), False, None


def _status_document(body: object) -> dict[str, object]:
    """The parsed body if it is a ``kind: Status`` document, else ``{}`` (nothing is used)."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return {}
    if not isinstance(body, str):
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(doc, dict) or doc.get("kind") != "Status":
        return {}
    return doc


def _safe_detail(status: int | None, doc: dict[str, object]) -> str | None:
    """What of the server's Status may be shown: see the module's ``_RBAC_FORBIDDEN_RE`` note.

    403: the RBAC sentence (who cannot do what), only if it is exactly that sentence.
    400/422: the names of the offending fields and the kind of problem, never the messages,
    which quote the invalid value.
    """
    message = doc.get("message")
    if status == 403 and isinstance(message, str) and _RBAC_FORBIDDEN_RE.fullmatch(message):
        return message
    if status in (400, 422):
        details = doc.get("details")
        causes = details.get("causes") if isinstance(details, dict) else None
        if not isinstance(causes, list):
            return None
        parts: list[str] = []
        for cause in causes:
            if not isinstance(cause, dict):
                continue
            where, why = cause.get("field"), cause.get("reason")
            if isinstance(where, str) and _SAFE_FIELD_RE.fullmatch(where):
                text = where
                if isinstance(why, str) and _SAFE_CAUSE_REASON_RE.fullmatch(why):
                    text = f"{where} ({why})"
                if text not in parts:
                    parts.append(text)
        return f"invalid field(s): {', '.join(parts)}" if parts else None
    return None


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
