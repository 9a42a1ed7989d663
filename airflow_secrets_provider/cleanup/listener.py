"""The cleanup that runs without a user: an Airflow listener in the scheduler and the API server.

Why a listener: when Airflow ends a task instance without running the task's code, e.g. a
*deferred* task marked failed (or success) in the UI or REST API before the triggerer ran it,
the API server sets the state and calls ``on_task_instance_failed``/``_success``; a worker that
died is failed by the scheduler's ``handle_failure``, which calls ``on_task_instance_failed``;
a DAG run that ends calls ``on_dag_run_success``/``_failed`` in the scheduler (or the API
server when a user marks the run). None of these run operator code, so this is where the pods
and per-task Secrets of such task instances are deleted (see :mod:`.cleanup` for the rules).

Listeners also fire in task workers, for the task's own ``RuntimeTaskInstance``: there the
operator has cleaned up itself, so mostly only Airflow's ORM task instances (scheduler, API
server) are handled. The exception is a deferred task whose trigger timed out or failed: the
scheduler sends it back to a worker with ``__fail__``, where ``BaseOperator.resume_execution``
raises ``TaskDeferralTimeout``/``TaskDeferralError`` before any operator method runs, and the
worker's state update calls no listener in the scheduler or API server (Airflow 3.3). So that
failure is handled in the worker (see :func:`failed_in_worker_without_operator_code`), with the
task's own connection and namespace when it is a ``SecretTaskOperator`` (see
:func:`task_identity`); the end of its DAG run is the fallback. A failure is logged (names
only) and never raised into Airflow. What a listener cannot see (the scheduler down when the
state changed) is what ``airflow-secrets cleanup`` is for.

Configuration (``[secrets_provider]`` in airflow.cfg or ``AIRFLOW__SECRETS_PROVIDER__*``):
``cleanup_on_task_end`` (default ``True``), ``cleanup_operators`` (the task types whose task
instances are looked after, comma-separated, default ``SecretTaskOperator``; ``*`` for every
task: a subclass of the operator has a type name of its own), ``cleanup_namespaces`` (comma-separated; empty: every
namespace, which needs a cluster-wide ``list`` on pods; ``airflow-secrets rbac cleanup
--all-namespaces``), ``cleanup_kubernetes_conn_id``
(default ``kubernetes_default``; without such a connection, the in-cluster account or the default
kubeconfig), ``cleanup_kube_config_file`` (a kubeconfig path instead).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from airflow_secrets_provider.cleanup.rules import LIVE_STATES, TaskKey, TaskStates
from airflow_secrets_provider.kube.retry import RetryPolicy

log = logging.getLogger(__name__)

Identity = tuple[Any, list[str | None]]
"""A ``SecretsKubernetesHook`` and the namespaces (None: every namespace) the cleanup lists."""

CONFIGURED_ADVICE = "configure [secrets_provider] cleanup_* options, or cleanup_on_task_end = False"
TASK_IDENTITY_ADVICE = (
    "tried with the task's own Kubernetes connection; the end of its DAG run or `airflow-secrets cleanup` "
    "removes what is left"
)

LISTENER_POLICY = RetryPolicy(max_attempts=3, max_elapsed=15.0)
"""Short: the scheduler's loop waits for a listener."""


def enabled() -> bool:
    """``cleanup_on_task_end``; a value that is no boolean turns the cleanup off, with a warning.

    Never raised: a listener's error would reach the scheduler's loop.
    """
    from airflow_secrets_provider import config
    from airflow_secrets_provider.core.errors import SecretConfigError

    try:
        return config.get_bool("cleanup_on_task_end")
    except SecretConfigError as err:
        log.warning("airflow-secrets-provider cleanup is off: %s", err)
        return False


def _operators() -> set[str]:
    from airflow_secrets_provider import config

    return set(config.get_list("cleanup_operators"))


def handles(task_instance: Any) -> bool:
    """Whether ``task_instance`` is a scheduler/API-server task instance of a configured task type."""
    if not (enabled() and _is_orm_task_instance(task_instance)):
        return False
    names = _operators()
    return "*" in names or _loaded(task_instance, "operator") in names


def _loaded(obj: Any, name: str) -> Any:
    """An attribute as already loaded, never refreshed from the DB.

    Listeners run inside the scheduler's and the API server's own sessions: touching an expired
    attribute (or opening a session of our own) would reload or detach their objects and break
    the caller (a scheduler loop then fails with ``DetachedInstanceError``). So only values the
    object already holds are read.
    """
    try:
        from sqlalchemy import inspect

        state = inspect(obj, raiseerr=False)
    except Exception:
        state = None
    if state is None:
        return getattr(obj, name, None)
    return state.dict.get(name)


def failed_in_worker_without_operator_code(task_instance: Any, error: Any) -> bool:
    """A worker's task instance of a configured type failed by Airflow's ``__fail__`` resume.

    ``TaskDeferralTimeout`` (trigger timeout) and ``TaskDeferralError`` (the trigger failed) are
    raised by ``BaseOperator.resume_execution`` itself: neither the operator's re-entry method nor
    its cleanup ran, so the pod and per-task Secret it created before deferring are still there.
    """
    from airflow.sdk.exceptions import TaskDeferralError, TaskDeferralTimeout

    if not enabled() or _is_orm_task_instance(task_instance):
        return False
    if not isinstance(error, (TaskDeferralTimeout, TaskDeferralError)):
        return False
    names = _operators()
    task = getattr(task_instance, "task", None)
    return "*" in names or getattr(task, "task_type", type(task).__name__) in names


