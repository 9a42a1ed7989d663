"""Where a process running in a pod finds its own namespace: the mounted ServiceAccount files.

Why one place: the operator (through KubernetesPodOperator), the backend's ``kubernetes`` source,
the cleanup listener, the CLI and the Secrets page all fall back to the pod's own namespace when
they use in-cluster config and none is configured, the way ``kubectl`` does in a pod. Reading
it differently in each (or not at all, falling back to ``default``) sent requests to a namespace
the pod's ServiceAccount has no rights in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Mounted into every pod whose ServiceAccount token is automounted (kubelet, since Kubernetes 1.0).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NAMESPACE_FILE = f"{SERVICE_ACCOUNT_DIR}/namespace"


def pod_namespace_file() -> Path:
    """The namespace file's path (a function, so tests point it at a temporary file)."""
    return Path(NAMESPACE_FILE)


def in_cluster_namespace() -> str | None:
    """The pod's own namespace from the mounted file; None outside a pod (or an empty file)."""
    try:
        text = pod_namespace_file().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def uses_in_cluster_config(hook: Any) -> bool:
    """Whether ``hook`` (a cncf.kubernetes ``KubernetesHook``) talks to the API server in-cluster.

    Loading the configuration makes no request; a hook with no usable configuration at all is
    not in-cluster here (its first call will say what is missing).
    """
    try:
        return bool(hook.is_in_cluster)
    except Exception:  # no kube config and not in a pod: the caller's own fallback applies
        return False
