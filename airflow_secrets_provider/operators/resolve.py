"""Resolve a task's secret requests once, on the worker, into one immutable :class:`ResolvedSecrets`.

``SecretTaskOperator.execute()`` calls :func:`resolve_requests` before KubernetesPodOperator
creates anything; the result travels to the pod spec inside a K8SModel
(:class:`~airflow_secrets_provider.operators.attach.SecretAttachment`) and to the per-task
Secret, and nothing else is kept: no attributes filled in one call and read in another, no
state shared between tries (each try resolves afresh).

What resolving means, in order:

1. every explicitly requested project key exists (MLRun fails the run the same way), and the
   project values the pod will get are registered with the masker (with ``get_logs=True`` the
   container's output reaches the task log);
2. ``azure_vault`` pod-mode requests: the ``k8s_secret`` holding the service principal exists
   with its three keys, and its client secret (which the pod gets) is registered with the
   masker, so a container that prints it shows ``***`` in the task log;
3. value requests (``inline``, ``env``, ``file``, ``azure_vault`` worker mode) are read, each
   value masked, and their keys merged into the per-task Secret's data (one env var, one source).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_secrets_provider.core.errors import SecretConfigError, SecretNotFoundError
from airflow_secrets_provider.core.model import ResolveContext, SecretRequest, ValueRequest
from airflow_secrets_provider.core.naming import project_secret_name
from airflow_secrets_provider.core.secret_data import MAX_SECRET_BYTES, decode_text, secret_size
from airflow_secrets_provider.core.values import SecretValues
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.errors import KubernetesAccessError, KubernetesNotFoundError
from airflow_secrets_provider.pod_spec.presets import Preset
from airflow_secrets_provider.providers.azure_vault import AzureVaultSecrets
from airflow_secrets_provider.providers.kubernetes import KubernetesSecrets

log = logging.getLogger(__name__)


class RequestKeys(Mapping[SecretRequest, tuple[str, ...]]):
    """Which keys each value request resolved to. Read-only, and (unlike ``MappingProxyType``)
    copyable and picklable, as Airflow may copy an operator that holds it."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[SecretRequest, tuple[str, ...]]] = ()) -> None:
        self._items: dict[SecretRequest, tuple[str, ...]] = dict(items)

    def __getitem__(self, request: SecretRequest) -> tuple[str, ...]:
        return self._items[request]

    def __iter__(self) -> Iterator[SecretRequest]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"RequestKeys({[(request.kind, keys) for request, keys in self._items.items()]!r})"


@dataclass(frozen=True)
class ResolvedSecrets:
    """What one ``execute()`` resolved. Immutable; ``repr`` shows key names only.

    :param namespace: where the pod runs, taken from the pod KubernetesPodOperator builds.
    :param keys: for each value request, the environment variable names it resolved to (the
        pod spec then lists them instead of using ``envFrom``).
    :param values: the per-task Secret's data (keys are environment variable names).
    :param presets: the presets whose selector matched the pod's labels (applied in this order).
    """

    namespace: str
    keys: RequestKeys = field(default_factory=RequestKeys)
    values: SecretValues = field(default_factory=SecretValues)
    presets: tuple[Preset, ...] = ()


def register_value(value: str) -> None:
    """Register one value with the task's log masker, whatever the key it came from is called."""
    from airflow.sdk.log import mask_secret

    mask_secret(value)  # whatever the key is called: Airflow only masks "sensitive" names


def check_project_keys(
    hook: SecretsKubernetesHook, namespace: str, project: str | None, requests: Sequence[SecretRequest]
) -> None:
    """Every explicitly requested project key must exist; the values the pod gets are masked.

    One read of the project's Secret serves both.
    """
    from airflow_secrets_provider.kube.projects import ProjectSecretsStore

    attached = [r for r in requests if isinstance(r, KubernetesSecrets)]
    if not attached or not project:
        return
    values = ProjectSecretsStore(hook, namespace).read_project(project)
    where = f"project {project!r} (Secret {project_secret_name(project)!r} in namespace {namespace!r})"
    for request in attached:
        if request.implicit:
            keys: Sequence[str] = list(values or {})
        elif values is None and not request.keys:
            raise SecretNotFoundError(KubernetesSecrets.kind, "*", where)
        else:
            keys = request.keys or list(values or {})
        for key in keys:
            if values is None or key not in values:
                raise SecretNotFoundError(KubernetesSecrets.kind, key, where)
            register_value(values[key])


