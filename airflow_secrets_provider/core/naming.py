"""Names this provider gives the Kubernetes objects it creates or references.

They are derived, never random, so that the same task always builds the same pod spec and an
operator (or a person with kubectl) can find a project's Secret from the project name alone.
"""

from __future__ import annotations

import hashlib
import re

from airflow_secrets_provider.core.validation import MAX_LABEL_LENGTH, MAX_SUBDOMAIN_LENGTH

PROJECT_SECRET_PREFIX = "airflow-project-secrets-"
"""A project's secrets live in the Secret ``airflow-project-secrets-<project>`` (MLRun's scheme)."""

TASK_SECRET_SUFFIX = "-secrets"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "airflow-secrets-provider"
PROJECT_LABEL = "airflow-secrets-provider/project"
SECRET_ROLE_LABEL = "airflow-secrets-provider/role"

_UNSAFE_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")


def project_secret_name(project: str) -> str:
    """The Kubernetes Secret that holds every key of ``project``."""
    return f"{PROJECT_SECRET_PREFIX}{project}"


def task_secret_name(pod_name: str) -> str:
    """The per-task Secret holding values resolved by the worker for one pod.

    Derived from the pod name, which KubernetesPodOperator makes unique per try, so two tries
    or two mapped instances never share (or delete) each other's Secret.
    """
    return f"{pod_name[: MAX_SUBDOMAIN_LENGTH - len(TASK_SECRET_SUFFIX)]}{TASK_SECRET_SUFFIX}"


def volume_name(secret_name: str, mount_path: str) -> str:
    """A deterministic volume name (DNS-1123 label) for mounting ``secret_name`` at ``mount_path``.

    Native KubernetesPodOperator secrets get a random ``secretvol<uuid>``; a stable name keeps
    the pod spec identical between builds and lets an identical mount requested twice merge.
    """
    digest = hashlib.sha256(f"{secret_name}\0{mount_path}".encode()).hexdigest()[:10]
    readable = _UNSAFE_LABEL_CHARS.sub("-", secret_name.lower()).strip("-")
    readable = readable[: MAX_LABEL_LENGTH - len("secret--") - len(digest)].strip("-") or "x"
    return f"secret-{readable}-{digest}"
