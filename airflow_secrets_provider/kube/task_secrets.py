"""The per-task Secret: values resolved by the worker, handed to exactly one pod.

Lifecycle, chosen so that nothing outlives the pod and the launcher needs no ``get``/``patch``
on Secrets (a patch or get response would hand it any Secret's data):

1. the pod is created first (its spec already references the Secret by name);
2. the Secret is created with ``ownerReferences`` to that pod's UID, so Kubernetes'
   garbage collector deletes it with the pod even if the worker dies mid-task;
3. the operator deletes it itself when the task ends, fails or is killed
   (:func:`delete_secret`; :func:`create_task_secret` makes it, through the package's hook).

Between 1 and 2 the kubelet may try to start the container and find the Secret missing; it
reports ``CreateContainerConfigError`` and retries, which the few milliseconds between the two
calls make rare and harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kubernetes.client import models as k8s

from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, SECRET_ROLE_LABEL, task_secret_name
from airflow_secrets_provider.core.secret_data import encode_text
from airflow_secrets_provider.core.values import SecretValues
from airflow_secrets_provider.kube.errors import KubernetesConflictError, KubernetesNotFoundError

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

TASK_ROLE = "task"


def task_secret_body(pod: k8s.V1Pod, values: SecretValues, labels: Mapping[str, str] | None = None) -> k8s.V1Secret:
    """The Secret for ``pod`` (which must carry its server-assigned UID) holding ``values``."""
    if not pod.metadata.uid:
        raise ValueError("the pod must be read back from the API server: its UID is needed for ownerReferences")
    owner = k8s.V1OwnerReference(api_version="v1", kind="Pod", name=pod.metadata.name, uid=pod.metadata.uid)
    return k8s.V1Secret(
        api_version="v1",
        kind="Secret",
        type="Opaque",
        immutable=True,
        metadata=k8s.V1ObjectMeta(
            name=task_secret_name(pod.metadata.name),
            namespace=pod.metadata.namespace,
            labels={**(labels or {}), MANAGED_BY_LABEL: MANAGED_BY_VALUE, SECRET_ROLE_LABEL: TASK_ROLE},
            owner_references=[owner],
        ),
        data=encode_text(values),
    )


def create_task_secret(
    hook: SecretsKubernetesHook, pod: k8s.V1Pod, values: SecretValues, *, replace_existing: bool
) -> bool:
    """Create ``pod``'s Secret; on a 409 replace it (``replace_existing``) or keep it. True if created.

    A Secret of that name may exist: left by an earlier pod of the same name (a fixed pod name,
    ``random_name_suffix=False``) that the garbage collector has not reached yet, or made by a
    retried create whose response was lost. Neither can be trusted to be this pod's (it is
    immutable and may be owned by the old pod), so a fresh pod replaces it; a reattached pod
    keeps the one it has.
    """
    body = task_secret_body(pod, values, labels=pod.metadata.labels)
    try:
        hook.create_secret(body)
    except KubernetesConflictError:
        if not replace_existing:
            return False
        delete_secret(hook, body.metadata.name, body.metadata.namespace)
        hook.create_secret(body)
    return True


def delete_secret(hook: SecretsKubernetesHook, name: str, namespace: str) -> bool:
    """Delete a per-task Secret; False if it was already gone (collected with its pod)."""
    try:
        hook.delete_secret(name, namespace)
    except KubernetesNotFoundError:
        return False
    return True
