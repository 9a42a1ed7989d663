"""Presets in the cluster: one labelled ConfigMap each, written and deleted with an audit Event.

The ConfigMap holds the preset's spec (no values: references and plain configuration), so it
needs none of a Secret's protection; launchers may list ConfigMaps to find presets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.validation import check_label_name
from airflow_secrets_provider.kube.audit import AuditRecorder, default_actor
from airflow_secrets_provider.kube.errors import KubernetesConflictError, KubernetesNotFoundError
from airflow_secrets_provider.pod_spec.presets import PRESET_LABEL, Preset, cluster_presets, preset_config_map

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook


class PresetStore:
    """Apply (create or replace), list and delete preset ConfigMaps in one namespace."""

    def __init__(
        self, hook: SecretsKubernetesHook, namespace: str, *, actor: str | None = None, audit: bool = True
    ) -> None:
        self._hook = hook
        self.namespace = check_label_name(namespace, "namespace")
        self.audit = AuditRecorder(hook, actor or default_actor(), enabled=audit)

    def list(self) -> list[Preset]:
        return cluster_presets(self._hook, self.namespace)

    def apply(self, preset: Preset) -> str:
        """Create or replace the preset's ConfigMap; returns ``"created"``, ``"configured"`` or ``"unchanged"``."""
        body = preset_config_map(preset.spec(), preset.name)
        try:
            current = self._hook.read_config_map(preset.name, self.namespace)
        except KubernetesNotFoundError:
            current = None
        if current is None:
            try:
                created = self._hook.create_config_map(body, self.namespace)
            except KubernetesConflictError:
                raise SecretConfigError(
                    "name", f"preset {preset.name!r} was created concurrently; apply again"
                ) from None
            self._record("preset-apply", preset.name, created.metadata.uid)
            return "created"
        if (current.metadata.labels or {}).get(PRESET_LABEL) != "true":
            raise SecretConfigError(
                "name", f"ConfigMap {preset.name!r} exists and is not a preset (no label {PRESET_LABEL}=true); refusing"
            )
        if current.data == body.data:
            return "unchanged"
        current.data = body.data
        current.metadata.labels = {**(current.metadata.labels or {}), **(body.metadata.labels or {})}
        replaced = self._hook.replace_config_map(current, self.namespace)  # 409 if written in between
        self._record("preset-apply", preset.name, replaced.metadata.uid)
        return "configured"

    def delete(self, name: str) -> None:
        try:
            current = self._hook.read_config_map(name, self.namespace)
        except KubernetesNotFoundError:
            raise SecretConfigError("name", f"preset {name!r} not found in namespace {self.namespace!r}") from None
        if (current.metadata.labels or {}).get(PRESET_LABEL) != "true":
            raise SecretConfigError("name", f"ConfigMap {name!r} is not a preset; refusing")
        self._hook.delete_config_map(name, self.namespace)
        self._record("preset-delete", name, current.metadata.uid)

    def _record(self, action: str, name: str, uid: str | None) -> None:
        self.audit.record(action, namespace=self.namespace, secret=name, keys=[], uid=uid, kind="ConfigMap")
