"""What may outlive a task instance, and what must go: the pure core of ``airflow-secrets cleanup``.

The guarantee: **no per-task Secret and no pod of ours outlives its task instance.** The operator
keeps it while its own code runs (it deletes the Secret on success, failure and kill). Where
Airflow ends a task instance without running our code (a deferred task marked failed before the
triggerer ran it, a worker SIGKILLed and its task failed by the scheduler, a ``keep_pod`` resume
that Airflow failed), the objects stay behind; this module decides which of them are orphans
from the labels KubernetesPodOperator and this provider put on them (``dag_id``, ``task_id``,
``run_id``, ``map_index``, ``try_number``, made label-safe by KPO) and the task instance states
of the Airflow metadata DB. The I/O (listing, deleting, reading states) is in
:mod:`airflow_secrets_provider.cleanup.run` and :mod:`airflow_secrets_provider.cleanup.states`.

Rules (one verdict per object):

* A task instance is *live* while its state may still lead to our code using the object again:
  none (cleared, about to be scheduled), ``scheduled``, ``queued``, ``running``, ``deferred``,
  ``up_for_retry`` and ``up_for_reschedule`` (a next try may reattach to the pod),
  ``restarting``. Any other state (``success``, ``failed``, ``skipped``, ``upstream_failed``,
  ``removed``), or no task instance at all (its DAG run was deleted), means it ended.
* The key is the task instance without the try: a later try reattaches to an earlier try's pod
  (``reattach_on_restart``), so an earlier try's pod lives as long as the task instance does.
* Objects whose ``dag_id`` is not a DAG of this Airflow are *foreign* and never touched (another
  Airflow deployment may share the namespace).
* A per-task Secret of an ended task instance is deleted. A pod of an ended task instance is
  deleted unless it finished (``Succeeded``/``Failed``) and its task asked to keep finished pods
  (``on_finish_action`` ``keep_pod``, or ``delete_succeeded_pod`` and the pod failed): a kept pod
  is the user's choice and holds no value (its Secret goes).
* The cleanup works from our *pods* only, and never lists or reads a Secret (a list response
  carries every Secret's data): a per-task Secret is named after its pod
  (:func:`~airflow_secrets_provider.core.naming.task_secret_name`) and deleted by that name, and one
  whose pod is already gone is the garbage collector's (its ``ownerReferences``). So the
  cleanup's identity needs ``list``/``delete`` on pods and ``delete`` on Secrets, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LIVE_STATES = frozenset(
    {None, "scheduled", "queued", "running", "deferred", "up_for_retry", "up_for_reschedule", "restarting"}
)
"""Task instance states in which the task may still use its pod and Secret."""

ON_FINISH_ANNOTATION = "airflow-secrets-provider/on-finish-action"
"""The task's ``on_finish_action``, recorded on its pod so a cleanup knows a kept pod is wanted."""

LAUNCH_ANNOTATION = "airflow-secrets-provider/launch-id"
"""A random id per pod create: a 409 on our own lost create is told apart from a name clash."""


def safe_label(value: str) -> str:
    """KubernetesPodOperator's own ``make_safe_label_value``, so DB values compare with pod labels.

    Called, not copied: the labels on our pods are whatever cncf.kubernetes makes of the ids, in
    whichever version is installed. Imported on first use, so loading the cleanup plugin stays
    cheap.
    """
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    return make_safe_label_value(value)


@dataclass(frozen=True, order=True)
class TaskKey:
    """A task instance as its pod labels name it (label-safe values; map_index -1 when unmapped)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def of(cls, dag_id: str, task_id: str, run_id: str, map_index: int | None = -1) -> TaskKey:
        """The key of a task instance read from Airflow (raw ids, made label-safe here)."""
        index = -1 if map_index is None else int(map_index)
        return cls(safe_label(dag_id), safe_label(task_id), safe_label(run_id), index)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> TaskKey | None:
        """The key KPO's labels give, or None when they do not name a task instance."""
        labels = labels or {}
        try:
            dag_id, task_id, run_id = labels["dag_id"], labels["task_id"], labels["run_id"]
        except KeyError:
            return None
        raw_index = labels.get("map_index", "-1")
        try:
            index = int(raw_index)
        except ValueError:
            return None
        return cls(dag_id, task_id, run_id, index)

    def describe(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{index} run {self.run_id}"


@dataclass(frozen=True)
class Leftover:
    """A pod of ours, as listed from the API server (labels, phase, one annotation; no spec)."""

    namespace: str
    name: str
    uid: str | None
    labels: Mapping[str, str]
    phase: str | None = None
    on_finish_action: str | None = None  # from ON_FINISH_ANNOTATION

    @property
    def key(self) -> TaskKey | None:
        return TaskKey.from_labels(self.labels)

    @property
    def try_number(self) -> str | None:
        return self.labels.get("try_number")


@dataclass(frozen=True)
class Verdict:
    """What the cleanup does with one pod and its per-task Secret, and why (names only)."""

    item: Leftover
    delete_pod: bool
    delete_secret: bool
    reason: str


@dataclass(frozen=True)
class TaskStates:
    """What the metadata DB says: the DAGs this Airflow knows and the live task instances."""

    known_dags: frozenset[str]  # label-safe dag ids
    live: frozenset[TaskKey]
    ended: Mapping[TaskKey, str]  # ended task instances that were looked up, with their state
    ended_otherwise: str | None = None  # the end of a task instance not in ``ended`` (None: it no longer exists)

    @classmethod
    def build(
        cls, dag_ids: Iterable[str], task_instances: Iterable[tuple[str, str, str, int | None, str | None]]
    ) -> TaskStates:
        """From raw dag ids and ``(dag_id, task_id, run_id, map_index, state)`` rows."""
        live: set[TaskKey] = set()
        ended: dict[TaskKey, str] = {}
        for dag_id, task_id, run_id, map_index, state in task_instances:
            key = TaskKey.of(dag_id, task_id, run_id, map_index)
            state_text = None if state is None else str(getattr(state, "value", state))
            if state_text in LIVE_STATES:
                live.add(key)
            else:
                ended[key] = str(state_text)
        return cls(frozenset(safe_label(d) for d in dag_ids), frozenset(live), ended)


def _keeps_finished_pod(item: Leftover) -> bool:
    if item.phase not in ("Succeeded", "Failed"):
        return False
    action = item.on_finish_action
    return action == "keep_pod" or (action == "delete_succeeded_pod" and item.phase == "Failed")


def judge(item: Leftover, states: TaskStates) -> Verdict:
    """The verdict for one pod and its per-task Secret (see the module's rules)."""
    key = item.key
    if key is None:
        return Verdict(item, False, False, "no task instance labels (dag_id, task_id, run_id): not a task's pod")
    if key.dag_id not in states.known_dags:
        return Verdict(item, False, False, f"DAG {key.dag_id} is not known to this Airflow: left alone")
    if key in states.live:
        return Verdict(item, False, False, f"task instance {key.describe()} is still live")
    ended = states.ended.get(key, states.ended_otherwise)
    why = f"task instance {key.describe()} " + (f"ended ({ended})" if ended else "no longer exists")
    if _keeps_finished_pod(item):
        return Verdict(item, False, True, f"{why}; the finished pod is kept (on_finish_action={item.on_finish_action})")
    return Verdict(item, True, True, why)


def judge_all(items: Iterable[Leftover], states: TaskStates) -> list[Verdict]:
    """Verdicts in a stable order (namespace, pod name)."""
    return sorted((judge(item, states) for item in items), key=lambda v: (v.item.namespace, v.item.name))
