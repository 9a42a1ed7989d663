"""Pachyderm's flow: create, list, inspect and delete Kubernetes Secrets from manifests.

A manifest is what ``kubectl create secret ... --dry-run=client -o yaml|json`` writes: one
``v1`` ``Secret`` of type ``Opaque``, ``kubernetes.io/tls`` or
``kubernetes.io/dockerconfigjson``, with values base64 in ``data`` and/or plain in
``stringData``. :func:`parse_manifest` checks everything the API server would reject (and the
type's required keys) before any request, so a bad manifest writes nothing, and its errors name
the field (``data[tls.key]``, ``metadata.name``), never a value: a YAML parser's own message can
quote the document, so only its line number is kept.

:class:`ManagedSecrets` creates such Secrets labelled as managed by this provider, and lists,
inspects and deletes only Secrets carrying that label: anything else in the namespace is
refused by name. Inspecting shows metadata and key names; annotations that can hold the values
(``kubectl.kubernetes.io/last-applied-configuration``) are left out.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes.client import V1ObjectMeta, V1Secret

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.naming import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PROJECT_LABEL,
    SECRET_ROLE_LABEL,
)
from airflow_secrets_provider.core.redaction import describe, is_shown, keyed_field
from airflow_secrets_provider.core.secret_data import encode_data
from airflow_secrets_provider.core.validation import check_label_name, check_secret_name, is_secret_key
from airflow_secrets_provider.kube.audit import AuditRecorder, default_actor
from airflow_secrets_provider.kube.errors import KubernetesConflictError, KubernetesNotFoundError
from airflow_secrets_provider.kube.projects import MAX_SECRET_BYTES

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

FIELD = "manifest"
MANIFEST_ROLE = "manifest"
SECRET_TYPES: dict[str, tuple[str, ...]] = {
    "Opaque": (),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
}
"""Accepted types and the keys each requires (as the API server requires them)."""

HIDDEN_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
"""Annotations never shown: ``kubectl apply`` stores the whole manifest, values included, there."""

_ALLOWED_TOP = {"apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"}
_ALLOWED_METADATA = {"name", "namespace", "labels", "annotations", "creationTimestamp"}


@dataclass(frozen=True)
class SecretManifest:
    """A checked manifest. ``repr`` shows names only (the data is excluded)."""

    name: str
    namespace: str | None
    type: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    immutable: bool
    data: Mapping[str, bytes]

    def __repr__(self) -> str:
        return f"SecretManifest(name={self.name!r}, type={self.type!r}, keys={sorted(self.data)!r})"

    @property
    def keys(self) -> list[str]:
        return sorted(self.data)


@drops_original_error
def load_document(text: str, origin: str) -> Any:
    """One JSON or YAML document; a parse error names the origin and line, never the text."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark is not None else None
        where = f" (line {line})" if line else ""
        raise SecretConfigError(FIELD, f"{origin} is not valid JSON or YAML{where}") from None
    except yaml.YAMLError:
        raise SecretConfigError(FIELD, f"{origin} is not valid JSON or YAML") from None
    if len(documents) != 1:
        raise SecretConfigError(FIELD, f"{origin} must hold exactly one document, found {len(documents)}")
    return documents[0]


def parse_manifest(text: str, origin: str = "manifest") -> SecretManifest:
    """Check a Secret manifest (JSON or YAML text) completely; see the module docstring."""
    return manifest_from_dict(load_document(text, origin))


@drops_original_error
def manifest_from_dict(doc: object) -> SecretManifest:
    if not isinstance(doc, dict):
        raise SecretConfigError(FIELD, f"must be an object, got {type(doc).__name__}")
    unknown = sorted(str(key) for key in doc if key not in _ALLOWED_TOP)
    if unknown:
        raise SecretConfigError(_field_name(unknown[0]), "is not a field of a Secret manifest")
    if doc.get("kind") != "Secret":
        raise SecretConfigError("kind", "must be 'Secret'")
    if doc.get("apiVersion") != "v1":
        raise SecretConfigError("apiVersion", "must be 'v1'")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise SecretConfigError("metadata", "must be an object with a name")
    unknown = sorted(str(key) for key in metadata if key not in _ALLOWED_METADATA)
    if unknown:
        raise SecretConfigError(f"metadata.{_field_name(unknown[0])}", "is not accepted in a manifest")
    name = check_secret_name(metadata.get("name"), "metadata.name")
    namespace = metadata.get("namespace")
    if namespace is not None:
        check_label_name(namespace, "metadata.namespace")
    labels = _string_map(metadata.get("labels"), "metadata.labels")
    annotations = _string_map(metadata.get("annotations"), "metadata.annotations")
    secret_type = doc.get("type", "Opaque")
    if secret_type not in SECRET_TYPES:
        raise SecretConfigError("type", f"must be one of {sorted(SECRET_TYPES)}")
    immutable = doc.get("immutable", False)
    if not isinstance(immutable, bool):
        raise SecretConfigError("immutable", "must be true or false")

    data: dict[str, bytes] = {}
    for key, text in _string_map(doc.get("data"), "data", check_values=False).items():
        _check_key(key, "data")
        if not isinstance(text, str):
            raise SecretConfigError(f"data[{key}]", "must be a base64 string")
        try:
            data[key] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SecretConfigError(f"data[{key}]", "is not valid base64") from None
    for key, text in _string_map(doc.get("stringData"), "stringData", check_values=False).items():
        _check_key(key, "stringData")
        if not isinstance(text, str):
            raise SecretConfigError(f"stringData[{key}]", "must be a string")
        data[key] = text.encode("utf-8")  # stringData wins over data, as on the API server
    if not data:
        raise SecretConfigError("data", "the manifest has no keys (data or stringData)")
    for required in SECRET_TYPES[secret_type]:
        if required not in data:
            raise SecretConfigError(f"data[{required}]", f"is required for type {secret_type}")
    if secret_type == "kubernetes.io/dockerconfigjson":
        _check_docker_config(data[".dockerconfigjson"])
    size = sum(len(value) for value in data.values())
    if size > MAX_SECRET_BYTES:
        raise SecretConfigError("data", f"values take {size} bytes, over the Kubernetes limit of 1 MiB per Secret")
    return SecretManifest(name, namespace, secret_type, labels, annotations, immutable, data)


