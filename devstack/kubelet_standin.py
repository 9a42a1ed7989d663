"""A kubelet stand-in: plays the kubelet's part for pods on an API server that has no nodes.

Why: the ``kubernetes`` test tier's control plane (``scripts/kube-node.sh start --no-node``) is a
real kube-apiserver, but there is no kubelet, so pods stay ``Pending`` forever and anything that
waits for a pod (an operator's ``execute()``, Airflow's ``PodManager``) would hang. The stand-in
keeps those many tests fast; the ``pods`` tier runs pods on a real kubelet and checks what the
stand-in fakes against it (``tests/test_pods.py``). This module is **not** a kubelet: it runs
no containers. It does the two things of a kubelet's job that our tests depend on:

1. resolve the pod's Secret references the way a kubelet does before starting containers
   (``env[].valueFrom.secretKeyRef``, ``envFrom[].secretRef``, ``secret`` and ``projected``
   volumes with their ``items`` keys, and ``imagePullSecrets``), honouring ``optional: true``;
2. report the outcome through the pod's ``status`` subresource, with container statuses shaped
   like a kubelet's (``state.running`` then ``state.terminated`` with ``exitCode``,
   ``startedAt``, ``finishedAt``), so Airflow's ``PodManager`` sees a finished pod.

Deliberate differences from a real kubelet, chosen so that waiting code terminates:

* An unresolvable reference makes the pod ``Failed`` (``status.reason`` and ``status.message``
  carry the kubelet's reason, e.g. ``CreateContainerConfigError`` and
  ``couldn't find key password in Secret ns/name``), with the containers ``terminated``
  (exit code 128). A real kubelet would keep the pod ``Pending`` and retry forever.
* A missing ``imagePullSecrets`` entry fails the pod with ``ErrImagePull`` by default (as a pull
  from a private registry would). A real kubelet only warns and tries an anonymous pull; pass
  ``image_pull_secrets_required=False`` for that behaviour.
* The pod is never bound to a node, so the API server cannot serve its logs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from kubernetes import watch
from kubernetes.client import (
    CoreV1Api,
    CoreV1Event,
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1EventSource,
    V1ObjectMeta,
    V1ObjectReference,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
    V1Secret,
)
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

#: Shown as the event source and in container IDs, so nobody mistakes this for a kubelet.
COMPONENT = "kubelet-standin"
#: Exit code kubelets report for a container that could not be started.
CANNOT_RUN_EXIT_CODE = 128


@dataclass(frozen=True)
class ReferenceProblem:
    """A Secret reference that does not resolve, described as a kubelet would report it."""

    #: ``FailedMount`` (volumes), ``ErrImagePull`` (pull secrets) or ``CreateContainerConfigError``.
    reason: str
    message: str
    #: The container whose config failed, for container-level problems.
    container: str | None = None


def _now() -> datetime:
    # API times have second precision; keep what we write equal to what we read back.
    return datetime.now(UTC).replace(microsecond=0)


class KubeletStandIn:
    """A kubelet stand-in (not a kubelet): moves pods through Running to Succeeded or Failed.

    ``core_v1_api`` needs read access to pods and secrets, write access to ``pods/status`` and
    (optionally, for warning events) ``events`` in the namespaces it serves.
    """

    def __init__(
        self,
        core_v1_api: CoreV1Api,
        *,
        running_seconds: float = 0.2,
        image_pull_secrets_required: bool = True,
        reference_retry_seconds: float = 5.0,
    ) -> None:
        self.core = core_v1_api
        #: A kubelet retries a pod whose Secret is missing (CreateContainerConfigError) until it
        #: appears; the stand-in re-checks for this long before failing the pod, which covers a
        #: Secret created right after its pod (the per-task Secret is).
        self.reference_retry_seconds = reference_retry_seconds
        self.running_seconds = running_seconds
        self.image_pull_secrets_required = image_pull_secrets_required
        #: Exceptions raised while serving pods in background threads (for tests to assert on).
        self.errors: list[BaseException] = []
        #: ``(namespace, name, final phase)`` of every pod this stand-in finished.
        self.finished: list[tuple[str, str, str]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reference checks

    def check_references(self, pod: V1Pod) -> list[ReferenceProblem]:
        """Return every Secret reference of ``pod`` that a kubelet could not resolve.

        Ordered as a kubelet meets them: volumes are mounted first, then images pulled, then
        container configs (env) built.
        """
        namespace = pod.metadata.namespace
        cache: dict[str, V1Secret | None] = {}

        def secret(name: str) -> V1Secret | None:
            if name not in cache:
                try:
                    cache[name] = self.core.read_namespaced_secret(name, namespace)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    cache[name] = None
            return cache[name]

        def has_key(obj: V1Secret, key: str) -> bool:
            return key in (obj.data or {})

        volume_problems: list[ReferenceProblem] = []
        for volume in pod.spec.volumes or []:
            sources: list[tuple[str, Any, bool]] = []  # (secret name, items, optional)
            if volume.secret is not None:
                sources.append((volume.secret.secret_name, volume.secret.items, bool(volume.secret.optional)))
            if volume.projected is not None:
                for source in volume.projected.sources or []:
                    if source.secret is not None:
                        sources.append((source.secret.name, source.secret.items, bool(source.secret.optional)))
            for name, items, optional in sources:
                prefix = f'MountVolume.SetUp failed for volume "{volume.name}" : '
                obj = secret(name)
                if obj is None:
                    if not optional:
                        volume_problems.append(ReferenceProblem("FailedMount", f'{prefix}secret "{name}" not found'))
                    continue
                for item in items or []:
                    if not has_key(obj, item.key) and not optional:
                        volume_problems.append(
                            ReferenceProblem("FailedMount", f"{prefix}references non-existent secret key: {item.key}")
                        )

        pull_problems: list[ReferenceProblem] = []
        missing_pull = [ref.name for ref in pod.spec.image_pull_secrets or [] if secret(ref.name) is None]
        if missing_pull and self.image_pull_secrets_required:
            pull_problems.append(
                ReferenceProblem(
                    "ErrImagePull",
                    "Unable to retrieve some image pull secrets ({}); image pull failed: "
                    "unauthorized (kubelet stand-in treats every registry as private)".format(", ".join(missing_pull)),
                )
            )

        config_problems: list[ReferenceProblem] = []
        for container in [*(pod.spec.init_containers or []), *(pod.spec.containers or [])]:
            for env in container.env or []:
                ref = env.value_from.secret_key_ref if env.value_from else None
                if ref is None:
                    continue
                obj = secret(ref.name)
                if ref.optional:
                    continue
                if obj is None:
                    config_problems.append(
                        ReferenceProblem("CreateContainerConfigError", f'secret "{ref.name}" not found', container.name)
                    )
                elif not has_key(obj, ref.key):
                    config_problems.append(
                        ReferenceProblem(
                            "CreateContainerConfigError",
                            f"couldn't find key {ref.key} in Secret {namespace}/{ref.name}",
                            container.name,
                        )
                    )
            for env_from in container.env_from or []:
                ref = env_from.secret_ref
                if ref is None or ref.optional:
                    continue
                if secret(ref.name) is None:
                    config_problems.append(
                        ReferenceProblem("CreateContainerConfigError", f'secret "{ref.name}" not found', container.name)
                    )
        return [*volume_problems, *pull_problems, *config_problems]

    # ------------------------------------------------------------------ running one pod

    def run_pod(self, namespace: str, name: str, *, succeed: bool = True, timeout: float = 30) -> None:
        """Play the kubelet for one pod: check references, then Running -> Succeeded/Failed.

        Waits up to ``timeout`` seconds for the pod to exist (callers often create it from
        another thread). A pod that is already finished is left alone.
        """
        deadline = time.monotonic() + timeout
        pod = self._wait_for_pod(namespace, name, deadline)
        if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
            return
        problems = self.check_references(pod)
        retry_until = time.monotonic() + self.reference_retry_seconds
        while problems and time.monotonic() < retry_until:
            time.sleep(0.2)
            problems = self.check_references(pod)
        if problems:
            self._fail_unresolved(pod, problems, deadline)
            return

        started = _now()
        self._write_status(namespace, name, lambda p: self._running_status(p, started), deadline)
        time.sleep(self.running_seconds)
        finished = max(_now(), started)
        final = self._write_status(
            namespace, name, lambda p: self._finished_status(p, started, finished, succeed), deadline
        )
        self._record(namespace, name, final)

    def _wait_for_pod(self, namespace: str, name: str, deadline: float) -> V1Pod:
        while True:
            try:
                return self.core.read_namespaced_pod(name, namespace)
            except ApiException as exc:
                if exc.status != 404 or time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)

    def _write_status(self, namespace: str, name: str, build: Callable[[V1Pod], V1PodStatus], deadline: float) -> str:
        """Replace the pod's status (re-reading on 409 Conflict, as a kubelet's status manager does)."""
        while True:
            pod = self.core.read_namespaced_pod(name, namespace)
            pod.status = build(pod)
            try:
                self.core.replace_namespaced_pod_status(name, namespace, pod)
                return str(pod.status.phase)
            except ApiException as exc:
                if exc.status != 409 or time.monotonic() >= deadline:
                    raise

    def _record(self, namespace: str, name: str, phase: str) -> None:
        with self._lock:
            self.finished.append((namespace, name, phase))
        log.info("kubelet stand-in: pod %s/%s -> %s", namespace, name, phase)

    # ------------------------------------------------------------------ status builders

    @staticmethod
    def _conditions(pod_ready: bool, reason: str | None, now: datetime) -> list[V1PodCondition]:
        ready = "True" if pod_ready else "False"
        return [
            V1PodCondition(type="Initialized", status="True", last_transition_time=now),
            V1PodCondition(type="Ready", status=ready, reason=reason, last_transition_time=now),
            V1PodCondition(type="ContainersReady", status=ready, reason=reason, last_transition_time=now),
            V1PodCondition(type="PodScheduled", status="True", last_transition_time=now),
        ]

    @staticmethod
    def _container_status(pod: V1Pod, container: Any, state: V1ContainerState, *, ready: bool) -> V1ContainerStatus:
        running_or_done = state.running is not None or (
            state.terminated is not None and state.terminated.started_at is not None
        )
        return V1ContainerStatus(
            name=container.name,
            image=container.image,
            image_id=f"{container.image}@sha256:{'0' * 64}" if running_or_done else "",
            container_id=f"{COMPONENT}://{pod.metadata.uid}/{container.name}" if running_or_done else None,
            ready=ready,
            started=state.running is not None,
            restart_count=0,
            state=state,
        )

    def _base_status(self, pod: V1Pod, phase: str, now: datetime) -> V1PodStatus:
        old = pod.status or V1PodStatus()
        return V1PodStatus(
            phase=phase,
            host_ip="127.0.0.1",
            pod_ip="10.244.0.2",
            start_time=old.start_time or now,
            qos_class=old.qos_class,
        )

    def _init_statuses(self, pod: V1Pod, started: datetime) -> list[V1ContainerStatus] | None:
        inits = pod.spec.init_containers or []
        if not inits:
            return None
        done = V1ContainerStateTerminated(exit_code=0, reason="Completed", started_at=started, finished_at=started)
        return [self._container_status(pod, c, V1ContainerState(terminated=done), ready=True) for c in inits]

    def _running_status(self, pod: V1Pod, started: datetime) -> V1PodStatus:
        status = self._base_status(pod, "Running", started)
        status.conditions = self._conditions(True, None, started)
        status.init_container_statuses = self._init_statuses(pod, started)
        state = V1ContainerState(running=V1ContainerStateRunning(started_at=started))
        status.container_statuses = [self._container_status(pod, c, state, ready=True) for c in pod.spec.containers]
        return status

    def _finished_status(self, pod: V1Pod, started: datetime, finished: datetime, succeed: bool) -> V1PodStatus:
        status = self._base_status(pod, "Succeeded" if succeed else "Failed", started)
        status.conditions = self._conditions(False, "PodCompleted", finished)
        status.init_container_statuses = self._init_statuses(pod, started)
        terminated = V1ContainerStateTerminated(
            exit_code=0 if succeed else 1,
            reason="Completed" if succeed else "Error",
            started_at=started,
            finished_at=finished,
        )
        status.container_statuses = [
            self._container_status(pod, c, V1ContainerState(terminated=terminated), ready=False)
            for c in pod.spec.containers
        ]
        return status

    def _fail_unresolved(self, pod: V1Pod, problems: list[ReferenceProblem], deadline: float) -> None:
        now = _now()
        first = problems[0]
        message = "; ".join(p.message for p in problems)

        def build(current: V1Pod) -> V1PodStatus:
            status = self._base_status(current, "Failed", now)
            status.reason = first.reason
            status.message = message
            status.conditions = self._conditions(False, "ContainersNotReady", now)
            statuses = []
            for container in current.spec.containers:
                own = [p.message for p in problems if p.container in (None, container.name)] or [message]
                terminated = V1ContainerStateTerminated(
                    exit_code=CANNOT_RUN_EXIT_CODE, reason=first.reason, message="; ".join(own), finished_at=now
                )
                statuses.append(
                    self._container_status(current, container, V1ContainerState(terminated=terminated), ready=False)
                )
            status.container_statuses = statuses
            return status

        namespace, name = pod.metadata.namespace, pod.metadata.name
        phase = self._write_status(namespace, name, build, deadline)
        for problem in problems:
            self._warn_event(pod, problem, now)
        self._record(namespace, name, phase)

    def _warn_event(self, pod: V1Pod, problem: ReferenceProblem, now: datetime) -> None:
        """Record a Warning event like the kubelet's (best effort: events are informational)."""
        field_path = f"spec.containers{{{problem.container}}}" if problem.container else None
        reason = "Failed" if problem.reason in ("CreateContainerConfigError", "ErrImagePull") else problem.reason
        message = f"Error: {problem.message}" if reason == "Failed" else problem.message
        event = CoreV1Event(
            metadata=V1ObjectMeta(generate_name=f"{pod.metadata.name}."),
            involved_object=V1ObjectReference(
                api_version="v1",
                kind="Pod",
                namespace=pod.metadata.namespace,
                name=pod.metadata.name,
                uid=pod.metadata.uid,
                field_path=field_path,
            ),
            reason=reason,
            message=message,
            type="Warning",
            source=V1EventSource(component=COMPONENT),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        try:
            self.core.create_namespaced_event(pod.metadata.namespace, event)
        except ApiException as exc:
            log.debug("kubelet stand-in: could not record event: %s", exc)

    # ------------------------------------------------------------------ background serving

    def watch_and_run(self, namespace: str, *, succeed: bool = True) -> None:
        """Serve every Pending pod in ``namespace`` from a background thread until :meth:`stop`.

        Lets code that creates a pod and then blocks waiting for it (an operator's
        ``execute()``) complete. Pods already Pending when this starts are served too.
        """
        self._stop.clear()
        thread = threading.Thread(
            target=self._serve, args=(namespace, succeed), name=f"{COMPONENT}-{namespace}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _serve(self, namespace: str, succeed: bool) -> None:
        seen: set[str] = set()
        while not self._stop.is_set():
            try:
                pods = self.core.list_namespaced_pod(namespace)
                for pod in pods.items:
                    self._serve_one(pod, seen, succeed)
                # Short server-side timeouts bound how long stop() waits for this thread.
                stream = watch.Watch()
                for event in stream.stream(
                    self.core.list_namespaced_pod,
                    namespace,
                    resource_version=pods.metadata.resource_version,
                    timeout_seconds=1,
                    _request_timeout=10,
                ):
                    if self._stop.is_set():
                        stream.stop()
                        break
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._serve_one(event["object"], seen, succeed)
            except ApiException as exc:
                if exc.status != 410:  # 410 Gone: our resourceVersion expired; just relist
                    self._note_error(exc)
            except Exception as exc:  # keep serving; tests inspect self.errors
                self._note_error(exc)

    def _serve_one(self, pod: V1Pod, seen: set[str], succeed: bool) -> None:
        if pod.metadata.uid in seen or pod.metadata.deletion_timestamp is not None:
            return
        if pod.status is not None and pod.status.phase not in (None, "Pending"):
            return
        seen.add(pod.metadata.uid)
        try:
            self.run_pod(pod.metadata.namespace, pod.metadata.name, succeed=succeed)
        except ApiException as exc:
            if exc.status != 404:  # deleted while we were running it: nothing to report
                self._note_error(exc)

    def _note_error(self, exc: BaseException) -> None:
        if self._stop.is_set():
            return
        log.warning("kubelet stand-in: %r", exc)
        with self._lock:
            self.errors.append(exc)
        self._stop.wait(0.5)

    def stop(self, timeout: float = 15) -> None:
        """Stop every background thread started by :meth:`watch_and_run` and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self) -> KubeletStandIn:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
