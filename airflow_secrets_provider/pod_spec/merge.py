"""One merge rule per pod field, for every source: secret requests, presets and the user's own.

Kubeflow's PodDefault rule, applied without a webhook: an entry added to a field whose key is
already there must be identical to it (then it is kept once) or the merge fails, naming the
entry and both sources, before anything is created. Checking happens for the whole field before
the merged list is returned, so a failed merge changes nothing.

Keys per field: env vars by name, volumes by name, volume mounts by mount path in normal form
(``/etc/s/`` and ``/etc/s`` are one directory), imagePullSecrets by name, envFrom by its source
(Secret or ConfigMap name and prefix). Entries are compared as the API server stores them
(serialized, ``None`` fields dropped), so a model and the same entry read from YAML are equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubernetes.client import models as k8s

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.validation import normalize_mount_path
from airflow_secrets_provider.kube.client import serializer

T = TypeVar("T")

SECRETS_FIELD = "secrets"
PRESETS_FIELD = "presets"
# When two sources clash, the error names the field a task author can change first.
_FIELD_PRIORITY = {SECRETS_FIELD: 2, PRESETS_FIELD: 1}


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One pod-field entry and where it came from (``source``: for messages; ``field``: the
    operator argument that put it there, used as the error's field)."""

    item: T
    field: str
    source: str


def serialized(item: object) -> Any:
    """How the API server would store ``item`` (camelCase, ``None`` dropped)."""
    return serializer().sanitize_for_serialization(item)


def merge_field(what: str, entries: Iterable[Entry[T]], key: Callable[[T], str]) -> list[T]:
    """Keep each key once; an identical repeat is dropped, a different one is an error."""
    first: dict[str, Entry[T]] = {}
    merged: list[T] = []
    for entry in entries:
        name = key(entry.item)
        seen = first.get(name)
        if seen is None:
            first[name] = entry
            merged.append(entry.item)
        elif serialized(seen.item) != serialized(entry.item):
            field = min((seen.field, entry.field), key=lambda f: _FIELD_PRIORITY.get(f, 0))
            raise SecretConfigError(
                field, f"{what} {name!r} is set differently by {seen.source} and by {entry.source}; remove one of them"
            )
    return merged


def entries(items: Iterable[T] | None, field: str, source: str) -> list[Entry[T]]:
    return [Entry(item, field, source) for item in items or ()]


def merge_env(*groups: Sequence[Entry[k8s.V1EnvVar]]) -> list[k8s.V1EnvVar]:
    return merge_field("environment variable", (e for g in groups for e in g), lambda var: str(var.name))


def merge_env_from(*groups: Sequence[Entry[k8s.V1EnvFromSource]]) -> list[k8s.V1EnvFromSource]:
    def key(source: k8s.V1EnvFromSource) -> str:
        ref = source.secret_ref or source.config_map_ref
        kind = "Secret" if source.secret_ref is not None else "ConfigMap"
        return f"{kind} {getattr(ref, 'name', None)} prefix {source.prefix or ''}".strip()

    return merge_field("envFrom", (e for g in groups for e in g), key)


def merge_volumes(*groups: Sequence[Entry[k8s.V1Volume]]) -> list[k8s.V1Volume]:
    return merge_field("volume name", (e for g in groups for e in g), lambda volume: str(volume.name))


def merge_volume_mounts(*groups: Sequence[Entry[k8s.V1VolumeMount]]) -> list[k8s.V1VolumeMount]:
    return merge_field(
        "mount path", (e for g in groups for e in g), lambda mount: normalize_mount_path(str(mount.mount_path))
    )


def merge_image_pull_secrets(*groups: Sequence[Entry[k8s.V1LocalObjectReference]]) -> list[k8s.V1LocalObjectReference]:
    return merge_field("imagePullSecret", (e for g in groups for e in g), lambda ref: str(ref.name))
