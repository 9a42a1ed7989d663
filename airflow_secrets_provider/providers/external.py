"""Externally managed Kubernetes Secrets: created by someone else, referenced by a task.

Covers MLRun's ``set_env_from_secret`` / ``mount_secret`` and Pachyderm's pipeline-spec form
(``{"name", "envVar"|"env_var", "key"}`` and ``{"name", "mount_path"}``). Nothing is resolved:
the kubelet reads the Secret when it starts the pod.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.model import (
    Attachment,
    AttachTarget,
    SecretKeyEnv,
    SecretRequest,
    SecretVolume,
    mark_validated,
)
from airflow_secrets_provider.core.redaction import describe_names, keyed_field, shown
from airflow_secrets_provider.core.validation import (
    check_env_name,
    check_item_path,
    check_mount_path,
    check_secret_key,
    check_secret_name,
    is_plain_env_name,
    is_plain_secret_name,
    is_secret_key,
    is_templated,
    normalize_mount_path,
)

KIND = "secret"


@dataclass(frozen=True)
class SecretEnv(SecretRequest):
    env_name: str
    secret_name: str
    key: str
    optional: bool = False

    kind = "secret_env"
    template_fields = ("env_name", "secret_name", "key")

    def validate(self) -> None:
        check_env_name(self.env_name, "env_name")
        check_secret_name(self.secret_name, "secret")
        check_secret_key(self.key, "secret_key")

    def env_names(self) -> tuple[str, ...]:
        return (self.env_name,)

    def attachments(self, target: AttachTarget, index: int) -> list[Attachment]:
        return [SecretKeyEnv(self.env_name, self.secret_name, self.key, self.optional)]


@dataclass(frozen=True)
class SecretMount(SecretRequest):
    """``items`` is ``None`` for every key (one file per key) or ``(key, relative path)`` pairs."""

    secret_name: str
    mount_path: str
    items: tuple[tuple[str, str], ...] | None = None

    kind = "secret_mount"
    template_fields = ("secret_name", "mount_path", "items")

    def validate(self) -> None:
        check_secret_name(self.secret_name, "secret")
        check_mount_path(self.mount_path, "mount_path")
        paths: set[str] = set()
        for key, path in self.items or ():
            # The key is part of the field name: described, not quoted, if it may hold a value.
            field = keyed_field("items", key, "item key")
            check_secret_key(key, field)
            check_item_path(path, field)
            if is_templated(path):
                continue
            # The kubelet cleans item paths (`a//b` is `a/b`), and a file cannot also be a
            # directory of another item's file (`a` and `a/b`). Paths are described, not quoted.
            clean = posixpath.normpath(path)
            if clean in paths:
                raise SecretConfigError(field, f"file {shown(path, 'item path')} is used by two keys")
            for other in paths:
                if clean.startswith(other + "/") or other.startswith(clean + "/"):
                    raise SecretConfigError(
                        field, f"file {shown(path, 'item path')} and file {shown(other, 'item path')} would nest"
                    )
            paths.add(clean)

    def mount_paths(self) -> tuple[str, ...]:
        return (normalize_mount_path(self.mount_path),)

    def attachments(self, target: AttachTarget, index: int) -> list[Attachment]:
        return [SecretVolume(self.secret_name, normalize_mount_path(self.mount_path), self.items)]


def secret_env(env_name: str, secret: str, secret_key: str, *, optional: bool = False) -> SecretEnv:
    request = SecretEnv(env_name, secret, secret_key, optional)
    request.validate()
    return request


def normalize_items(items: Mapping[str, str] | Sequence[str] | None) -> tuple[tuple[str, str], ...] | None:
    """``{"key": "file"}`` or ``["key", ...]`` (file named after the key) as ordered pairs."""
    if items is None:
        return None
    if isinstance(items, Mapping):
        pairs = list(items.items())
    elif isinstance(items, (list, tuple)):
        pairs = [(key, key) for key in items]
    else:
        raise SecretConfigError(
            "items", f"must be a dict of key -> file name or a list of keys, got {type(items).__name__}"
        )
    if not pairs:
        raise SecretConfigError("items", "must select at least one key (omit it to mount every key)")
    return tuple(pairs)


def secret_mount(secret: str, mount_path: str, items: Mapping[str, str] | Sequence[str] | None = None) -> SecretMount:
    request = SecretMount(secret, mount_path, normalize_items(items))
    request.validate()
    return request


_PLAIN_ENV_ENTRIES: dict[tuple[str, str, str], SecretEnv] = {}
MAX_PLAIN_ENV_ENTRIES = 4096


def plain_env_entry(entry: Mapping[str, Any]) -> SecretEnv | None:
    """The commonest entry, ``{"name", "envVar", "key"}`` with valid plain names, checked in one
    pass; ``None`` for anything else (or anything wrong), which the full parse then explains.

    The names pass the same predicates as :meth:`SecretEnv.validate`'s checks (whose own fast
    paths they are), so the request is marked validated without running them again. DAG files
    repeat the same entries across tasks: a request (immutable, checked) is remembered per
    ``(envVar, name, key)`` for the rest of the process, a lookup cheaper than the checks.
    """
    if type(entry) is not dict or len(entry) != 3:
        return None
    # Three entries, each of these three present (a missing one is None, which fails below).
    env_name, name, key = entry.get("envVar"), entry.get("name"), entry.get("key")
    if type(env_name) is not str or type(name) is not str or type(key) is not str:
        return None
    names = (env_name, name, key)
    found = _PLAIN_ENV_ENTRIES.get(names)
    if found is None:
        if not (is_plain_env_name(env_name) and is_plain_secret_name(name) and is_secret_key(key)):
            return None
        found = mark_validated(SecretEnv(env_name, name, key))
        if len(_PLAIN_ENV_ENTRIES) >= MAX_PLAIN_ENV_ENTRIES:
            _PLAIN_ENV_ENTRIES.clear()
        _PLAIN_ENV_ENTRIES[names] = found
    return found


def parse_pipeline_spec(entry: Mapping[str, Any], field: str) -> SecretRequest:
    """A Pachyderm pipeline-spec secret entry."""
    return plain_env_entry(entry) or _parse_pipeline_spec(entry, field)


@drops_original_error
def _parse_pipeline_spec(entry: Mapping[str, Any], field: str) -> SecretRequest:
    keys = set(entry)
    env_key = "envVar" if "envVar" in keys else "env_var" if "env_var" in keys else None
    mount_key = "mount_path" if "mount_path" in keys else "mountPath" if "mountPath" in keys else None
    if "name" not in keys:
        raise SecretConfigError(field, "a secret entry needs 'name' (the Kubernetes Secret)")
    if env_key and mount_key:
        raise SecretConfigError(field, "a secret entry sets either an env var or a mount path, not both")
    try:
        if env_key:
            unknown = keys - {"name", env_key, "key", "optional"}
            if unknown or "key" not in keys:
                raise SecretConfigError(
                    field,
                    "an env entry has exactly 'name', 'envVar' (or 'env_var') and 'key' (and 'optional')"
                    + (f"; unknown fields: {describe_names(unknown)}" if unknown else ""),
                )
            optional = entry.get("optional", False)
            if not isinstance(optional, bool):
                # "no" or "false" would be true as a bool: only real booleans are accepted.
                raise SecretConfigError("optional", f"must be true or false, got {type(optional).__name__}")
            return secret_env(entry[env_key], entry["name"], entry["key"], optional=optional)
        if mount_key:
            unknown = keys - {"name", mount_key, "items"}
            if unknown:
                raise SecretConfigError(field, f"unknown fields {describe_names(unknown)} in a mount entry")
            return secret_mount(entry["name"], entry[mount_key], entry.get("items"))
    except SecretConfigError as err:
        if err.field == field:
            raise
        raise SecretConfigError(f"{field}.{err.field}", err.problem, provider=err.provider) from None
    raise SecretConfigError(field, "a secret entry needs 'envVar'/'env_var' and 'key', or 'mount_path'")
