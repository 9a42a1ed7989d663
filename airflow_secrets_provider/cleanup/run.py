"""``cleanup``: list our pods, judge them (:mod:`.cleanup`), delete orphans and their per-task Secrets.

No Secret is listed or read: a per-task Secret is deleted by the name derived from its pod
(see :mod:`.cleanup`). Pods are deleted with their UID as a precondition, so a pod recreated
under the same name after it was listed is never taken; an object already gone counts as
deleted and is not reported. One object failing does not stop the others; the failure is
reported by name and type (never a body).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from airflow_secrets_provider.cleanup.rules import (
    ON_FINISH_ANNOTATION,
    Leftover,
    TaskKey,
    TaskStates,
    Verdict,
    judge_all,
)
from airflow_secrets_provider.core.errors import SecretsProviderError
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, task_secret_name
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.errors import KubernetesNotFoundError

log = logging.getLogger(__name__)

OUR_PODS = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},dag_id,task_id,run_id"

StateReader = Callable[[Iterable[TaskKey]], TaskStates]


@dataclass(frozen=True)
class Deleted:
    kind: str  # "Pod" or "Secret"
    namespace: str
    name: str


@dataclass
class CleanupReport:
    """What one cleanup saw and did; names and reasons only."""

    verdicts: list[Verdict] = field(default_factory=list)
    deleted: list[Deleted] = field(default_factory=list)
    failed: list[tuple[Deleted, str]] = field(default_factory=list)


def selector_for(key: TaskKey | None) -> str:
    """Our pods, narrowed to one task instance's (or a DAG run's, when task_id is empty) labels."""
    if key is None:
        return OUR_PODS
    parts = [OUR_PODS, f"dag_id={key.dag_id}", f"run_id={key.run_id}"]
    if key.task_id:
        parts.append(f"task_id={key.task_id}")
        parts.append(f"map_index={key.map_index}" if key.map_index >= 0 else "!map_index")
    return ",".join(parts)


def list_leftovers(
    hook: SecretsKubernetesHook, namespaces: Sequence[str | None], only: TaskKey | None = None
) -> list[Leftover]:
    """Our pods in ``namespaces`` (None: every namespace): labels, phase, on-finish annotation."""
    found: list[Leftover] = []
    for namespace in namespaces:
        for pod in hook.list_pods(namespace, selector_for(only)).items:
            meta = pod.metadata
            if meta.deletion_timestamp is not None:
                continue  # already going
            found.append(
                Leftover(
                    meta.namespace,
                    meta.name,
                    meta.uid,
                    dict(meta.labels or {}),
                    phase=pod.status.phase if pod.status else None,
                    on_finish_action=(meta.annotations or {}).get(ON_FINISH_ANNOTATION),
                )
            )
    return found


def run_cleanup(
    hook: SecretsKubernetesHook,
    namespaces: Sequence[str | None],
    read_states: StateReader,
    *,
    dry_run: bool = False,
    only: TaskKey | None = None,
) -> CleanupReport:
    """List pods, then read task states (in that order: see :func:`~airflow_secrets_provider.cleanup.states.read_task_states`), judge, delete."""
    items = list_leftovers(hook, namespaces, only)
    report = CleanupReport()
    if not items:
        return report
    states = read_states([key for item in items if (key := item.key) is not None])
    report.verdicts = judge_all(items, states)
    if dry_run:
        return report
    for verdict in report.verdicts:
        item = verdict.item
        if verdict.delete_secret:
            _attempt(report, Deleted("Secret", item.namespace, task_secret_name(item.name)), verdict.reason, hook, None)
        if verdict.delete_pod:
            _attempt(report, Deleted("Pod", item.namespace, item.name), verdict.reason, hook, item.uid)
    return report


def _attempt(report: CleanupReport, what: Deleted, reason: str, hook: SecretsKubernetesHook, uid: str | None) -> None:
    try:
        if what.kind == "Pod":
            hook.delete_pod(what.name, what.namespace, uid=uid)
        else:
            hook.delete_secret(what.name, what.namespace)
    except KubernetesNotFoundError:
        return  # never there, or gone already (collected with its pod)
    except Exception as err:  # one object must not stop the others
        problem = str(err) if isinstance(err, SecretsProviderError) else type(err).__name__
        report.failed.append((what, problem))
        log.warning("Cleanup could not delete %s %s/%s: %s", what.kind, what.namespace, what.name, problem)
        return
    report.deleted.append(what)
    log.info("Cleanup deleted %s %s/%s: %s", what.kind, what.namespace, what.name, reason)
