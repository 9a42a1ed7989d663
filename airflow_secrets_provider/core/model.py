"""The secret model: requests a task makes, and the references they turn into.

A *request* is what a user writes (``with_secrets("kubernetes", ["AWS_KEY"])``,
``set_env_from_secret(...)``, a Pachyderm-style dict). An *attachment* is a reference to a key
of a Kubernetes Secret that ends up in the pod spec. Turning requests into attachments is pure
(no I/O, no values), which is what lets ``build_pod_request_obj(dry_run=True)`` run while a DAG
is parsed; values are only ever read by :meth:`ValueRequest.resolve`, on the worker.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from airflow_secrets_provider.core.validation import _LITERAL_ONLY
from airflow_secrets_provider.core.values import SecretValues

# ---------------------------------------------------------------------------------------------
# Attachments: what ends up in the pod spec (references only).


@dataclass(frozen=True)
class SecretKeyEnv:
    """``env[].valueFrom.secretKeyRef``: one key of a Secret as one environment variable."""

    env_name: str
    secret_name: str
    key: str
    optional: bool = False


@dataclass(frozen=True)
class SecretEnvFrom:
    """``envFrom[].secretRef``: every key of a Secret as environment variables of the same name."""

    secret_name: str
    optional: bool = False


@dataclass(frozen=True)
class SecretVolume:
    """A secret volume mounted read-only; ``items`` selects ``(key, file path)`` pairs."""

    secret_name: str
    mount_path: str
    items: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class PlainEnv:
    """A plain ``env[].value`` for configuration that is not secret (a vault URL, key names)."""

    env_name: str
    value: str


Attachment = SecretKeyEnv | SecretEnvFrom | SecretVolume | PlainEnv


@dataclass(frozen=True)
class AttachTarget:
    """Where a request's references point, known when the pod spec is built.

    ``project_secret`` is ``None`` when the task has no project; ``task_secret`` is the
    per-task Secret the worker creates for values that live outside the cluster.
    ``resolved_keys`` maps a value request to the keys it resolved to, when the worker already
    resolved them (so the spec can list them instead of using ``envFrom``).
    """

    task_secret: str
    project_secret: str | None = None
    resolved_keys: Mapping[SecretRequest, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolveContext:
    """What a provider may use to read values on the worker.

    Kept explicit (rather than providers reaching for globals) so tests can hand in a fake
    environment and later tiers can hand in real Kubernetes and Azure clients.
    """

    # The worker's whole environment holds secrets (env provider, AZURE_CLIENT_SECRET): no repr.
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    kubernetes: Any = None
    azure: Any = None
    project: str | None = None
    namespace: str | None = None
    #: The task resolving (named in errors of providers that look values up by name).
    task_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Requests.

R = TypeVar("R", bound="SecretRequest")


class SecretRequest(ABC):
    """One request for secrets made by a task. Immutable; templated strings allowed.

    Subclasses are frozen dataclasses. ``template_fields`` name the attributes (strings, or
    tuples of strings) that may hold Jinja and are rendered before the pod is built.
    """

    kind: ClassVar[str]
    template_fields: ClassVar[tuple[str, ...]] = ()
    _validated: ClassVar[bool] = False  # set on an instance (not a field) once validate() passed

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("validate")
        if own is not None and not getattr(own, "__isabstractmethod__", False):
            cls.validate = _validated_once(own)  # type: ignore[method-assign,assignment]

    @abstractmethod
    def validate(self) -> None:
        """Check names and paths; templated ones are checked once rendered.

        Each request object is checked once: requests are immutable, the factories check what
        they build, and the operator checks again whatever it is handed (a request may have
        been built directly). Rendering makes a new object, which is checked afresh.
        """

    @abstractmethod
    def attachments(self, target: AttachTarget, index: int) -> list[Attachment]:
        """The references this request adds to the pod (no I/O, no values)."""

    def env_names(self) -> tuple[str, ...] | None:
        """Environment variable names this request defines, or ``None`` if unknown before execute."""
        return ()

    def mount_paths(self) -> tuple[str, ...]:
        return ()

    def describe(self) -> dict[str, Any]:
        """A JSON-safe description for logs, UIs and ``repr`` that never contains a value."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, SecretValues):
                out["keys"] = sorted(value)
            elif f.repr:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def render(self: R, render_value: Callable[[Any], Any]) -> R:
        """A copy with every template field rendered through ``render_value``."""
        changes = {}
        for name in self.template_fields:
            value = getattr(self, name)
            if isinstance(value, tuple):
                changes[name] = tuple(_render_nested(v, render_value) for v in value)
            elif value is not None:
                changes[name] = render_value(value)
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


_VALIDATED = "_validated"


def _validated_once(validate: Callable[[Any], None]) -> Callable[[Any], None]:
    """``validate`` remembered per object (only for the object's own class's method: a
    subclass calling ``super().validate()`` has not finished its own checks yet)."""

    def once(self: Any) -> None:
        # Remembered for the parse-time check only: inside ``literal_names()`` (after rendering)
        # templated names are errors, so those checks always run.
        outermost = type(self).validate is once and not _LITERAL_ONLY.get()
        if outermost and self._validated:
            return
        validate(self)
        if outermost:
            object.__setattr__(self, _VALIDATED, True)  # frozen dataclass: not a field, not compared

    once.__name__, once.__qualname__, once.__doc__ = validate.__name__, validate.__qualname__, validate.__doc__
    return once


def mark_validated(request: R) -> R:
    """``request`` whose own ``validate()`` the caller has just done in full (a parser's fast
    path, by the same predicates), so the operator does not run it again."""
    object.__setattr__(request, _VALIDATED, True)
    return request


def _render_nested(value: Any, render_value: Callable[[Any], Any]) -> Any:
    if isinstance(value, tuple):
        return tuple(_render_nested(v, render_value) for v in value)
    return render_value(value)


class ValueRequest(SecretRequest):
    """A request whose values live outside the cluster (``inline``, ``env``, ``file``, ``azure_vault``).

    The worker resolves them at execute time into a per-task Secret and the pod references
    that Secret, so the pod spec never holds a value. Keys in the per-task Secret are the
    environment variable names.
    """

    @abstractmethod
    def resolve(self, context: ResolveContext) -> SecretValues:
        """Read the values (worker side). Keys are environment variable names."""

    def attachments(self, target: AttachTarget, index: int) -> list[Attachment]:
        names = target.resolved_keys.get(self)
        if names is None:
            names = self.env_names()
        if names is None:
            return [SecretEnvFrom(target.task_secret)]
        return [SecretKeyEnv(name, target.task_secret, name) for name in names]


class RequestParser(Protocol):
    """The one function every provider module exposes: turn a user's source into a request."""

    def __call__(self, source: object) -> SecretRequest: ...
