"""The audit log: every change made through this package is a Kubernetes Event on the Secret.

Why Events: they live next to the object they describe (``kubectl describe secret`` shows them),
need no extra storage or CRD, and the API server stamps who created them in its own audit log.
Each Event says what was done (``reason``), by whom (``actor``), when, to which project or
Secret and which keys, in its message and, for machines, in labels and annotations. Never a value:
records are built from key names only.

Events expire: the API server keeps them for ``--event-ttl`` (1 hour by default), so this is a
recent-changes log for operators, not long-term evidence; the API server's audit log (if
enabled) is the durable record.

Recording happens after the change succeeded. A change that succeeded but could not be
recorded (no ``create`` permission on Events, a server error) is not undone: the failure is
logged at WARNING and reported to the caller through :attr:`AuditRecorder.failures`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from kubernetes.client import CoreV1Event, V1EventSource, V1ObjectMeta, V1ObjectReference

from airflow_secrets_provider.core.errors import SecretsProviderError
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

log = logging.getLogger(__name__)

AUDIT_COMPONENT = "airflow-secrets"
AUDIT_LABEL = "airflow-secrets-provider/audit"
ACTOR_ANNOTATION = "airflow-secrets-provider/actor"
KEYS_ANNOTATION = "airflow-secrets-provider/keys"
ACTION_ANNOTATION = "airflow-secrets-provider/action"
TIME_ANNOTATION = "airflow-secrets-provider/time"
"""Microsecond time of the change: an Event's own timestamps have whole seconds, too coarse to order
changes made in the same second."""
ACTOR_ENV = "AIRFLOW_SECRETS_ACTOR"

# action -> (Event reason, past-tense verb for the message)
ACTIONS: dict[str, tuple[str, str]] = {
    "set": ("SecretKeysSet", "set keys"),
    "unset": ("SecretKeysUnset", "unset keys"),
    "delete-project": ("ProjectSecretsDeleted", "deleted the project's Secret with keys"),
    "create": ("SecretCreated", "created the Secret with keys"),
    "delete": ("SecretDeleted", "deleted the Secret with keys"),
    "preset-apply": ("PresetApplied", "applied preset"),
    "preset-delete": ("PresetDeleted", "deleted preset"),
}


def default_actor() -> str:
    """Who is making changes: ``$AIRFLOW_SECRETS_ACTOR``, else ``<OS user>@<host>``.

    Kubernetes 1.20 has no "who am I" API, so the package cannot learn the authenticated
    identity; the API server's own audit log records it for every request.
    """
    explicit = os.environ.get(ACTOR_ENV, "").strip()
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid-{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class AuditRecord:
    """One recorded change, as ``airflow-secrets history`` shows it. Names only."""

    time: str
    action: str
    actor: str
    secret: str
    namespace: str
    project: str | None = None
    keys: tuple[str, ...] = ()
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["keys"] = list(self.keys)
        return data


@dataclass
class AuditRecorder:
    """Writes audit Events through ``hook``; ``enabled=False`` records nothing (tests, dry runs)."""

    hook: SecretsKubernetesHook
    actor: str = field(default_factory=default_actor)
    enabled: bool = True
    failures: list[str] = field(default_factory=list)

    def record(
        self,
        action: str,
        *,
        namespace: str,
        secret: str,
        keys: Sequence[str],
        project: str | None = None,
        uid: str | None = None,
        kind: str = "Secret",
    ) -> None:
        """Record ``action`` on ``secret``; a failure is logged and kept in :attr:`failures`."""
        if not self.enabled:
            return
        body = event_body(
            action, actor=self.actor, namespace=namespace, secret=secret, keys=keys, project=project, uid=uid, kind=kind
        )
        try:
            self.hook.create_event(body, namespace)
        except SecretsProviderError as err:
            # The change itself succeeded; undoing it because the log could not be written
            # would be worse. The message names the call and status, never a body.
            problem = f"the change was made but its audit Event could not be recorded: {err}"
            log.warning("%s", problem)
            self.failures.append(problem)


def event_body(
    action: str,
    *,
    actor: str,
    namespace: str,
    secret: str,
    keys: Sequence[str],
    project: str | None,
    uid: str | None,
    kind: str = "Secret",
) -> CoreV1Event:
    """The Event for one change (pure; exposed for tests)."""
    reason, verb = ACTIONS[action]
    now = dt.datetime.now(dt.UTC)
    keys = sorted(keys)
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, AUDIT_LABEL: "true"}
    if project:
        labels[PROJECT_LABEL] = project
    where = f"project {project!r}" if project else f"{kind} {secret!r}"
    subject = f"{verb} {', '.join(keys)}" if keys else verb.removesuffix(" with keys").removesuffix(" keys")
    if action.startswith("preset-"):
        subject, where = f"{verb} {secret!r}", f"ConfigMap {secret!r}"
    return CoreV1Event(
        metadata=V1ObjectMeta(
            generate_name=f"{secret[:200]}.",
            namespace=namespace,
            labels=labels,
            annotations={
                ACTOR_ANNOTATION: actor,
                KEYS_ANNOTATION: json.dumps(keys),
                ACTION_ANNOTATION: action,
                TIME_ANNOTATION: _iso(now),
            },
        ),
        involved_object=V1ObjectReference(api_version="v1", kind=kind, name=secret, namespace=namespace, uid=uid),
        reason=reason,
        message=f"{actor} {subject} ({where})"[:1024],
        type="Normal",
        count=1,
        first_timestamp=now,
        last_timestamp=now,
        source=V1EventSource(component=AUDIT_COMPONENT, host=socket.gethostname()),
        reporting_component=AUDIT_COMPONENT,
        reporting_instance=socket.gethostname(),
    )


def history(
    hook: SecretsKubernetesHook,
    namespace: str,
    *,
    project: str | None = None,
    secret: str | None = None,
    kind: str = "Secret",
) -> list[AuditRecord]:
    """The recorded changes of a project (or of one object: a Secret, a preset's ConfigMap), oldest first."""
    selector = [f"{AUDIT_LABEL}=true"]
    if project:
        selector.append(f"{PROJECT_LABEL}={project}")
    # A Secret name may be longer than a label value can be: it is matched by field instead.
    fields = f"involvedObject.kind={kind},involvedObject.name={secret}" if secret else ""
    events = hook.list_events(namespace, ",".join(selector), fields).items
    records = [_record(event) for event in events]
    return sorted(records, key=lambda record: record.time)


def _record(event: CoreV1Event) -> AuditRecord:
    annotations = event.metadata.annotations or {}
    labels = event.metadata.labels or {}
    try:
        keys = tuple(str(key) for key in json.loads(annotations.get(KEYS_ANNOTATION, "[]")))
    except (ValueError, TypeError):
        keys = ()
    when = event.first_timestamp or event.event_time or event.metadata.creation_timestamp
    return AuditRecord(
        time=annotations.get(TIME_ANNOTATION) or (_iso(when) if when else ""),
        action=annotations.get(ACTION_ANNOTATION, event.reason or ""),
        actor=annotations.get(ACTOR_ANNOTATION, ""),
        secret=event.involved_object.name or "",
        namespace=event.metadata.namespace or "",
        project=labels.get(PROJECT_LABEL),
        keys=keys,
        message=event.message or "",
    )


def _iso(when: dt.datetime) -> str:
    """UTC, microseconds, ``Z``: sorts as text in time order."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