def configured_namespaces() -> list[str | None]:
    from airflow_secrets_provider import config

    names: list[str | None] = list(config.get_list("cleanup_namespaces"))
    return names or [None]


def task_identity(task: Any) -> Identity:
    """A ``SecretTaskOperator``'s own connection and its pods' namespace, for the cleanup in its worker.

    The task created its pod and per-task Secret with that connection, so that identity may
    delete them, and they are in that namespace: the worker needs no ``cleanup_*`` credentials
    of its own (a launcher's Role has no cluster-wide pod ``list``). Only for tasks that
    :func:`brings_own_identity`; other task types (``cleanup_operators = *``) get the configured one.
    """
    return task.kubernetes_hook(LISTENER_POLICY), [task.pod_namespace()]


def brings_own_identity(task: Any) -> bool:
    """Whether ``task`` is a ``SecretTaskOperator`` (or subclass), whose own identity cleans up after it."""
    from airflow_secrets_provider.operators.secret_task import SecretTaskOperator

    return isinstance(task, SecretTaskOperator)


def configured_identity() -> Identity:
    """The ``cleanup_*`` options' Kubernetes identity and namespaces.

    No ``cleanup_namespaces`` and in-cluster config (the scheduler or api-server in a pod): the
    pod's own namespace, from the mounted ServiceAccount namespace file, rather than a list over
    every namespace that a namespaced ServiceAccount may not make.
    """
    from airflow_secrets_provider.kube.in_cluster import in_cluster_namespace, uses_in_cluster_config

    hook, namespaces = configured_hook(), configured_namespaces()
    if namespaces == [None] and uses_in_cluster_config(hook):
        own = in_cluster_namespace()
        if own:
            namespaces = [own]
    return hook, namespaces


def configured_hook() -> Any:
    from airflow_secrets_provider import config
    from airflow_secrets_provider.kube.client import kube_hook

    config_file = config.get_str("cleanup_kube_config_file")
    conn_id = config.get_str("cleanup_kubernetes_conn_id")
    return kube_hook(conn_id=conn_id, config_file=config_file, retry_policy=LISTENER_POLICY)


def _is_orm_task_instance(task_instance: Any) -> bool:
    from airflow.models.taskinstance import TaskInstance

    return isinstance(task_instance, TaskInstance)


def _state_text(state: Any) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def clean_task_instance(
    task_instance: Any, identity: Callable[[], Identity] = configured_identity, advice: str = CONFIGURED_ADVICE
) -> None:
    """Delete the pods and per-task Secrets of ``task_instance`` if it has ended.

    ``identity`` gives the hook and namespaces to use; it is called inside the failure
    handling, so a connection that cannot be had is logged like any other failure, with
    ``advice`` (what to fix, or what removes the leftovers instead).
    """
    state = _state_text(_loaded(task_instance, "state"))
    if state in LIVE_STATES:
        return  # up_for_retry: the next try may reattach to the pod
    dag_id, task_id, run_id = (_loaded(task_instance, n) for n in ("dag_id", "task_id", "run_id"))
    if not (dag_id and task_id and run_id):
        return
    key = TaskKey.of(dag_id, task_id, run_id, _loaded(task_instance, "map_index"))
    states = TaskStates(frozenset({key.dag_id}), frozenset(), {key: str(state)})
    _run(key, lambda _keys: states, identity, advice)


def clean_dag_run(dag_run: Any, ended: str) -> None:
    """Delete what the task instances of an ended DAG run left (all of them have ended).

    One pod list per ended run, narrowed by its labels: the run's task types are not looked up
    (that would mean a query inside the scheduler's own session).
    """
    dag_id, run_id = _loaded(dag_run, "dag_id"), _loaded(dag_run, "run_id")
    if not (dag_id and run_id):
        return
    full = TaskKey.of(dag_id, "", run_id)
    key = TaskKey(full.dag_id, "", full.run_id)
    states = TaskStates(frozenset({key.dag_id}), frozenset(), {}, ended_otherwise=f"DAG run {ended}")
    _run(key, lambda _keys: states)


def _run(
    only: TaskKey,
    read_states: Any,
    identity: Callable[[], Identity] = configured_identity,
    advice: str = CONFIGURED_ADVICE,
) -> None:
    from airflow_secrets_provider.cleanup.run import run_cleanup
    from airflow_secrets_provider.core.errors import SecretsProviderError

    try:  # run_cleanup logs each delete (names only)
        hook, namespaces = identity()
        run_cleanup(hook, namespaces, read_states, only=only)
    except Exception as err:
        problem = str(err) if isinstance(err, SecretsProviderError) else type(err).__name__
        log.warning("airflow-secrets-provider cleanup for %s failed: %s (%s)", only.describe(), problem, advice)


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any = None) -> None:
    if handles(task_instance):
        clean_task_instance(task_instance)
    elif failed_in_worker_without_operator_code(task_instance, error):
        task = getattr(task_instance, "task", None)
        if brings_own_identity(task):
            clean_task_instance(task_instance, lambda: task_identity(task), TASK_IDENTITY_ADVICE)
        else:
            clean_task_instance(task_instance)


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    if handles(task_instance):
        clean_task_instance(task_instance)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    if enabled():
        clean_dag_run(dag_run, "failed")


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    if enabled():
        clean_dag_run(dag_run, "success")


class CleanupPlugin(AirflowPlugin):
    """Registers this module's listeners (entry point ``airflow.plugins``)."""

    name = "airflow_secrets_provider_cleanup"
    listeners = [sys.modules[__name__]]
