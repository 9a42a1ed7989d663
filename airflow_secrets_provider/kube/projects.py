"""Project secrets (MLRun's model): one Kubernetes Secret per project, keys listed, values hidden.

Every key of project ``p`` lives in the Secret ``airflow-project-secrets-p`` (type ``Opaque``,
values base64 in ``data``, labelled as managed by this provider and with the project's name), so
a task of the project can reference any of them with ``secretKeyRef`` and the kubelet injects
them; the values themselves never pass through Airflow on the way into a pod.

Guarantees:

* **Validate first, write once.** Project and keys are checked before any API call; the merged
  result (including the 1 MiB Secret limit) is checked before the single write. A multi-key
  update either lands completely or not at all.
* **No lost updates.** Writes are read-modify-write with the object's ``resourceVersion``: a
  concurrent writer makes the API server answer 409 and the whole step is redone on a fresh
  read. Two writers racing to create the Secret are handled the same way (``AlreadyExists``
  -> re-read and merge).
* **Keys, never values.** Everything returned to callers, and every message, names keys only.
  :meth:`ProjectSecretsStore.read_values` is for server-side code (the secrets backend) and
  returns :class:`SecretValues`, whose ``repr`` shows keys only.
* **Hands off foreign Secrets.** A Secret with the project's name that this provider did not
  create (no managed-by label) is never modified or deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from kubernetes.client import CoreV1Api, V1DeleteOptions, V1ObjectMeta, V1Preconditions, V1Secret

from airflow_secrets_provider.core.errors import SecretConfigError, SecretNotFoundError, drops_original_error
from airflow_secrets_provider.core.key_value import parse_key_value_lines
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL, project_secret_name
from airflow_secrets_provider.core.redaction import keyed_field, shown
from airflow_secrets_provider.core.secret_data import (
    MAX_SECRET_BYTES,
    decode_data,
    decode_value,
    encode_data,
    secret_size,
)
from airflow_secrets_provider.core.text_files import read_secrets_file
from airflow_secrets_provider.core.validation import check_label_name, check_secret_key, is_templated
from airflow_secrets_provider.core.values import SecretValues
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.audit import AuditRecorder, default_actor
from airflow_secrets_provider.kube.client import hook_for_client
from airflow_secrets_provider.kube.errors import KubernetesConflictError, KubernetesNotFoundError, KubeTarget
from airflow_secrets_provider.kube.retry import DEFAULT_POLICY, RetryPolicy

PROVIDER = "kubernetes"

KEYS_UPDATED_ANNOTATION = "airflow-secrets-provider/keys-updated"
"""When each key was last written (JSON ``{key: ISO time}``): Secrets keep no per-key times."""

_Mutation = Callable[[dict[str, bytes]], dict[str, bytes]]


class ProjectSecretsStore:
    """Set, list and delete the keys of project Secrets in one namespace.

    ``kube`` is a :class:`~airflow_secrets_provider.hooks.kubernetes.SecretsKubernetesHook` (or
    an official-client ``CoreV1Api``, wrapped in one with ``retry_policy``) whose identity may
    get/create/update/delete the project Secrets (the management identity, not a task's
    launcher, which may only read its own project's Secret; see :mod:`airflow_secrets_provider.kube.rbac`).
    """

    def __init__(
        self,
        kube: SecretsKubernetesHook | CoreV1Api,
        namespace: str,
        *,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        actor: str | None = None,
        audit: bool = True,
    ) -> None:
        self._hook = kube if isinstance(kube, SecretsKubernetesHook) else hook_for_client(kube, retry_policy)
        self.namespace = check_label_name(namespace, "namespace", PROVIDER)
        # Every change is recorded as an Event on the Secret (see airflow_secrets_provider.kube.audit).
        self.audit = AuditRecorder(self._hook, actor or default_actor(), enabled=audit)

    def __repr__(self) -> str:
        return f"ProjectSecretsStore(namespace={self.namespace!r})"

    # -- writing ---------------------------------------------------------------------------

    def set_secrets(self, project: str, values: Mapping[str, str]) -> list[str]:
        """Add or overwrite ``values`` in the project's Secret; return all its keys, sorted.

        Keys not named in ``values`` are kept (merge). Creates the Secret if needed.
        """
        self._check_project(project)
        if not values:
            raise SecretConfigError("values", f"no secrets given for project {project!r}", provider=PROVIDER)
        encoded: dict[str, bytes] = {}
        if not isinstance(values, Mapping):
            raise SecretConfigError(
                "values", f"must be a dict of key -> value, got {type(values).__name__}", provider=PROVIDER
            )
        for key in values:
            # The key is part of the field name: described, not quoted, if it may hold a value.
            field = keyed_field("values", key)
            self._check_key(key, field)
            value = values[key]
            if not isinstance(value, str):
                raise SecretConfigError(field, f"must be a string, got {type(value).__name__}", provider=PROVIDER)
            encoded[key] = value.encode("utf-8")

        def merge(current: dict[str, bytes]) -> dict[str, bytes]:
            return {**current, **encoded}

        keys, uid = self._update(project, "set secrets in", merge, create=True)
        self._record("set", project, list(encoded), uid)
        return keys

    @drops_original_error
    def set_secrets_from_file(self, project: str, path: str | Path) -> list[str]:
        """:meth:`set_secrets` from a ``KEY=VALUE`` file (MLRun's format, see providers.file)."""
        self._check_project(project)
        origin = shown(str(path), "file path")
        try:
            text = read_secrets_file(str(path), "path", provider=PROVIDER).text
        except FileNotFoundError:
            raise SecretConfigError("path", f"file {origin} not found", provider=PROVIDER) from None
        except PermissionError:
            raise SecretConfigError("path", f"permission denied reading {origin}", provider=PROVIDER) from None
        # Keys as the dict form accepts them (any Secret key); attached to a pod, a key that is
        # not an env var name becomes one by the documented rule (``db-password`` -> ``db_password``).
        values = parse_key_value_lines(text, origin, provider=PROVIDER, check_key=check_secret_key)
        if not values:
            raise SecretConfigError(origin, "contains no KEY=VALUE lines", provider=PROVIDER)
        return self.set_secrets(project, values)

    def delete_keys(self, project: str, keys: Iterable[str]) -> list[str]:
        """Remove ``keys``; return the keys left, sorted. All must exist, or nothing changes.

        Removing the last key deletes the Secret (an empty project Secret is no project Secret).
        Existence is checked on the first read; when the write is retried (a lost response, a
        conflict), keys already absent count as deleted.
        """
        self._check_project(project)
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
            # A string is iterable, one key per character: "AB" would delete keys A and B.
            raise SecretConfigError("keys", f"must be a list of keys, got {type(keys).__name__}", provider=PROVIDER)
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            raise SecretConfigError("keys", f"no keys given to delete from project {project!r}", provider=PROVIDER)
        for key in wanted:
            self._check_key(key, "keys")

        first_look = [True]

        def remove(current: dict[str, bytes]) -> dict[str, bytes]:
            # Only the first read decides whether the keys exist. A later read is a retry: after
            # a lost response our own earlier write (or a concurrent one) may have removed some
            # of them already, and a key that is absent is as deleted as it gets.
            if first_look[0]:
                first_look[0] = False
                for key in wanted:
                    if key not in current:
                        raise self._missing(project, key)
            return {k: v for k, v in current.items() if k not in wanted}

        keys, uid = self._update(project, "delete keys from", remove, create=False)
        self._record("unset", project, wanted, uid)
        return keys

    def delete_project(self, project: str) -> bool:
        """Delete the project's Secret. Returns False when there was none (idempotent)."""
        self._check_project(project)
        target = self._target(project)

        def once() -> V1Secret | None:
            secret = self._read(project)
            if secret is None:
                return None
            self._check_ours(project, secret)
            self._delete(project, secret, with_version=False)
            return secret

        deleted = self._hook.call(once, "delete", target, retry_conflicts=True)
        if deleted is None:
            return False
        self._record("delete-project", project, sorted(deleted.data or {}), deleted.metadata.uid)
        return True

    # -- reading ---------------------------------------------------------------------------

    def projects(self) -> dict[str, int]:
        """Every project with a Secret in the namespace and its number of keys, by name. Never values.

        Listing Secrets returns their data, so this runs server-side only (the CLI, the UI's API)
        and keeps nothing but names and counts.
        """
        secrets = self._hook.list_secrets(
            self.namespace, f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{PROJECT_LABEL}"
        ).items
        found: dict[str, int] = {}
        for secret in secrets:
            project = (secret.metadata.labels or {}).get(PROJECT_LABEL, "")
            if secret.metadata.name != project_secret_name(project):
                continue  # a manifest Secret that merely carries a project label
            found[project] = len(secret.data or {})
        return dict(sorted(found.items()))

    def key_count(self, project: str) -> int | None:
        """What :meth:`projects` says of one project, from one ``get`` by name instead of a list.

        The number of keys, or None when the project has no Secret of ours here. For an identity
        allowed to read project Secrets by name only (the Secrets page's, one namespace per
        project: see :mod:`airflow_secrets_provider.kube.rbac`).
        """
        self._check_project(project)
        secret = self._read(project)
        labels = (secret.metadata.labels or {}) if secret is not None else {}
        if secret is None or labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or labels.get(PROJECT_LABEL) != project:
            return None
        return len(secret.data or {})

    def has_secret(self, project: str) -> bool:
        """Whether the project's Secret exists."""
        self._check_project(project)
        return self._read(project) is not None

    def list_keys(self, project: str) -> list[str]:
        """The project's keys, sorted; ``[]`` when the project has no Secret. Never values."""
        self._check_project(project)
        secret = self._read(project)
        return sorted(secret.data or {}) if secret is not None else []

    def key_times(self, project: str) -> dict[str, str | None]:
        """Each key with the time it was last written through this package (ISO, UTC), sorted.

        Keys written by other means have the Secret's creation time, or None. Never values.
        """
        self._check_project(project)
        secret = self._read(project)
        if secret is None:
            return {}
        stamps = _key_stamps(secret)
        created = secret.metadata.creation_timestamp
        fallback = _iso(created) if created is not None else None
        return {key: stamps.get(key, fallback) for key in sorted(secret.data or {})}

    def read_project(self, project: str) -> SecretValues | None:
        """Every value of the project, or None when it has no Secret (one read; server-side use only)."""
        self._check_project(project)
        secret = self._read(project)
        return None if secret is None else self._select(project, secret, None)

    @drops_original_error
    def read_values(self, project: str, keys: Iterable[str] | None = None) -> SecretValues:
        """The values of ``keys`` (all keys when None or empty, MLRun's meaning).

        Server-side use only (the secrets backend): values must not travel to a browser or a
        CLI. Returns :class:`SecretValues`, whose ``repr`` shows keys only.

        A requested key that does not exist raises :class:`SecretNotFoundError` naming the
        project and the key.
        """
        self._check_project(project)
        return self._select(project, self._read(project), keys)

    @drops_original_error
    def _select(self, project: str, secret: V1Secret | None, keys: Iterable[str] | None) -> SecretValues:
        if isinstance(keys, (str, bytes)):
            raise SecretConfigError("keys", "must be a list of keys, not a string", provider=PROVIDER)
        wanted = None if keys is None else list(dict.fromkeys(keys))
        for key in wanted or ():
            self._check_key(key, "keys")
        data = self._decode(project, secret)
        if not wanted:
            wanted = sorted(data)
        values: dict[str, str] = {}
        for key in wanted:
            if key not in data:
                raise self._missing(project, key)
            values[key] = decode_value(key, data[key], f"project {project!r}")
        return SecretValues(values)

    # -- internals -------------------------------------------------------------------------

    def _update(self, project: str, operation: str, mutate: _Mutation, *, create: bool) -> tuple[list[str], str | None]:
        """Read, apply ``mutate``, write with the read ``resourceVersion``; redo on 409.

        Returns the keys after the change and the Secret's UID (for the audit Event).
        """
        target = self._target(project)

        def once() -> tuple[list[str], str | None]:
            secret = self._read(project)
            if secret is None and not create:
                # Same error as for a Secret without the key: the first requested key is missing
                # (on a retry, the Secret our lost delete removed: nothing is left to do).
                mutate({})
                return [], None
            if secret is not None:
                self._check_ours(project, secret)
            current = self._decode(project, secret)
            updated = mutate(current)
            if secret is not None and not updated:
                self._delete(project, secret, with_version=True)
                return [], secret.metadata.uid
            self._check_size(project, updated)
            if secret is not None and secret.immutable and updated != current:
                raise SecretConfigError(
                    "project",
                    f"Secret {target.describe()} is marked immutable, so its keys cannot change; "
                    "delete the project's secrets and set them again",
                    provider=PROVIDER,
                )
            stamps = _updated_stamps(secret, current, updated)
            if secret is None:
                uid = self._create(project, updated, stamps)
            elif updated != current:
                try:
                    uid = self._replace(project, secret, updated, stamps)
                except KubernetesNotFoundError:
                    # Deleted between our read and our write: start over (it will be created),
                    # exactly as for a write that lost a race.
                    raise KubernetesConflictError(
                        operation, target, status=409, reason="Secret deleted concurrently"
                    ) from None
            else:
                uid = secret.metadata.uid
            return sorted(updated), uid

        return self._hook.call(once, operation, target, retry_conflicts=True)

    def _read(self, project: str) -> V1Secret | None:
        try:
            return self._hook.read_secret(project_secret_name(project), self.namespace)
        except KubernetesNotFoundError:
            return None

    def _create(self, project: str, data: dict[str, bytes], stamps: dict[str, str]) -> str | None:
        body = V1Secret(
            api_version="v1",
            kind="Secret",
            type="Opaque",
            metadata=V1ObjectMeta(
                name=project_secret_name(project),
                labels=_labels(project),
                annotations={KEYS_UPDATED_ANNOTATION: json.dumps(stamps, sort_keys=True)},
            ),
            data=encode_data(data),
        )
        return self._hook.create_secret(body, self.namespace).metadata.uid

    def _replace(self, project: str, secret: V1Secret, data: dict[str, bytes], stamps: dict[str, str]) -> str | None:
        # The read object is written back whole, so annotations and extra labels survive; its
        # metadata.resourceVersion makes the server refuse (409) if anyone wrote in between.
        secret.data = encode_data(data)
        secret.string_data = None
        secret.metadata.labels = {**(secret.metadata.labels or {}), **_labels(project)}
        secret.metadata.annotations = {
            **(secret.metadata.annotations or {}),
            KEYS_UPDATED_ANNOTATION: json.dumps(stamps, sort_keys=True),
        }
        return self._hook.replace_secret(secret, self.namespace).metadata.uid

    def _delete(self, project: str, secret: V1Secret, *, with_version: bool) -> None:
        # Preconditions: delete exactly the object that was read (uid), and when the deletion is
        # the result of removing keys, only if nobody added keys since (resourceVersion).
        preconditions = V1Preconditions(
            uid=secret.metadata.uid,
            resource_version=secret.metadata.resource_version if with_version else None,
        )
        # A 404 means someone else deleted it first; the outcome is the same.
        with contextlib.suppress(KubernetesNotFoundError):
            self._hook.delete_secret(
                project_secret_name(project), self.namespace, V1DeleteOptions(preconditions=preconditions)
            )

    @staticmethod
    def _decode(project: str, secret: V1Secret | None) -> dict[str, bytes]:
        return decode_data(secret.data if secret is not None else None, f"project {project!r}")

    def _check_project(self, project: str) -> None:
        check_label_name(project, "project", PROVIDER)
        if is_templated(project):
            raise SecretConfigError("project", "must be a plain name, not a template", provider=PROVIDER)

    @staticmethod
    def _check_key(key: object, field: str) -> None:
        check_secret_key(key, field, PROVIDER)
        if is_templated(key):
            raise SecretConfigError(field, "must be a plain key, not a template", provider=PROVIDER)

    def _check_ours(self, project: str, secret: V1Secret) -> None:
        labels = secret.metadata.labels or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or (secret.type or "Opaque") != "Opaque":
            raise SecretConfigError(
                "project",
                f"Secret {self._target(project).describe()} exists but is not an Opaque Secret managed by "
                f"this provider (label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}); refusing to modify it",
                provider=PROVIDER,
            )

    def _check_size(self, project: str, data: dict[str, bytes]) -> None:
        size = secret_size(data)
        if size > MAX_SECRET_BYTES:
            raise SecretConfigError(
                "values",
                f"project {project!r} secrets would take {size} bytes, over the Kubernetes limit of "
                f"{MAX_SECRET_BYTES} bytes (1 MiB) per Secret; nothing was written",
                provider=PROVIDER,
            )

    def _missing(self, project: str, key: str) -> SecretNotFoundError:
        return SecretNotFoundError(PROVIDER, key, f"project {project!r} ({self._target(project).describe()})")

    def _target(self, project: str) -> KubeTarget:
        return KubeTarget("Secret", project_secret_name(project), self.namespace)

    def _record(self, action: str, project: str, keys: Iterable[str], uid: str | None) -> None:
        self.audit.record(
            action,
            namespace=self.namespace,
            secret=project_secret_name(project),
            keys=list(keys),
            project=project,
            uid=uid,
        )


def _labels(project: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, PROJECT_LABEL: project}


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _key_stamps(secret: V1Secret | None) -> dict[str, str]:
    if secret is None:
        return {}
    raw = (secret.metadata.annotations or {}).get(KEYS_UPDATED_ANNOTATION, "{}")
    try:
        stamps = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in stamps.items()} if isinstance(stamps, dict) else {}


def _updated_stamps(
    secret: V1Secret | None, current: Mapping[str, bytes], updated: Mapping[str, bytes]
) -> dict[str, str]:
    """Per-key write times after a change: changed or new keys now, the others as they were."""
    previous = _key_stamps(secret)
    now = _iso(dt.datetime.now(dt.UTC))
    return {
        key: now if key not in current or current[key] != value or key not in previous else previous[key]
        for key, value in updated.items()
    }
