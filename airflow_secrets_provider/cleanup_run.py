"""``cleanup``: list our pods and per-task Secrets, judge them (:mod:`.cleanup`), delete the orphans.

Deletes are exact: a pod or Secret is deleted with its UID as a precondition, so an object
recreated under the same name after it was listed is never taken; one that is already gone
counts as deleted. One object failing does not stop the others; the failure is reported by
name and type (never a body).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from airflow_secrets_provider.cleanup import ON_FINISH_ANNOTATION, Leftover, TaskKey, TaskStates, Verdict, judge_all
from airflow_secrets_provider.exceptions import SecretsProviderError
from airflow_secrets_provider.hooks.kube_errors import KubernetesNotFoundError
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, SECRET_ROLE_LABEL

log = logging.getLogger(__name__)

OUR_PODS = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},dag_id,task_id,run_id"
TASK_SECRETS = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{SECRET_ROLE_LABEL}=task"

StateReader = Callable[[Iterable[TaskKey]], TaskStates]


@dataclass
class CleanupReport:
    """What one cleanup saw and did; names and reasons only."""

    verdicts: list[Verdict] = field(default_factory=list)
    deleted: list[Leftover] = field(default_factory=list)
    failed: list[tuple[Leftover, str]] = field(default_factory=list)


def selector_for(key: TaskKey | None, base: str) -> str:
    """``base`` narrowed to one task instance's (or DAG run's, when task_id is empty) labels."""
    if key is None:
        return base
    parts = [base, f"dag_id={key.dag_id}", f"run_id={key.run_id}"]
    if key.task_id:
        parts.append(f"task_id={key.task_id}")
        parts.append(f"map_index={key.map_index}" if key.map_index >= 0 else "!map_index")
    return ",".join(parts)


def list_leftovers(
    hook: SecretsKubernetesHook, namespaces: Sequence[str | None], only: TaskKey | None = None
) -> list[Leftover]:
    """Our pods and per-task Secrets in ``namespaces`` (None: every namespace), metadata only."""
    found: list[Leftover] = []
    for namespace in namespaces:
        for pod in hook.list_pods(namespace, selector_for(only, OUR_PODS)).items:
            meta = pod.metadata
            found.append(
                Leftover(
                    "Pod",
                    meta.namespace,
                    meta.name,
                    meta.uid,
                    dict(meta.labels or {}),
                    phase=pod.status.phase if pod.status else None,
                    on_finish_action=(meta.annotations or {}).get(ON_FINISH_ANNOTATION),
                )
            )
        for secret in hook.list_secrets_anywhere(namespace, selector_for(only, TASK_SECRETS)).items:
            meta = secret.metadata
            found.append(Leftover("Secret", meta.namespace, meta.name, meta.uid, dict(meta.labels or {})))
            secret.data = None  # listed for its labels; the values are dropped at once
    return found


def run_cleanup(
    hook: SecretsKubernetesHook,
    namespaces: Sequence[str | None],
    read_states: StateReader,
    *,
    dry_run: bool = False,
    only: TaskKey | None = None,
) -> CleanupReport:
    """List, then read task states (in that order: see :func:`.cleanup_states.read_task_states`), judge, delete."""
    items = list_leftovers(hook, namespaces, only)
    report = CleanupReport()
    if not items:
        return report
    states = read_states([key for item in items if (key := item.key) is not None])
    report.verdicts = judge_all(items, states)
    if dry_run:
        return report
    for verdict in report.verdicts:
        if not verdict.delete:
            continue
        item = verdict.item
        try:
            _delete(hook, item)
        except Exception as err:  # one object must not stop the others
            problem = str(err) if isinstance(err, SecretsProviderError) else type(err).__name__
            report.failed.append((item, problem))
            log.warning("Cleanup could not delete %s %s/%s: %s", item.kind, item.namespace, item.name, problem)
            continue
        report.deleted.append(item)
        log.info("Cleanup deleted %s %s/%s: %s", item.kind, item.namespace, item.name, verdict.reason)
    return report


def _delete(hook: SecretsKubernetesHook, item: Leftover) -> None:
    from kubernetes.client import V1DeleteOptions, V1Preconditions

    try:
        if item.kind == "Pod":
            hook.delete_pod(item.name, item.namespace, uid=item.uid)
        else:
            options = V1DeleteOptions(preconditions=V1Preconditions(uid=item.uid)) if item.uid else None
            hook.delete_secret(item.name, item.namespace, options)
    except KubernetesNotFoundError:
        pass  # gone already (the garbage collector took it with its pod): deleted all the same
