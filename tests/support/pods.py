"""Helpers to check pods the way the API server would, without one."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

SCHEMA_VERSION = kubernetes_validate.latest_version()


def pod_dict(pod: k8s.V1Pod) -> dict[str, Any]:
    data: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Pod")
    return data


def validate_pod(pod: k8s.V1Pod | dict[str, Any]) -> dict[str, Any]:
    """Validate against the Kubernetes OpenAPI schema in strict mode (unknown fields fail)."""
    data = dict(pod) if isinstance(pod, dict) else pod_dict(pod)
    data.setdefault("apiVersion", "v1")  # items of a list response carry neither
    data.setdefault("kind", "Pod")
    kubernetes_validate.validate(data, SCHEMA_VERSION, strict=True)
    return data


def main_container(pod: k8s.V1Pod, name: str = "base") -> k8s.V1Container:
    return next(c for c in pod.spec.containers if c.name == name)


def env_refs(container: k8s.V1Container) -> dict[str, tuple[str, str] | str]:
    """env name -> (secret, key) for secretKeyRef entries, or the plain value."""
    out: dict[str, tuple[str, str] | str] = {}
    for var in container.env or []:
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            ref = var.value_from.secret_key_ref
            out[var.name] = (ref.name, ref.key)
        else:
            out[var.name] = var.value
    return out
