"""Pure pod-spec assembly: requests -> references -> env vars, volumes and mounts.

No I/O and no secret values: every function here takes value objects and returns new
``kubernetes.client`` models, which is what lets the operator build the full pod spec while a
DAG is parsed and lets tests check every rule without a cluster.

Rules (the design's "precise semantics"):

* secret env vars come before the user's ``env_vars``, so ``$(VAR)`` in user values expands;
* a reference requested twice identically is kept once; the same env var name or mount path
  with a different source is an error naming the variable or path;
* a secret env var may not also be set by the user's ``env_vars`` (which one wins would
  otherwise depend on ordering rules users should not have to know);
* volume names are derived from the Secret and mount path, so the spec is the same every build.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kubernetes.client import models as k8s

from airflow_secrets_provider.exceptions import SecretConfigError
from airflow_secrets_provider.model import (
    Attachment,
    AttachTarget,
    PlainEnv,
    SecretEnvFrom,
    SecretKeyEnv,
    SecretRequest,
    SecretVolume,
)
from airflow_secrets_provider.naming import volume_name
from airflow_secrets_provider.validation import normalize_mount_path


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


def merge_attachments(attachments: Iterable[Attachment]) -> list[Attachment]:
    """Drop identical repeats; reject two different sources for one env var or mount path."""
    merged: list[Attachment] = []
    seen: set[Attachment] = set()
    env_sources: dict[str, Attachment] = {}
    mount_sources: dict[str, SecretVolume] = {}
    env_from: dict[str, int] = {}
    for item in attachments:
        if item in seen:
            continue
        if isinstance(item, (SecretKeyEnv, PlainEnv)):
            if item.env_name in env_sources:
                raise SecretConfigError(
                    "secrets", f"environment variable {item.env_name!r} is requested from two different sources"
                )
            env_sources[item.env_name] = item
        elif isinstance(item, SecretVolume):
            if item.mount_path in mount_sources:
                raise SecretConfigError(
                    "secrets", f"mount path {item.mount_path!r} is requested by two different mounts"
                )
            mount_sources[item.mount_path] = item
        elif isinstance(item, SecretEnvFrom):
            if item.secret_name in env_from:
                # The same Secret as optional and as required: required wins (it is the stricter).
                position = env_from[item.secret_name]
                merged[position] = SecretEnvFrom(item.secret_name, optional=False)
                seen.add(item)
                continue
            env_from[item.secret_name] = len(merged)
        seen.add(item)
        merged.append(item)
    return merged


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


def apply_pod_secrets(pod: k8s.V1Pod, secrets: PodSecrets, container_name: str) -> k8s.V1Pod:
    """A copy of ``pod`` with ``secrets`` added to its main container (``container_name``)."""
    pod = copy.deepcopy(pod)
    container = _main_container(pod, container_name)

    user_env = list(container.env or [])
    ours = {var.name for var in secrets.env}
    for var in user_env:
        if var.name in ours:
            raise SecretConfigError("env_vars", f"{var.name!r} is also provided as a secret; remove one of them")
    container.env = [*secrets.env, *user_env]
    container.env_from = [*secrets.env_from, *(container.env_from or [])] or None

    user_mounts = list(container.volume_mounts or [])
    our_paths = {normalize_mount_path(mount.mount_path) for mount in secrets.volume_mounts}
    for mount in user_mounts:
        # Compared in normal form: `/etc/s/` and `/etc/s` are one directory, and one mount
        # would silently hide the other.
        if mount.mount_path and normalize_mount_path(mount.mount_path) in our_paths:
            raise SecretConfigError("volume_mounts", f"mount path {mount.mount_path!r} is also used by a secret mount")
    container.volume_mounts = [*user_mounts, *secrets.volume_mounts] or None

    volumes = list(pod.spec.volumes or [])
    existing = {volume.name: volume for volume in volumes}
    for volume in secrets.volumes:
        if volume.name not in existing:
            volumes.append(volume)
        elif existing[volume.name] != volume:
            # Skipping ours would point the secret mount at someone else's volume.
            raise SecretConfigError("volumes", f"volume name {volume.name!r} is also used by another volume")
    pod.spec.volumes = volumes or None
    return pod