def check_pod_mode_credentials(hook: SecretsKubernetesHook, namespace: str, requests: Sequence[SecretRequest]) -> None:
    """``azure_vault`` in pod mode: the pod reads its service principal from ``k8s_secret``.

    A missing Secret or key would leave the pod in ``CreateContainerConfigError`` until
    ``startup_timeout_seconds``; checked here instead, before anything is created. Only key
    names are looked at. A launcher without ``get`` on that Secret cannot check: it warns.
    """
    from airflow_secrets_provider.azure.vault import SERVICE_PRINCIPAL_KEYS

    for index, request in enumerate(requests):
        if not isinstance(request, AzureVaultSecrets) or request.resolve_in != "pod" or not request.k8s_secret:
            continue
        name, where = request.k8s_secret, f"secrets[{index}].k8s_secret"
        try:
            secret = hook.read_secret(name, namespace)
        except KubernetesNotFoundError:
            raise SecretConfigError(
                where, f"Secret {name!r} does not exist in namespace {namespace!r}", provider=request.kind
            ) from None
        except KubernetesAccessError:
            log.warning(
                "Cannot read Secret %s to check its keys %s (no get permission); the pod will not start "
                "if it lacks them, and its client secret is not masked in the task log",
                name,
                list(SERVICE_PRINCIPAL_KEYS),
            )
            continue
        missing = [key for key in SERVICE_PRINCIPAL_KEYS if key not in (secret.data or {})]
        if missing:
            raise SecretConfigError(
                where,
                f"Secret {name!r} has no key {missing[0]!r} (needs {list(SERVICE_PRINCIPAL_KEYS)})",
                provider=request.kind,
            )
        # The pod gets every key as an env var; only the client secret is a secret (the ids are not).
        client_secret = {"secret": secret.data["secret"]}
        where_secret = f"Secret {name!r} in namespace {namespace!r}"
        for value in decode_text(client_secret, where_secret, provider=request.kind).values():
            register_value(value)


def service_principal_loader(hook: SecretsKubernetesHook, namespace: str) -> Any:
    """Reads an ``azure_vault`` request's ``k8s_secret`` (``tenant_id``/``client_id``/``secret``)."""

    def load(secret_name: str, context: ResolveContext) -> Mapping[str, str]:
        where_ns = context.namespace or namespace
        secret = hook.read_secret(secret_name, where_ns)
        values = decode_text(
            secret.data, f"Secret {secret_name!r} in namespace {where_ns!r}", provider=AzureVaultSecrets.kind
        )
        for value in values.values():
            register_value(value)
        return values

    return load


def check_task_secret_size(values: Mapping[str, str]) -> None:
    """The per-task Secret must fit the API server's limit: checked before any pod is created.

    Otherwise the pod is created, the Secret refused (422) and the pod deleted again.
    """
    size = secret_size({key: value.encode("utf-8") for key, value in values.items()})
    if size > MAX_SECRET_BYTES:
        raise SecretConfigError(
            "secrets",
            f"the resolved values take {size} bytes, over the Kubernetes limit of {MAX_SECRET_BYTES} bytes "
            "(1 MiB) for the task's Secret; nothing was created",
        )


def resolve_values(requests: Sequence[SecretRequest], context: ResolveContext) -> ResolvedSecrets:
    """Read every value request; one env var comes from one request, or it is an error."""
    merged: dict[str, str] = {}
    owner: dict[str, int] = {}
    keys: dict[SecretRequest, tuple[str, ...]] = {}
    for index, request in enumerate(requests):
        if not isinstance(request, ValueRequest):
            continue
        values = request.resolve(context)
        for key, value in values.items():
            register_value(value)
            if key in merged:
                raise SecretConfigError(
                    f"secrets[{index}]",
                    f"environment variable {key!r} is also provided by secrets[{owner[key]}]",
                    provider=request.kind,
                )
            merged[key] = value
            owner[key] = index
        keys[request] = tuple(values)
    check_task_secret_size(merged)
    assert context.namespace is not None
    return ResolvedSecrets(context.namespace, RequestKeys(keys.items()), SecretValues(merged))


def resolve_requests(
    hook: SecretsKubernetesHook,
    namespace: str,
    project: str | None,
    requests: Sequence[SecretRequest],
    azure_vault_options: Mapping[str, Any],
    task_id: str | None = None,
) -> ResolvedSecrets:
    """Check and resolve ``requests`` for a pod in ``namespace``: see the module docstring."""
    check_project_keys(hook, namespace, project, requests)
    check_pod_mode_credentials(hook, namespace, requests)
    azure = None
    if any(isinstance(r, AzureVaultSecrets) and r.resolve_in == "worker" for r in requests):
        from airflow_secrets_provider.azure.vault import AzureVaultReader

        azure = AzureVaultReader.from_options(
            azure_vault_options, service_principal_loader=service_principal_loader(hook, namespace)
        )
    context = ResolveContext(
        environ=dict(os.environ), azure=azure, project=project, namespace=namespace, task_id=task_id
    )
    return resolve_values(requests, context)
