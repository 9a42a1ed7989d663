"""The pod's create, made safe to lose: marks for the cleanup, and adoption after a lost response.

* Every pod this provider creates carries the ``app.kubernetes.io/managed-by`` label (so the
  cleanup, :mod:`airflow_secrets_provider.cleanup.rules`, finds it next to KPO's ``dag_id``/``task_id``/
  ``run_id``/``try_number`` labels) and its task's ``on_finish_action`` (so a pod the task keeps on
  purpose is not taken for an orphan).
* A random launch id is written into the pod's annotations before the create. When the create's
  response is lost, KubernetesPodOperator retries and the API server answers 409 (the pod exists):
  KPO gives up and the pod would stay ``Pending`` for ever with no Secret. If the pod of that name
  carries this launch's id, it is the one we created: it is adopted and the launch goes on (its
  per-task Secret is created next). A pod of that name with another id (a fixed pod name taken by
  someone else) is a real conflict, left alone, and the error stands.
"""

from __future__ import annotations

import secrets
from typing import Any

from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.cleanup.rules import LAUNCH_ANNOTATION, ON_FINISH_ANNOTATION
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE


def mark_launch(pod: k8s.V1Pod, on_finish_action: Any) -> str:
    """Label and annotate the pod request (in place) before it is created; return the launch id."""
    launch_id = secrets.token_hex(8)
    meta = pod.metadata
    meta.labels = {**(meta.labels or {}), MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    action = str(getattr(on_finish_action, "value", on_finish_action))
    meta.annotations = {**(meta.annotations or {}), LAUNCH_ANNOTATION: launch_id, ON_FINISH_ANNOTATION: action}
    return launch_id


def is_lost_create(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 409


def created_by_this_launch(existing: k8s.V1Pod | None, launch_id: str) -> bool:
    """Whether the pod found under our name is the one this launch's (lost) create made."""
    if existing is None or existing.metadata is None:
        return False
    return (existing.metadata.annotations or {}).get(LAUNCH_ANNOTATION) == launch_id
