"""Errors raised by the provider.

Every message names the provider, the field and the key involved, and never a secret value:
these exceptions end up in task logs, the Airflow UI and CLI output, none of which may show
values. Callers build messages from names only; values are never formatted into them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from airflow_secrets_provider.core.redaction import shown

P = ParamSpec("P")
R = TypeVar("R")


class SecretsProviderError(Exception):
    """Base class for every error this package raises on purpose."""

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take names (field, key ...), not the message: rebuild from the attributes,
        # so the error survives pickling (Airflow sends task errors between processes).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(
    cls: type[SecretsProviderError], args: tuple[object, ...], state: dict[str, object]
) -> SecretsProviderError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class SecretConfigError(SecretsProviderError, ValueError):
    """A secret request, name, path or option is invalid.

    Raised before anything is created (no pod, no Kubernetes Secret), so a failing task leaves
    nothing behind. ``field`` is the argument or attribute at fault, e.g. ``secrets[2].source``.
    """

    def __init__(self, field: str, problem: str, *, provider: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.provider = provider
        where = f"{provider} provider, {field}" if provider else field
        super().__init__(f"{where}: {problem}")


class SecretNotFoundError(SecretsProviderError, LookupError):
    """A requested secret key does not exist at its source."""

    def __init__(self, provider: str, key: str, where: str) -> None:
        self.provider = provider
        self.key = key
        self.where = where
        # A "key" may be a path or a name typed as NAME=VALUE: described, never quoted, then.
        super().__init__(f"{provider} provider: secret key {shown(key, 'key')} not found in {where}")


class SecretAccessError(SecretsProviderError, PermissionError):
    """The source exists but refused access (HTTP 401/403 or a file permission error)."""

    def __init__(self, provider: str, where: str, detail: str = "access denied") -> None:
        self.provider = provider
        self.where = where
        super().__init__(f"{provider} provider: {detail} for {where}")


def drops_original_error(func: Callable[P, R]) -> Callable[P, R]:
    """Strip the exception chain from the errors ``func`` raises on purpose.

    Translating a foreign error with ``raise ... from None`` only hides it from tracebacks: the
    original stays in ``__context__``, and it often carries what was being read
    (``UnicodeDecodeError.object``, ``JSONDecodeError.doc``, an ``ApiException`` body). Error
    reporters that walk the chain would show it. Errors raised for users carry names only, so
    nothing is lost by cutting the chain.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SecretsProviderError as err:
            err.__cause__ = None
            err.__context__ = None
            err.__suppress_context__ = True
            raise

    return wrapper