def _field_name(name: str) -> str:
    """An unknown field's name as typed, or described when it may hold a value (``PASSWORD=...``)."""
    return name if is_shown(name) else f"<{describe(name, 'field name')}>"


def _check_key(key: str, field: str) -> None:
    if not is_secret_key(key):
        raise SecretConfigError(
            field, "has a key that is not a valid Secret key (letters, digits, '-', '_' and '.'; not '.' or '..')"
        )


@drops_original_error
def _check_docker_config(raw: bytes) -> None:
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SecretConfigError("data[.dockerconfigjson]", "is not a JSON document") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("auths"), dict):
        raise SecretConfigError("data[.dockerconfigjson]", "must be a JSON object with an 'auths' object")


def _string_map(value: object, field: str, *, check_values: bool = True) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SecretConfigError(field, "must be an object")
    for key, item in value.items():
        if not isinstance(key, str):
            raise SecretConfigError(field, "keys must be strings")
        if check_values and not isinstance(item, str):
            raise SecretConfigError(keyed_field(field, key), "must be a string")
    return dict(value)


def is_managed(secret: V1Secret) -> bool:
    return (secret.metadata.labels or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def describe_secret(secret: V1Secret) -> dict[str, Any]:
    """What ``inspect`` shows: metadata and key names, never values."""
    meta = secret.metadata
    created = meta.creation_timestamp
    return {
        "name": meta.name,
        "namespace": meta.namespace,
        "type": secret.type or "Opaque",
        "keys": sorted(secret.data or {}),
        "created": created.isoformat().replace("+00:00", "Z") if created else None,
        "uid": meta.uid,
        "immutable": bool(secret.immutable),
        "project": (meta.labels or {}).get(PROJECT_LABEL),
        "labels": dict(meta.labels or {}),
        "annotations": {k: v for k, v in (meta.annotations or {}).items() if k not in HIDDEN_ANNOTATIONS},
    }


class ManagedSecrets:
    """Create, list, inspect and delete the Secrets this provider manages in one namespace."""

    def __init__(
        self, hook: SecretsKubernetesHook, namespace: str, *, actor: str | None = None, audit: bool = True
    ) -> None:
        self._hook = hook
        self.namespace = check_label_name(namespace, "namespace")
        self.audit = AuditRecorder(hook, actor or default_actor(), enabled=audit)

    def create(self, manifest: SecretManifest) -> V1Secret:
        """Create the Secret; it must not exist yet (a 409 becomes an error naming it)."""
        if manifest.namespace is not None and manifest.namespace != self.namespace:
            raise SecretConfigError(
                "metadata.namespace",
                f"is {manifest.namespace!r} but the command targets namespace {self.namespace!r}",
            )
        labels = {**manifest.labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE}
        labels.setdefault(SECRET_ROLE_LABEL, MANIFEST_ROLE)
        body = V1Secret(
            api_version="v1",
            kind="Secret",
            type=manifest.type,
            immutable=manifest.immutable or None,
            metadata=V1ObjectMeta(name=manifest.name, labels=labels, annotations=dict(manifest.annotations) or None),
            data=encode_data(manifest.data),
        )
        try:
            created = self._hook.create_secret(body, self.namespace)
        except KubernetesConflictError:
            raise SecretConfigError(
                "metadata.name", f"Secret {manifest.name!r} already exists in namespace {self.namespace!r}"
            ) from None
        self.audit.record(
            "create", namespace=self.namespace, secret=manifest.name, keys=manifest.keys, uid=created.metadata.uid
        )
        return created

    def list_managed(self) -> list[V1Secret]:
        """Every managed Secret except per-task ones (they live only as long as their pod)."""
        items = self._hook.list_secrets(self.namespace, f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}").items
        return sorted(
            (s for s in items if (s.metadata.labels or {}).get(SECRET_ROLE_LABEL) != "task"),
            key=lambda s: s.metadata.name,
        )

    def get(self, name: str) -> V1Secret:
        """The managed Secret ``name``; any other Secret is refused by name."""
        check_secret_name(name, "name")
        try:
            secret = self._hook.read_secret(name, self.namespace)
        except KubernetesNotFoundError:
            raise SecretConfigError("name", f"Secret {name!r} not found in namespace {self.namespace!r}") from None
        if not is_managed(secret):
            raise SecretConfigError(
                "name",
                f"Secret {name!r} is not managed by airflow-secrets-provider (no label "
                f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}); refusing",
            )
        return secret

    def delete(self, name: str) -> list[str]:
        """Delete the managed Secret ``name``; returns its keys (for the caller's message)."""
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        secret = self.get(name)
        keys = sorted(secret.data or {})
        options = V1DeleteOptions(preconditions=V1Preconditions(uid=secret.metadata.uid))
        self._hook.delete_secret(name, self.namespace, options)
        project = (secret.metadata.labels or {}).get(PROJECT_LABEL)
        self.audit.record(
            "delete", namespace=self.namespace, secret=name, keys=keys, project=project, uid=secret.metadata.uid
        )
        return keys
