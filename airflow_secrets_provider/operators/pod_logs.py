"""A ``PodManager`` that does not lose the output of a container that exits at once.

Why this exists: KPO's log follower (``PodLogsConsumer``) only streams while the container's
status says *running*, or *terminated* less than two minutes ago. A container that starts and
exits between two status reads can be seen in neither state (the kubelet has not reported it
yet), so the follower streams nothing, KPO sees the container is no longer running and moves on:
the task succeeds and its log holds none of the container's output, silently. For jobs whose
only evidence is what they print, that gap matters.

When a followed container produced no line at all, this manager waits until the kubelet reports
the container completed and reads its log once more, without following. A container that really
printed nothing costs one extra log read.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.utils.pod_manager import PodLoggingStatus, PodManager
from kubernetes.client import models as k8s


class CompleteLogsPodManager(PodManager):
    """KPO's ``PodManager`` plus one non-following re-read when following showed nothing."""

    def fetch_container_logs(
        self,
        pod: k8s.V1Pod,
        container_name: str,
        *,
        follow: bool = False,
        since_time: Any = None,
        **options: Any,
    ) -> PodLoggingStatus:
        status = super().fetch_container_logs(pod, container_name, follow=follow, since_time=since_time, **options)
        if not follow or since_time is not None or status.running:
            return status
        if (pod.metadata.namespace, pod.metadata.name, container_name) in self.container_log_times:
            return status  # the follower saw output: nothing was lost
        self.await_container_completion(pod, container_name)
        self.log.info("Container %r: reading its complete log once it has finished", container_name)
        return super().fetch_container_logs(pod, container_name, follow=False, **options)
