"""``SecretAttachment``: the K8SModel that puts a task's secret references into its pod.

KubernetesPodOperator attaches its ``secrets`` (``K8SModel`` objects) after the pod is named
and before the XCom sidecar and the cluster policy (``pod_mutation_hook``) see it, which is
where this provider's references belong too. The attachment is an immutable value: the
(rendered) requests, the project's Secret and, on the worker, the
:class:`~airflow_secrets_provider.operators.resolve.ResolvedSecrets` of this execution. It reads
nothing from the operator and changes nothing but the pod it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow.providers.cncf.kubernetes.k8s_model import K8SModel
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from kubernetes.client import models as k8s

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.model import Attachment, AttachTarget, SecretRequest, SecretVolume
from airflow_secrets_provider.core.naming import task_secret_name
from airflow_secrets_provider.core.validation import normalize_mount_path
from airflow_secrets_provider.pod_spec.assembly import (
    AttachmentMerge,
    PodSecrets,
    apply_pod_secrets,
    collect_attachments,
    to_pod_secrets,
)

if TYPE_CHECKING:  # worker-side modules: not imported while a DAG is parsed
    from airflow_secrets_provider.operators.resolve import ResolvedSecrets

PLACEHOLDER_POD_NAME = "pod"
"""Pod name used to check requests before a pod exists (names derived from it are not used)."""

_XCOM_DIR = normalize_mount_path(PodDefaults.XCOM_MOUNT_PATH)


def check_not_xcom_mount(item: Attachment) -> None:
    """KPO adds its XCom volume after the secrets are attached; a secret there would collide with it."""
    if isinstance(item, SecretVolume) and normalize_mount_path(item.mount_path) == _XCOM_DIR:
        raise SecretConfigError(
            "secrets", f"mount path {item.mount_path!r} is where do_xcom_push mounts its XCom volume"
        )


def merge_checked(
    attachments: Iterable[Attachment], *, xcom: bool, into: AttachmentMerge | None = None
) -> AttachmentMerge:
    """Merge ``attachments`` (into ``into``, or a new merge), rejecting conflicts and, with
    ``xcom``, a mount on the XCom path. Plain dataclasses only: no kubernetes model is built."""
    merge = AttachmentMerge() if into is None else into
    for item in attachments:
        if xcom:
            check_not_xcom_mount(item)
        merge.add(item)
    return merge


@dataclass(frozen=True)
class SecretAttachment(K8SModel):
    """A task's secret references, ready to attach to the pod KPO builds.

    :param requests: the task's requests (the implicit project one included), rendered.
    :param project_secret: the project's Secret name, ``None`` without a project.
    :param container_name: the main container, which gets the references.
    :param xcom: whether KPO will mount its XCom volume (``do_xcom_push``), whose path is reserved.
    :param resolved: what ``execute()`` resolved (values' keys and the matching presets, which
        are applied with the secret references and recorded in the pod annotation
        ``airflow-secrets-provider/presets``); ``None`` at parse time and in dry runs.
    """

    requests: tuple[SecretRequest, ...]
    project_secret: str | None
    container_name: str
    xcom: bool = False
    resolved: ResolvedSecrets | None = field(default=None)

    def target(self, pod_name: str) -> AttachTarget:
        return AttachTarget(
            task_secret=task_secret_name(pod_name),
            project_secret=self.project_secret,
            resolved_keys=self.resolved.keys if self.resolved is not None else {},
        )

    def merged(self, pod_name: str = PLACEHOLDER_POD_NAME) -> list[Attachment]:
        """The merged references; raises :class:`SecretConfigError` on any conflict (no models built)."""
        return merge_checked(collect_attachments(self.requests, self.target(pod_name)), xcom=self.xcom).merged

    def pod_secrets(self, pod_name: str = PLACEHOLDER_POD_NAME) -> PodSecrets:
        """The env vars, volumes and mounts; raises :class:`SecretConfigError` on any conflict.

        The only place kubernetes models are made from the references: once per pod build.
        """
        return to_pod_secrets(self.merged(pod_name))

    def attach_to_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        presets = self.resolved.presets if self.resolved is not None else ()
        pod = apply_pod_secrets(pod, self.pod_secrets(pod.metadata.name), self.container_name, presets)
        if presets:
            from airflow_secrets_provider.pod_spec.presets import APPLIED_ANNOTATION, applied_names

            pod.metadata.annotations = {**(pod.metadata.annotations or {}), APPLIED_ANNOTATION: applied_names(presets)}
        return pod


def attachment(
    requests: Sequence[SecretRequest],
    project_secret: str | None,
    container_name: str,
    *,
    xcom: bool,
    resolved: ResolvedSecrets | None = None,
) -> SecretAttachment:
    return SecretAttachment(tuple(requests), project_secret, container_name, xcom, resolved)
