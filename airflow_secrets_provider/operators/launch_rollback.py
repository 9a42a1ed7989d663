"""What a launch that gives up leaves behind: removed, or named for the cleanup.

A launch creates two objects, the pod and then its per-task Secret (owned by the pod, see
:mod:`airflow_secrets_provider.kube.task_secrets`). When it gives up half way, whatever it may
have created is removed before the task fails:

* the per-task Secret, when its create failed: a create whose answer was lost or that hung may
  have been applied, and nothing guarantees that a pod owns it (its owner may be deleted, or
  its delete may fail below), so it gets one deletion attempt of its own, bounded in time;
* the pod, when its per-task Secret could not be created (it would wait for it for ever), or
  when its own create failed in a way that may have been applied (a lost or unanswered
  response, a 5xx): it is read by name and deleted only if it carries this launch's id.

Every call here goes through a hook with :data:`GIVE_UP_POLICY`, so giving up takes a bounded
time even against an API server that never answers (attempts x the request timeout, at most).
Whatever still cannot be removed is returned by name: the operator puts those names into the
task's error (:class:`LaunchLeftoversError`). A pod of ours carries the task instance's labels,
so ``airflow-secrets cleanup`` (and the cleanup listener) finds it once the task instance has
ended and deletes it with its per-task Secret; a per-task Secret whose pod is gone is deleted by
Kubernetes' garbage collector through its ``ownerReference``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.core.errors import SecretsProviderError
from airflow_secrets_provider.kube.errors import KubernetesNotFoundError
from airflow_secrets_provider.kube.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

log = logging.getLogger(__name__)

GIVE_UP_POLICY = RetryPolicy(max_attempts=3, max_elapsed=15.0)
"""Short, as the cleanup listener's: the task is failing anyway; the cleanup is the fallback."""

#: Client errors that mean the API server refused the create: nothing was written.
_NOT_APPLIED = frozenset(range(400, 500)) - {408, 409, 429}


class LaunchLeftoversError(SecretsProviderError):
    """A launch gave up and could not remove everything it may have created (names only)."""

    def __init__(self, leftovers: list[str], namespace: str, cause: str) -> None:
        self.leftovers = list(leftovers)
        self.namespace = namespace
        self.cause = cause
        super().__init__(
            f"the launch gave up ({cause}) and could not remove {', '.join(leftovers)} in namespace "
            f"{namespace!r}: `airflow-secrets cleanup` (or the cleanup listener) deletes a pod of ours and its "
            "per-task Secret once this task instance has ended; a per-task Secret whose pod is gone is deleted "
            "by Kubernetes' garbage collector"
        )


def describe_error(error: BaseException) -> str:
    """The error, for a message: our own errors' text (names only), else the type's name."""
    if isinstance(error, SecretsProviderError):
        return str(error)
    if isinstance(error, ApiException):
        return f"{type(error).__name__} {error.status}"
    return type(error).__name__


def may_have_been_applied(error: BaseException) -> bool:
    """Whether a create that raised ``error`` may still have created its object."""
    if isinstance(error, ApiException) and error.status in _NOT_APPLIED:
        return False
    status = getattr(error, "status", None)  # this package's translated errors keep it
    return not (isinstance(status, int) and status in _NOT_APPLIED)


@dataclass(frozen=True)
class LaunchObjects:
    """What a launch may have created (names only)."""

    namespace: str
    pod: str
    pod_uid: str | None = None  # known once the create was answered
    launch_id: str | None = None  # when the pod's create itself failed: only our pod is deleted
    secret: str | None = None  # the per-task Secret, when its create was attempted


def remove_launch(hook: SecretsKubernetesHook, objects: LaunchObjects) -> list[str]:
    """Delete the per-task Secret, then the pod; return what could not be removed (names)."""
    out = log
    left: list[str] = []
    ns = objects.namespace
    if objects.secret:
        try:
            hook.delete_secret(objects.secret, ns)
            out.info("Deleted per-task Secret %s: its launch gave up", objects.secret)
        except KubernetesNotFoundError:
            pass  # never created
        except Exception as err:
            out.warning("Could not delete per-task Secret %s: %s", objects.secret, describe_error(err))
            left.append(f"Secret {objects.secret!r}")
    uid = objects.pod_uid
    if uid is None and objects.launch_id is not None:
        from airflow_secrets_provider.operators.launch import created_by_this_launch

        try:
            existing = hook.read_pod(objects.pod, ns)
        except KubernetesNotFoundError:
            return left  # the create was not applied
        except Exception as err:
            out.warning("Could not read pod %s to remove it: %s", objects.pod, describe_error(err))
            return [*left, f"Pod {objects.pod!r} (if its create was applied)"]
        if not created_by_this_launch(existing, objects.launch_id):
            return left  # someone else's pod of that name: not ours to delete
        uid = existing.metadata.uid
    try:
        hook.delete_pod(objects.pod, ns, uid=uid)
        out.info("Deleted pod %s: its launch gave up", objects.pod)
    except KubernetesNotFoundError:
        pass
    except Exception as err:
        out.warning("Could not delete pod %s: %s", objects.pod, describe_error(err))
        left.append(f"Pod {objects.pod!r}")
    return left
