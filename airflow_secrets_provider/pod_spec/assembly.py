"""Pure pod-spec assembly: requests -> references -> env vars, volumes and mounts.

No I/O and no secret values: every function here takes value objects and returns new
``kubernetes.client`` models, which is what lets the operator build the full pod spec while a
DAG is parsed and lets tests check every rule without a cluster.

Rules (the design's "precise semantics"):

* secret env vars come before the user's ``env_vars``, so ``$(VAR)`` in user values expands;
* a reference requested twice identically is kept once; the same env var name or mount path
  with a different source is an error naming the variable or path;
* attaching to the pod merges every field with its one merge function (:mod:`~airflow_secrets_provider.pod_spec.merge`):
  a secret env var may not also be set differently by the user's ``env_vars`` or a preset
  (which one wins would otherwise depend on ordering rules users should not have to know);
* volume names are derived from the Secret and mount path, so the spec is the same every build.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubernetes.client import models as k8s

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.model import (
    Attachment,
    AttachTarget,
    PlainEnv,
    SecretEnvFrom,
    SecretKeyEnv,
    SecretRequest,
    SecretVolume,
)
from airflow_secrets_provider.core.naming import volume_name
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.pod_spec.merge import (
    PRESETS_FIELD,
    SECRETS_FIELD,
    entries,
    merge_env,
    merge_env_from,
    merge_image_pull_secrets,
    merge_volume_mounts,
    merge_volumes,
)

if TYPE_CHECKING:
    from airflow_secrets_provider.pod_spec.presets import Preset


@dataclass(frozen=True)
class PodSecrets:
    """What a task's secret requests add to its main container and pod."""

    env: tuple[k8s.V1EnvVar, ...] = ()
    env_from: tuple[k8s.V1EnvFromSource, ...] = ()
    volumes: tuple[k8s.V1Volume, ...] = ()
    volume_mounts: tuple[k8s.V1VolumeMount, ...] = ()


def collect_attachments(requests: Sequence[SecretRequest], target: AttachTarget) -> list[Attachment]:
    """Every reference the requests make, in request order."""
    attachments: list[Attachment] = []
    for index, request in enumerate(requests):
        attachments.extend(request.attachments(target, index))
    return attachments


class AttachmentMerge:
    """Attachments merged so far: identical repeats dropped, two sources for one name rejected.

    Incremental, so that a task adding its requests one by one pays for each request's own
    references only (checking the whole list again on every addition made parsing a task
    quadratic in its references). Plain dataclasses only: no kubernetes model is built here.
    """

    __slots__ = ("_env_from", "_env_sources", "_mount_sources", "_seen", "merged")

    def __init__(self, attachments: Iterable[Attachment] = ()) -> None:
        self.merged: list[Attachment] = []
        self._seen: set[Attachment] = set()
        self._env_sources: dict[str, Attachment] = {}
        self._mount_sources: dict[str, SecretVolume] = {}
        self._env_from: dict[str, int] = {}
        for item in attachments:
            self.add(item)

    def add(self, item: Attachment) -> None:
        """Merge one reference; raises :class:`SecretConfigError` (state unchanged) on a conflict."""
        if type(item) is SecretKeyEnv:  # the commonest: a new name, or an identical repeat, in one lookup
            # (never in _seen: every SecretKeyEnv comes here, and _env_sources tells its repeats)
            known = self._env_sources.get(item.env_name)
            if known is None:
                self._env_sources[item.env_name] = item
                self.merged.append(item)
                return
            if known == item:
                return
        seen = self._seen
        before = len(seen)
        seen.add(item)  # one hash per reference: a repeat leaves the set as it was
        if len(seen) == before:
            return
        try:
            self._place(item)
        except SecretConfigError:
            seen.discard(item)
            raise

    def _place(self, item: Attachment) -> None:
        if isinstance(item, (SecretKeyEnv, PlainEnv)):
            if item.env_name in self._env_sources:
                raise SecretConfigError(
                    "secrets", f"environment variable {shown(item.env_name)} is requested from two different sources"
                )
            self._env_sources[item.env_name] = item
        elif isinstance(item, SecretVolume):
            if item.mount_path in self._mount_sources:
                raise SecretConfigError(
                    "secrets", f"mount path {shown(item.mount_path, 'mount path')} is requested by two different mounts"
                )
            self._mount_sources[item.mount_path] = item
        elif isinstance(item, SecretEnvFrom):
            if item.secret_name in self._env_from:
                # The same Secret as optional and as required: required wins (it is the stricter).
                position = self._env_from[item.secret_name]
                self.merged[position] = SecretEnvFrom(item.secret_name, optional=False)
                return
            self._env_from[item.secret_name] = len(self.merged)
        self.merged.append(item)


