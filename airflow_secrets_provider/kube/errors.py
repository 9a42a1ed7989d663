"""What a failed Kubernetes API call becomes: one translation of ``ApiException`` for the package.

Why our own error types: the official client raises ``ApiException`` for every HTTP error, and
its ``str()`` prints the whole response body, which for a Secret holds the very data we must
never show. :func:`translate_api_exception` keeps what is safe (status, the Status ``reason``, an
RBAC sentence, the names of invalid fields) and drops everything else, and says whether the
failure is transient. The retry policy (:mod:`~airflow_secrets_provider.kube.retry`) and the hook (:mod:`~airflow_secrets_provider.hooks.kubernetes`)
are the only callers.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.core.errors import SecretAccessError, SecretsProviderError

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


CONNECTION_ERRORS: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)
"""No HTTP answer at all (refused, reset, timed out): transient, the request may be repeated."""


def _timed_out(exc: BaseException) -> bool:
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return _timed_out(exc.reason)
    return isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError, socket.timeout))


def connection_error(exc: BaseException, operation: str, target: KubeTarget) -> KubernetesUnavailableError:
    """No HTTP answer; a timeout says so (the client-side request timeout ran out), by type only."""
    if _timed_out(exc):
        reason = f"connection error: no answer within the client-side request timeout ({type(exc).__name__})"
    else:
        reason = f"connection error ({type(exc).__name__})"
    return KubernetesUnavailableError(operation, target, status=None, reason=reason)


def gave_up(error: KubernetesApiError, attempts: int) -> KubernetesApiError:
    """The error to raise once the retry budget is spent: conflicts stay conflicts."""
    cls = type(error) if isinstance(error, KubernetesConflictError) else KubernetesUnavailableError
    return cls(
        error.operation,
        error.target,
        status=error.status,
        reason=error.reason,
        detail=error.detail,
        attempts=attempts,
    )


def translate_api_exception(
    exc: ApiException, operation: str, target: KubeTarget, retry_conflicts: bool
) -> tuple[KubernetesApiError, bool, float | None]:
    """Translate ``exc`` into (our error, whether to retry, server-requested delay).

    ``retry_conflicts``: a 409 is a retry for a read-modify-write, a final answer for a create.
    """
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
