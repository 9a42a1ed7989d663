"""``SecretTaskOperator``: a KubernetesPodOperator whose pod gets secrets by reference only.

Everything KubernetesPodOperator accepts passes through. On top of it the operator takes
``project`` and ``secrets`` (MLRun-style requests, Pachyderm-style dicts and native
``airflow.providers.cncf.kubernetes.secret.Secret`` objects), and the chainable
``with_secrets`` / ``set_env_from_secret`` / ``mount_secret``.

Where values live:

* The requests are kept in ``secret_requests``, which is *not* a template field, so Airflow
  never serializes them; the inline values inside them print as key lists only.
* The pod spec holds references (``secretKeyRef``, ``envFrom``, secret volumes). Values that
  live outside the cluster are written by the worker, at execute time, into a per-task Secret
  named after the pod (``<pod name>-secrets``).
* Names and keys may be Jinja templates; they are rendered with the other template fields and
  checked again before anything is created.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from kubernetes.client import models as k8s

from airflow_secrets_provider.exceptions import SecretConfigError, SecretNotFoundError, SecretsProviderError
from airflow_secrets_provider.hooks.task_secrets import task_secret_body
from airflow_secrets_provider.model import AttachTarget, ResolveContext, SecretRequest, ValueRequest
from airflow_secrets_provider.naming import project_secret_name, task_secret_name
from airflow_secrets_provider.pod import apply_pod_secrets, assemble
from airflow_secrets_provider.providers import with_secrets as make_request
from airflow_secrets_provider.providers.azure_vault import AzureVaultSecrets
from airflow_secrets_provider.providers.external import parse_pipeline_spec, secret_env, secret_mount
from airflow_secrets_provider.providers.kubernetes import KubernetesSecrets
from airflow_secrets_provider.validation import check_label_name, is_templated, normalize_mount_path
from airflow_secrets_provider.values import SecretValues

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk.definitions.context import Context

SecretLike = SecretRequest | Secret | Mapping[str, Any]
T = TypeVar("T")

PLACEHOLDER_POD_NAME = "pod"


def split_secrets(secrets: Sequence[SecretLike] | None) -> tuple[list[Secret], list[SecretRequest]]:
    """Separate KubernetesPodOperator's native ``Secret`` objects from this provider's requests."""
    native: list[Secret] = []
    requests: list[SecretRequest] = []
    if secrets is None:
        return native, requests
    if isinstance(secrets, (str, bytes, Mapping)) or not isinstance(secrets, Sequence):
        raise SecretConfigError("secrets", f"must be a list, got {type(secrets).__name__}")
    for index, item in enumerate(secrets):
        if isinstance(item, Secret):
            native.append(item)
        elif isinstance(item, SecretRequest):
            requests.append(item)
        elif isinstance(item, Mapping):
            requests.append(parse_pipeline_spec(item, f"secrets[{index}]"))
        else:
            raise SecretConfigError(
                f"secrets[{index}]",
                f"expected with_secrets(...), a secret dict or a kubernetes Secret, got {type(item).__name__}",
            )
    return native, requests


class _AttachRequests:
    """Handed to KubernetesPodOperator as one more "secret" so that the requests are attached at
    the point where KPO attaches its own secrets: after the pod is named, before the XCom sidecar
    and the cluster policy (``pod_mutation_hook``) see the pod."""

    def __init__(self, operator: SecretTaskOperator) -> None:
        self.operator = operator

    def attach_to_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        target = self.operator.attach_target(pod.metadata.name)
        pod_secrets = assemble(self.operator.effective_requests(), target)
        if self.operator.do_xcom_push:
            # KPO adds its XCom volume after this point; a secret there would collide with it.
            xcom_dir = normalize_mount_path(PodDefaults.XCOM_MOUNT_PATH)
            for mount in pod_secrets.volume_mounts:
                if normalize_mount_path(mount.mount_path) == xcom_dir:
                    raise SecretConfigError(
                        "secrets", f"mount path {mount.mount_path!r} is where do_xcom_push mounts its XCom volume"
                    )
        return apply_pod_secrets(pod, pod_secrets, self.operator.base_container_name)


class SecretTaskOperator(KubernetesPodOperator):
    """Run a pod whose secrets come from the provider's secret model, by reference only.

    :param project: the project whose Kubernetes Secret (``airflow-project-secrets-<project>``)
        ``with_secrets("kubernetes", ...)`` reads. A task with a project and no kubernetes
        request gets every key of the project (if the project has a Secret at all), as in MLRun;
        pass ``attach_project_secrets=False`` to opt out.
    :param azure_vault_options: how the worker reaches Key Vault for ``azure_vault`` requests in
        worker mode: the flat options of
        :func:`~airflow_secrets_provider.hooks.azure_vault.reader_settings_from_options`
        (``connection_verify``, ``authority``, ``retry_total``, ``credential`` ...). Requests that
        name a ``k8s_secret`` authenticate with the service principal stored there; others use
        ``DefaultAzureCredential`` unless these options say otherwise. Do not put a client
        secret here: operator arguments live in the DAG file.
    :param secrets: requests from :func:`~airflow_secrets_provider.with_secrets`, Pachyderm-style
        dicts (``{"name", "envVar", "key"}``, ``{"name", "mount_path"}``) and native
        ``Secret`` objects, in any mix.
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "project")

    def __init__(
        self,
        *,
        project: str | None = None,
        secrets: Sequence[SecretLike] | None = None,
        attach_project_secrets: bool = True,
        azure_vault_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        native, requests = split_secrets(secrets)
        super().__init__(secrets=native, **kwargs)
        if project is not None:
            check_label_name(project, "project")
        self.project = project
        self.attach_project_secrets = attach_project_secrets
        self.azure_vault_options = dict(azure_vault_options or {})
        self.secret_requests: list[SecretRequest] = []
        self.resolved_keys: dict[int, tuple[str, ...]] = {}
        self._task_secret_values = SecretValues()  # filled by prepare_secrets() on the worker
        self._created_task_secret: str | None = None  # the per-task Secret this instance created
        for request in requests:
            self._add_request(request)

    # -- building the request list ----------------------------------------------------------

    def _add_request(self, request: SecretRequest) -> SecretTaskOperator:
        candidate = [*self.secret_requests, request]
        self._check_requests(candidate)
        self.secret_requests = candidate
        return self

    def with_secrets(self, kind: str, source: object) -> SecretTaskOperator:
        """Add a request, as :func:`~airflow_secrets_provider.with_secrets` builds it. Chainable."""
        return self._add_request(make_request(kind, source))

    def set_env_from_secret(self, env_name: str, secret: str, secret_key: str) -> SecretTaskOperator:
        """Expose key ``secret_key`` of the existing Secret ``secret`` as ``env_name``. Chainable."""
        return self._add_request(secret_env(env_name, secret, secret_key))

    def mount_secret(
        self, secret: str, mount_path: str, items: Mapping[str, str] | Sequence[str] | None = None
    ) -> SecretTaskOperator:
        """Mount the existing Secret ``secret`` read-only at ``mount_path``. Chainable.

        ``items`` selects keys: ``{"key": "file name"}`` or a list of keys (files named after
        them); omitted, every key becomes a file.
        """
        return self._add_request(secret_mount(secret, mount_path, items))

    # -- what the pod gets ----------------------------------------------------------------

    def effective_requests(self) -> list[SecretRequest]:
        """The requests plus the implicit "all project keys" one (MLRun's default)."""
        requests = list(self.secret_requests)
        wants_project = self.project and self.attach_project_secrets
        if wants_project and not any(isinstance(r, KubernetesSecrets) for r in requests):
            requests.append(KubernetesSecrets(implicit=True))
        return requests

    def attach_target(self, pod_name: str) -> AttachTarget:
        project = self.project
        return AttachTarget(
            task_secret=task_secret_name(pod_name),
            project_secret=project_secret_name(project) if project else None,
            resolved_keys=dict(self.resolved_keys),
        )

    def _check_requests(self, requests: Sequence[SecretRequest]) -> None:
        """Validate names and find conflicting references now rather than when the pod is built."""
        for request in requests:
            request.validate()
        saved, self.secret_requests = self.secret_requests, list(requests)
        try:
            assemble(self.effective_requests(), self.attach_target(PLACEHOLDER_POD_NAME))
        finally:
            self.secret_requests = saved

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Any,
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        # Rendering goes through here for plain and mapped tasks alike (see KPO's own override).
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is not self:
            return
        if self.project is not None and not is_templated(self.project):
            check_label_name(self.project, "project")

        def render(value: Any) -> Any:
            return self.render_template(value, context, jinja_env)

        rendered = [request.render(render) for request in self.secret_requests]
        self._check_requests(rendered)
        self.secret_requests = rendered

    def build_pod_request_obj(self, context: Context | None = None, *, dry_run: bool = False) -> k8s.V1Pod:
        """KubernetesPodOperator's pod plus this task's secret references. Pure with ``dry_run``.

        KPO appends its runtime-info env vars to ``self.env_vars`` on every call; the original
        is restored so that building twice gives the same spec.
        """
        saved_env_vars = copy.copy(self.env_vars)
        saved_secrets = self.secrets
        self.secrets = [*saved_secrets, _AttachRequests(self)]  # type: ignore[list-item]  # duck-typed like Secret
        try:
            return super().build_pod_request_obj(context, dry_run=dry_run)
        finally:
            self.secrets = saved_secrets
            self.env_vars = saved_env_vars

    # -- execute time (worker) -----------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Check and resolve every secret before KubernetesPodOperator creates anything.

        A missing project key, a missing env var or file, a malformed secrets file or an
        unreachable vault fails here, before any pod or Secret exists.
        """
        self.prepare_secrets()
        try:
            return super().execute(context)
        except Exception as exc:
            from airflow_secrets_provider.operators.pod_start import reference_error_in

            reference_error = reference_error_in(exc)
            if reference_error is None or reference_error is exc:
                raise
            raise reference_error from None  # KPO's cleanup error hid the one that says why

    def await_pod_start(self, pod: k8s.V1Pod) -> None:
        """KPO's start-up wait, ended at once if the kubelet reports a missing Secret or key."""
        from airflow_secrets_provider.operators.pod_start import failing_fast_on_missing_secrets

        own = task_secret_name(pod.metadata.name) if self._task_secret_values else None
        with failing_fast_on_missing_secrets(self.pod_manager, own, frozenset(self._task_secret_values)):
            super().await_pod_start(pod)

    def _namespace(self) -> str:
        return self.namespace or self.hook.get_namespace() or "default"

    def _kube(self, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Every Kubernetes call this operator makes itself goes through the retry policy."""
        from airflow_secrets_provider.hooks.kube_retry import call_with_retries

        return call_with_retries(what, call, *args, **kwargs)

    def _resolve_context(self, namespace: str) -> ResolveContext:
        azure = None
        if any(isinstance(r, AzureVaultSecrets) and r.resolve_in == "worker" for r in self.secret_requests):
            from airflow_secrets_provider.hooks.azure_vault import AzureVaultReader

            azure = AzureVaultReader.from_options(
                self.azure_vault_options, service_principal_loader=self._load_service_principal
            )
        return ResolveContext(environ=dict(os.environ), azure=azure, project=self.project, namespace=namespace)

    def _load_service_principal(self, secret_name: str, context: ResolveContext) -> Mapping[str, str]:
        """The ``tenant_id``/``client_id``/``secret`` an ``azure_vault`` request's ``k8s_secret`` holds."""
        import base64

        from airflow.sdk.log import mask_secret

        namespace = context.namespace or self._namespace()
        secret = self._kube(
            f"read secret {namespace}/{secret_name}", self.client.read_namespaced_secret, secret_name, namespace
        )
        values = {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}
        for value in values.values():
            mask_secret(value)
        return values

    def prepare_secrets(self) -> SecretValues:
        """Verify project keys and resolve value requests; register every value with the masker.

        Keeps (and returns) the values for the per-task Secret (keys are env var names) and
        records which keys each request resolved to, so the pod spec lists them explicitly.
        """
        from airflow.sdk.log import mask_secret

        namespace = self._namespace()
        requests = self.effective_requests()
        self._check_and_mask_project_keys(requests, namespace)
        self._check_pod_mode_credentials(requests, namespace)
        merged: dict[str, str] = {}
        owner: dict[str, int] = {}
        resolved_keys: dict[int, tuple[str, ...]] = {}
        context = self._resolve_context(namespace)
        for index, request in enumerate(requests):
            if not isinstance(request, ValueRequest):
                continue
            values = request.resolve(context)
            for key, value in values.items():
                mask_secret(value)  # whatever the key is called: Airflow only masks "sensitive" names
                if key in merged:
                    raise SecretConfigError(
                        f"secrets[{index}]",
                        f"environment variable {key!r} is also provided by secrets[{owner[key]}]",
                        provider=request.kind,
                    )
                merged[key] = value
                owner[key] = index
            resolved_keys[index] = tuple(values)
        self.resolved_keys = resolved_keys
        # Re-check with the resolved keys: a file key may clash with another request's env var.
        assemble(requests, self.attach_target(PLACEHOLDER_POD_NAME))
        self._task_secret_values = SecretValues(merged)
        return self._task_secret_values

    def _check_and_mask_project_keys(self, requests: Sequence[SecretRequest], namespace: str) -> None:
        """Every explicitly requested project key must exist (MLRun fails the run the same way).

        The values the pod will get from the project's Secret are registered with the masker
        too: with ``get_logs=True`` the container's output is copied into the task log, and a
        program that prints its ``DB_PASSWORD`` must show ``***`` there. One read of the
        project's Secret serves both.
        """
        from airflow.sdk.log import mask_secret

        from airflow_secrets_provider.projects import ProjectSecretsStore

        attached = [r for r in requests if isinstance(r, KubernetesSecrets)]
        if not attached or not self.project:
            return
        values = ProjectSecretsStore(self.client, namespace).read_project(self.project)
        where = f"project {self.project!r} (Secret {project_secret_name(self.project)!r} in namespace {namespace!r})"
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
                mask_secret(values[key])

    def _check_pod_mode_credentials(self, requests: Sequence[SecretRequest], namespace: str) -> None:
        """``azure_vault`` in pod mode: the pod reads its service principal from ``k8s_secret``.

        A missing Secret or key would leave the pod in ``CreateContainerConfigError`` until
        ``startup_timeout_seconds``; checked here instead, before anything is created. Only key
        names are looked at. A launcher without ``get`` on that Secret cannot check: it warns.
        """
        from airflow_secrets_provider.hooks.azure_vault import SERVICE_PRINCIPAL_KEYS
        from airflow_secrets_provider.hooks.kube_retry import KubernetesAccessError, KubernetesNotFoundError

        for index, request in enumerate(requests):
            if not isinstance(request, AzureVaultSecrets) or request.resolve_in != "pod" or not request.k8s_secret:
                continue
            name, field = request.k8s_secret, f"secrets[{index}].k8s_secret"
            try:
                secret = self._kube(
                    f"read secret {namespace}/{name}", self.client.read_namespaced_secret, name, namespace
                )
            except KubernetesNotFoundError:
                raise SecretConfigError(
                    field, f"Secret {name!r} does not exist in namespace {namespace!r}", provider=request.kind
                ) from None
            except KubernetesAccessError:
                self.log.warning(
                    "Cannot read Secret %s to check its keys %s (no get permission); the pod will not start "
                    "if it lacks them",
                    name,
                    list(SERVICE_PRINCIPAL_KEYS),
                )
                continue
            missing = [key for key in SERVICE_PRINCIPAL_KEYS if key not in (secret.data or {})]
            if missing:
                raise SecretConfigError(
                    field,
                    f"Secret {name!r} has no key {missing[0]!r} (needs {list(SERVICE_PRINCIPAL_KEYS)})",
                    provider=request.kind,
                )

    def _has_task_secret(self) -> bool:
        return any(isinstance(r, ValueRequest) for r in self.secret_requests)

    def get_or_create_pod(self, pod_request_obj: k8s.V1Pod, context: Context) -> k8s.V1Pod:
        """Create the pod, then its per-task Secret owned by it (see hooks.task_secrets).

        A pod this try created gets a fresh Secret; if that fails the pod is deleted again, so a
        retry never reattaches to a pod that can never start. A pod reattached from an earlier
        try gets its Secret back if it is missing (a try may have died between the two creates).
        """
        pod = super().get_or_create_pod(pod_request_obj, context)
        values = self._task_secret_values
        if not values:
            return pod
        name, namespace = pod.metadata.name, pod.metadata.namespace
        if pod is not pod_request_obj:
            self._ensure_task_secret(pod, values)
            return pod
        try:
            created = self._kube(f"read pod {namespace}/{name}", self.client.read_namespaced_pod, name, namespace)
            self._create_task_secret(created, values, replace_existing=True)
        except BaseException:
            self._delete_unstartable_pod(name, namespace)
            raise
        return pod

    def _create_task_secret(self, pod: k8s.V1Pod, values: SecretValues, *, replace_existing: bool) -> bool:
        """Create ``pod``'s Secret; on 409 replace it (``replace_existing``) or keep it. True if created."""
        from airflow_secrets_provider.hooks.kube_retry import KubernetesConflictError

        body = task_secret_body(pod, values, labels=pod.metadata.labels)
        name, namespace = body.metadata.name, body.metadata.namespace
        create = self.client.create_namespaced_secret
        try:
            self._kube(f"create secret {namespace}/{name}", create, namespace, body)
        except KubernetesConflictError:
            if not replace_existing:
                return False
            # A Secret of this name exists: left by an earlier pod of the same name (a fixed pod
            # name, random_name_suffix=False) that the garbage collector has not reached yet, or
            # made by a retried create of ours whose response was lost. Neither can be trusted to
            # be this pod's (it is immutable and may be owned by the old pod), so replace it.
            self._delete_secret(name, namespace)
            self._kube(f"create secret {namespace}/{name}", create, namespace, body)
        self._created_task_secret = name
        self.log.info("Created per-task Secret %s with keys %s", name, sorted(values))
        return True

    def _ensure_task_secret(self, pod: k8s.V1Pod, values: SecretValues) -> None:
        if self._create_task_secret(pod, values, replace_existing=False):
            self.log.info("Reattached pod %s had lost its per-task Secret; created it again", pod.metadata.name)

    def _delete_unstartable_pod(self, name: str, namespace: str) -> None:
        """Best effort: the Secret could not be created, so the pod would wait for it forever."""
        try:
            self._kube(
                f"delete pod {namespace}/{name}",
                self.client.delete_namespaced_pod,
                name,
                namespace,
                grace_period_seconds=0,
            )
            self.log.info("Deleted pod %s: its per-task Secret could not be created", name)
        except Exception as err:  # the original error matters more; this one is logged
            self.log.warning("Could not delete pod %s after its Secret failed: %s", name, type(err).__name__)

    def _delete_secret(self, name: str, namespace: str) -> None:
        from airflow_secrets_provider.hooks.kube_retry import KubernetesNotFoundError

        try:
            self._kube(f"delete secret {namespace}/{name}", self.client.delete_namespaced_secret, name, namespace)
            self.log.info("Deleted per-task Secret %s", name)
        except KubernetesNotFoundError:
            pass  # already collected with its pod

    def _delete_task_secret(self, pod: k8s.V1Pod | None) -> None:
        """Delete ``pod``'s per-task Secret, if the task has one and ``pod`` is known to own it.

        Decided from the requests, not from values held in memory: after a deferral the
        operator finishing the task is a new instance that never resolved anything. Only a
        Secret this instance created, or one belonging to a pod read from the API server (it
        has a UID), is deleted; a pod that was never created (its name may be another task's,
        with a fixed pod name) is not a reason to delete anything. A failed delete is logged,
        not raised: it must not replace the task's own outcome, and the garbage collector
        removes the Secret with its pod anyway.
        """
        if pod is None or pod.metadata is None or not self._has_task_secret():
            return
        name, namespace = task_secret_name(pod.metadata.name), pod.metadata.namespace
        if name != self._created_task_secret and not pod.metadata.uid:
            return
        try:
            self._delete_secret(name, namespace)
        except Exception as err:
            self.log.warning(
                "Could not delete per-task Secret %s (the garbage collector removes it with its pod): %s",
                name,
                err if isinstance(err, SecretsProviderError) else type(err).__name__,
            )

    def _keeps_pod_after_kill(self) -> bool:
        """``on_kill_action="keep_pod"``: the pod stays for the next try to reattach, with its Secret."""
        from airflow.providers.cncf.kubernetes.utils.pod_manager import OnKillAction

        return self._killed and self.on_kill_action == OnKillAction.KEEP_POD

    def trigger_reentry(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after a deferral, in a new process whose masker knows no values yet.

        The pod's logs are fetched from here on, so the values are resolved again, only to be
        registered with the masker. Failing to do so must not fail a pod that already ran; it
        is logged (names only).
        """
        if self._has_task_secret() or self.project:
            try:
                self.prepare_secrets()
            except Exception as err:
                self.log.warning(
                    "Could not re-register secret values with the log masker after resuming: %s",
                    err if isinstance(err, SecretsProviderError) else type(err).__name__,
                )
        return super().trigger_reentry(context, event)

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict | None = None,
        context: Context | None = None,
    ) -> None:
        try:
            super().cleanup(pod=pod, remote_pod=remote_pod, xcom_result=xcom_result, context=context)
        finally:
            if not self._keeps_pod_after_kill():
                self._delete_task_secret(pod or self.pod)

    def on_kill(self) -> None:
        try:
            super().on_kill()
        finally:
            if not self._keeps_pod_after_kill():
                self._delete_task_secret(self.pod or self.pod_request_obj)
