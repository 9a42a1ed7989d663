"""The per-task Secret: values resolved by the worker, handed to exactly one pod.

Lifecycle, chosen so that nothing outlives the pod and the launcher needs no ``get``/``patch``
on Secrets (a patch or get response would hand it any Secret's data):

1. the pod is created first (its spec already references the Secret by name);
2. the Secret is created with ``ownerReferences`` to that pod's UID, so Kubernetes'
   garbage collector deletes it with the pod even if the worker dies mid-task;
3. the operator deletes it itself when the task ends, fails or is killed.

Between 1 and 2 the kubelet may try to start the container and find the Secret missing; it
reports ``CreateContainerConfigError`` and retries, which the few milliseconds between the two
calls make rare and harmless.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from kubernetes.client import models as k8s

from airflow_secrets_provider.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, SECRET_ROLE_LABEL, task_secret_name
from airflow_secrets_provider.values import SecretValues

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
        data={key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    )