def merge_attachments(attachments: Iterable[Attachment]) -> list[Attachment]:
    """Drop identical repeats; reject two different sources for one env var or mount path."""
    return AttachmentMerge(attachments).merged


def to_pod_secrets(attachments: Iterable[Attachment]) -> PodSecrets:
    """Kubernetes models for already merged attachments."""
    env: list[k8s.V1EnvVar] = []
    env_from: list[k8s.V1EnvFromSource] = []
    volumes: list[k8s.V1Volume] = []
    mounts: list[k8s.V1VolumeMount] = []
    for item in attachments:
        if isinstance(item, SecretKeyEnv):
            selector = k8s.V1SecretKeySelector(name=item.secret_name, key=item.key, optional=item.optional or None)
            env.append(k8s.V1EnvVar(name=item.env_name, value_from=k8s.V1EnvVarSource(secret_key_ref=selector)))
        elif isinstance(item, PlainEnv):
            env.append(k8s.V1EnvVar(name=item.env_name, value=item.value))
        elif isinstance(item, SecretEnvFrom):
            ref = k8s.V1SecretEnvSource(name=item.secret_name, optional=item.optional or None)
            env_from.append(k8s.V1EnvFromSource(secret_ref=ref))
        else:
            name = volume_name(item.secret_name, item.mount_path)
            items = [k8s.V1KeyToPath(key=key, path=path) for key, path in item.items] if item.items else None
            volumes.append(
                k8s.V1Volume(name=name, secret=k8s.V1SecretVolumeSource(secret_name=item.secret_name, items=items))
            )
            mounts.append(k8s.V1VolumeMount(name=name, mount_path=item.mount_path, read_only=True))
    return PodSecrets(tuple(env), tuple(env_from), tuple(volumes), tuple(mounts))


def assemble(requests: Sequence[SecretRequest], target: AttachTarget) -> PodSecrets:
    return to_pod_secrets(merge_attachments(collect_attachments(requests, target)))


def _main_container(pod: k8s.V1Pod, container_name: str) -> k8s.V1Container:
    for container in pod.spec.containers:
        if container.name == container_name:
            return container
    return pod.spec.containers[0]


def apply_pod_secrets(
    pod: k8s.V1Pod, secrets: PodSecrets, container_name: str, presets: Sequence[Preset] = ()
) -> k8s.V1Pod:
    """A copy of ``pod`` with ``secrets`` and ``presets`` added to its main container.

    Every field goes through its one merge function (:mod:`airflow_secrets_provider.pod_spec.merge`):
    what the pod already has (the user's ``env_vars``, ``volume_mounts``, ``volumes``...),
    the secret references and each preset's entries; identical entries are kept once, different
    ones with the same key fail before anything is created, naming both sources. Secret env vars
    come first, then presets', then the user's, so ``$(VAR)`` in a user value expands.
    """
    pod = copy.deepcopy(pod)
    container = _main_container(pod, container_name)
    ours = SECRETS_FIELD, "secret requests"
    preset_sources = [(p, PRESETS_FIELD, p.describe()) for p in presets]

    container.env = merge_env(
        entries(secrets.env, *ours),
        *(entries(p.env, f, s) for p, f, s in preset_sources),
        entries(container.env, "env_vars", "env_vars"),
    )
    container.env_from = merge_env_from(
        entries(secrets.env_from, *ours),
        *(entries(p.env_from, f, s) for p, f, s in preset_sources),
        entries(container.env_from, "env_from", "env_from"),
    )
    container.volume_mounts = merge_volume_mounts(
        entries(container.volume_mounts, "volume_mounts", "volume_mounts"),
        entries(secrets.volume_mounts, *ours),
        *(entries(p.volume_mounts, f, s) for p, f, s in preset_sources),
    )
    pod.spec.volumes = merge_volumes(
        entries(pod.spec.volumes, "volumes", "volumes"),
        entries(secrets.volumes, *ours),
        *(entries(p.volumes, f, s) for p, f, s in preset_sources),
    )
    pod.spec.image_pull_secrets = merge_image_pull_secrets(
        entries(pod.spec.image_pull_secrets, "image_pull_secrets", "image_pull_secrets"),
        *(entries(p.image_pull_secrets, f, s) for p, f, s in preset_sources),
    )
    for name in ("env", "env_from", "volume_mounts"):
        setattr(container, name, getattr(container, name) or None)
    pod.spec.volumes = pod.spec.volumes or None
    pod.spec.image_pull_secrets = pod.spec.image_pull_secrets or None
    return pod
