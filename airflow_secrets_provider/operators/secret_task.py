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
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

from airflow_secrets_provider.core.errors import SecretConfigError, SecretNotFoundError, SecretsProviderError
from airflow_secrets_provider.core.model import AttachTarget, SecretRequest, ValueRequest
from airflow_secrets_provider.core.naming import project_secret_name, task_secret_name
from airflow_secrets_provider.core.validation import check_label_name, literal_names
from airflow_secrets_provider.core.values import SecretValues
from airflow_secrets_provider.kube.errors import KubernetesAccessError
from airflow_secrets_provider.operators.attach import PLACEHOLDER_POD_NAME, SecretAttachment, merge_checked
from airflow_secrets_provider.operators.attach import attachment as build_attachment
from airflow_secrets_provider.operators.errors import without_retries
from airflow_secrets_provider.operators.external_masking import check_mask_mode
from airflow_secrets_provider.operators.options import check_operator_options
from airflow_secrets_provider.operators.pod_start import SecretTaskPodManager
from airflow_secrets_provider.pod_spec.assembly import AttachmentMerge, collect_attachments
from airflow_secrets_provider.providers import with_secrets as make_request
from airflow_secrets_provider.providers.external import (
    SecretEnv,
    parse_pipeline_spec,
    plain_env_entry,
    secret_env,
    secret_mount,
)
from airflow_secrets_provider.providers.kubernetes import KubernetesSecrets

if TYPE_CHECKING:  # resolve and presets are worker-side: not imported while a DAG is parsed
    import jinja2
    from airflow.sdk.definitions.context import Context

    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
    from airflow_secrets_provider.kube.retry import RetryPolicy
    from airflow_secrets_provider.operators.resolve import ResolvedSecrets
    from airflow_secrets_provider.pod_spec.presets import Preset

SecretLike = SecretRequest | Secret | Mapping[str, Any]


FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
"""Pod phases in which the API server deletes a pod at once (no grace period for its kubelet)."""

_PARSED_SPECS: dict[tuple[object, ...], SecretRequest] = {}
MAX_PARSED_SPECS = 4096


def _parse_spec(entry: Mapping[str, Any], index: int) -> SecretRequest:
    """``parse_pipeline_spec``, remembered per distinct entry for the rest of the process.

    DAG files build many tasks in loops with the same secret dicts; requests are immutable and
    already checked, so one parse serves them all. Entries with unhashable values (``items``
    lists) and entries that fail are not remembered (an error names its own index).
    """
    try:
        # The types too: ``True`` and ``1`` are equal keys, but only one is a valid ``optional``.
        key = (*entry.items(), *map(type, entry.values()))
        found = _PARSED_SPECS.get(key)
    except TypeError:
        return parse_pipeline_spec(entry, f"secrets[{index}]")
    if found is None:
        found = parse_pipeline_spec(entry, f"secrets[{index}]")
        if len(_PARSED_SPECS) >= MAX_PARSED_SPECS:
            _PARSED_SPECS.clear()
        _PARSED_SPECS[key] = found
    return found


def split_secrets(secrets: Sequence[SecretLike] | None) -> tuple[list[Secret], list[SecretRequest]]:
    """Separate KubernetesPodOperator's native ``Secret`` objects from this provider's requests."""
    native: list[Secret] = []
    requests: list[SecretRequest] = []
    if secrets is None:
        return native, requests
    if isinstance(secrets, (str, bytes, Mapping)) or not isinstance(secrets, Sequence):
        raise SecretConfigError("secrets", f"must be a list, got {type(secrets).__name__}")
    for index, item in enumerate(secrets):
        if type(item) is dict:  # the commonest: tested first, without the ABC checks below
            # A plain env entry is checked faster than it is looked up in the memo.
            requests.append(plain_env_entry(item) or _parse_spec(item, index))
        elif isinstance(item, Secret):
            native.append(item)
        elif isinstance(item, SecretRequest):
            requests.append(item)
        elif isinstance(item, Mapping):
            requests.append(_parse_spec(item, index))
        else:
            raise SecretConfigError(
                f"secrets[{index}]",
                f"expected with_secrets(...), a secret dict or a kubernetes Secret, got {type(item).__name__}",
            )
    return native, requests


class _ParseMerge:
    """The operator's merged references at parse time and what they were merged for."""

    __slots__ = ("count", "merge", "project", "requests", "target")

    target: AttachTarget  # target and merge: set with requests (see _merged_so_far)
    merge: AttachmentMerge

    def __init__(self) -> None:
        self.requests: list[SecretRequest] | None = None
        self.count = 0
        self.project: str | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> _ParseMerge:
        return _ParseMerge()  # rebuilt on demand: it only caches what secret_requests holds


class SecretTaskOperator(KubernetesPodOperator):
    """Run a pod whose secrets come from the provider's secret model, by reference only.

    :param project: the project whose Kubernetes Secret (``airflow-project-secrets-<project>``)
        ``with_secrets("kubernetes", ...)`` reads. A task with a project and no kubernetes
        request gets every key of the project (if the project has a Secret at all), as in MLRun;
        pass ``attach_project_secrets=False`` to opt out.
    :param azure_vault_options: how the worker reaches Key Vault for ``azure_vault`` requests in
        worker mode: the flat options of
        :func:`~airflow_secrets_provider.azure.vault.reader_settings_from_options`
        (``connection_verify``, ``authority``, ``retry_total``, ``credential`` ...). Requests that
        name a ``k8s_secret`` authenticate with the service principal stored there; others use
        ``DefaultAzureCredential`` unless these options say otherwise. Do not put a client
        secret here: operator arguments live in the DAG file.
    :param apply_presets: apply, at execute time, every preset (Kubeflow PodDefault-style, see
        :mod:`airflow_secrets_provider.pod_spec.presets`) whose selector matches the pod's labels.
    :param mask_external_secrets: read, at execute time, the externally managed Secrets the pod
        references and register their values with the masker (see
        :mod:`~airflow_secrets_provider.operators.external_masking`). ``"auto"``: a Secret the
        launcher may not read is skipped with a warning; ``True``: that fails the task;
        ``False``: never read. ``None``: Airflow's ``[secrets_provider] mask_external_secrets``
        (default ``"auto"``).
    :param secrets: requests from :func:`~airflow_secrets_provider.with_secrets`, Pachyderm-style
        dicts (``{"name", "envVar", "key"}``, ``{"name", "mount_path"}``) and native
        ``Secret`` objects, in any mix.
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "project")

    secret_requests: list[SecretRequest]
    resolved: ResolvedSecrets | None
    _created_task_secret: str | None
    _merge: _ParseMerge

    def __init__(
        self,
        *,
        project: str | None = None,
        secrets: Sequence[SecretLike] | None = None,
        attach_project_secrets: bool = True,
        azure_vault_options: Mapping[str, Any] | None = None,
        apply_presets: bool = True,
        mask_external_secrets: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        native, requests = split_secrets(secrets)
        super().__init__(secrets=native, **kwargs)
        if project is not None:
            check_label_name(project, "project")
        check_operator_options(attach_project_secrets, apply_presets, azure_vault_options)
        check_mask_mode(mask_external_secrets)
        self.project = project
        self.attach_project_secrets = attach_project_secrets
        self.azure_vault_options = dict(azure_vault_options or {})
        self.apply_presets = apply_presets
        self.mask_external_secrets = mask_external_secrets
        # Internal state, neither an argument nor a template field: set past BaseOperator's
        # __setattr__ (which would only look for a converter and an argument of that name).
        internal = object.__setattr__
        internal(self, "secret_requests", [])
        internal(self, "resolved", None)  # set once by prepare_secrets() on the worker
        internal(self, "_created_task_secret", None)  # the per-task Secret this instance created
        internal(self, "_merge", _ParseMerge())  # see _merged_so_far
        if requests and not self._add_distinct_env_requests(requests):
            self._add_requests(requests)
            # The merge state only speeds up adding; a parsed DAG keeps thousands of tasks, so it
            # is dropped here (the next with_secrets() rebuilds it once, from secret_requests).
            internal(self, "_merge", _ParseMerge())

    # -- building the request list ----------------------------------------------------------

    def _merged_so_far(self) -> _ParseMerge:  # the state's requests are secret_requests on return
        """The merged references of ``secret_requests``, kept between additions.

        Adding a request then costs that request's references only, so constructing a task is
        linear in its references, and no kubernetes model is made while a DAG is parsed (the
        models are built once, when the pod is built). Rebuilt if ``secret_requests`` or
        ``project`` were replaced since (rendering does both).
        """
        state = self._merge
        requests, project = self.secret_requests, self.project
        if state.requests is not requests or state.count != len(requests) or state.project != project:
            state.requests, state.count, state.project = requests, len(requests), project
            state.target = AttachTarget(
                task_secret_name(PLACEHOLDER_POD_NAME), project_secret_name(project) if project else None
            )
            # Without the implicit project request: it is an optional envFrom, which merges with
            # anything; effective_requests() adds it where the pod is built and checked again.
            state.merge = merge_checked(collect_attachments(requests, state.target), xcom=False)
        return state

    def _add_distinct_env_requests(self, requests: list[SecretRequest]) -> bool:
        """Take ``requests`` as they are if they are all env references from externally managed
        Secrets, each to a different variable (the commonest task): such requests cannot
        conflict (a conflict is two sources for one variable), so there is nothing to merge.
        False (nothing taken) otherwise; the caller then merges them one by one."""
        if any(type(request) is not SecretEnv for request in requests):
            return False
        if len({request.env_name for request in requests}) != len(requests):  # type: ignore[attr-defined]
            return False
        for request in requests:
            request.validate()  # already done by the parser: remembered, so this is a lookup
        self.secret_requests.extend(requests)
        return True

    def _add_request(self, request: SecretRequest) -> SecretTaskOperator:
        return self._add_requests((request,))

    def _add_requests(self, requests: Iterable[SecretRequest]) -> SecretTaskOperator:
        """Check and merge each request in turn (the state looked up once for all of them)."""
        state = self._merged_so_far()
        merge, target, kept = state.merge, state.target, self.secret_requests
        for request in requests:
            request.validate()
            try:
                # The XCom mount path is checked where the pod is built (do_xcom_push may change).
                for item in request.attachments(target, state.count):
                    merge.add(item)
            except BaseException:
                state.requests = None  # partly merged: rebuilt from the kept requests next time
                raise
            kept.append(request)  # the list the state was merged for
            state.count += 1
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

    def effective_requests(self, requests: Sequence[SecretRequest] | None = None) -> list[SecretRequest]:
        """The requests (``secret_requests`` by default) plus the implicit "all project keys" one."""
        requests = list(self.secret_requests if requests is None else requests)
        wants_project = self.project and self.attach_project_secrets
        if wants_project and not any(isinstance(r, KubernetesSecrets) for r in requests):
            requests.append(KubernetesSecrets(implicit=True))
        return requests

    def attachment(self, requests: Sequence[SecretRequest] | None = None) -> SecretAttachment:
        """The K8SModel KPO attaches: these requests, and what ``execute()`` resolved for them."""
        project = self.project
        return build_attachment(
            self.effective_requests(requests),
            project_secret_name(project) if project else None,
            self.base_container_name,
            xcom=bool(self.do_xcom_push),
            resolved=self.resolved,
        )

    def attach_target(self, pod_name: str) -> AttachTarget:
        return self.attachment().target(pod_name)

    def _check_requests(self, requests: Sequence[SecretRequest]) -> None:
        """Validate names and find conflicting references now rather than when the pod is built."""
        for request in requests:
            request.validate()
        self.attachment(requests).merged(PLACEHOLDER_POD_NAME)

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

        def render(value: Any) -> Any:
            return self.render_template(value, context, jinja_env)

        rendered = self._render_requests(render)
        # Rendered names must be literal: one still holding '{{' or '{%' is an error, not left
        # for the API server (whose 422, and KPO's log of the pod, would show the text).
        with literal_names(rendered=True):
            if self.project is not None:
                check_label_name(self.project, "project")
            self._check_requests(rendered)
        self.secret_requests = rendered

    def _render_requests(self, render: Any) -> list[SecretRequest]:
        """Each request rendered; one whose template cannot render is a :class:`SecretConfigError`.

        Jinja's ``UndefinedError`` (``{{ params.env.nope }}``) would name neither the request nor
        the task; its message (a name, or text of the template) is not passed on.
        """
        import jinja2

        rendered: list[SecretRequest] = []
        for index, request in enumerate(self.secret_requests):
            failed: str | None = None
            try:
                rendered.append(request.render(render))
            except jinja2.TemplateError as err:
                failed = "an undefined variable or attribute" if isinstance(err, jinja2.UndefinedError) else "an error"
            if failed is not None:  # raised outside the except block: nothing chained
                fields = ", ".join(request.template_fields)
                raise SecretConfigError(
                    f"secret_requests[{index}]",
                    f"a template in this {request.kind} request ({fields}) of task {self.task_id!r} cannot be "
                    f"rendered: {failed}",
                )
        return rendered

    def build_pod_request_obj(self, context: Context | None = None, *, dry_run: bool = False) -> k8s.V1Pod:
        """KubernetesPodOperator's pod plus this task's secret references. Pure with ``dry_run``.

        KPO attaches the K8SModels in ``self.secrets`` at the right point of its build, so the
        :class:`SecretAttachment` is handed to it for this one build: ``self.secrets`` itself
        keeps only the user's native ``Secret`` objects (what users and KPO's own code expect
        to find there). KPO also appends its runtime-info env vars to ``self.env_vars`` on
        every build; the original is restored so that building twice gives the same spec.
        """
        native, saved_env_vars = self.secrets, copy.copy(self.env_vars)
        self.secrets = [*native, self.attachment()]  # type: ignore[list-item]  # a K8SModel, like Secret
        try:
            return super().build_pod_request_obj(context, dry_run=dry_run)
        finally:
            self.secrets = native
            self.env_vars = saved_env_vars

    # -- execute time (worker) -----------------------------------------------------------

    @cached_property
    def pod_manager(self) -> SecretTaskPodManager:
        """KPO's pod manager, minus the silent loss of a fast container's output (pod_logs.py),
        plus the Secret reference check and the create's answer (pod_start.py)."""
        return SecretTaskPodManager(kube_client=self.client, callbacks=self.callbacks)

    @cached_property
    def hook(self) -> SecretsKubernetesHook:  # type: ignore[override]
        """KPO's hook, with this package's Secret calls and retry policy (one client for both)."""
        return self.kubernetes_hook()

    def kubernetes_hook(self, retry_policy: RetryPolicy | None = None) -> SecretsKubernetesHook:
        """A new hook on this task's cluster connection (the cleanup listener's has a shorter policy)."""
        from airflow_secrets_provider.kube.client import kube_hook
        from airflow_secrets_provider.kube.retry import DEFAULT_POLICY

        return kube_hook(
            conn_id=self.kubernetes_conn_id,
            in_cluster=self.in_cluster,
            config_file=self.config_file,
            cluster_context=self.cluster_context,
            retry_policy=retry_policy or DEFAULT_POLICY,
        )

    def execute(self, context: Context) -> Any:
        """Check and resolve every secret before KubernetesPodOperator creates anything.

        A missing project key, a missing env var or file, a malformed secrets file or an
        unreachable vault fails here, before any pod or Secret exists. Configuration errors
        fail the task without retries (see :mod:`~airflow_secrets_provider.operators.errors`); transient ones stay retryable.
        """
        failure: SecretsProviderError | None = None
        try:
            self.prepare_secrets(context)
        except (SecretConfigError, SecretNotFoundError, KubernetesAccessError) as err:
            failure = without_retries(err)
        if failure is not None:
            raise failure  # outside the except block: nothing chained
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
        values = self.resolved.values if self.resolved is not None else {}
        own = task_secret_name(pod.metadata.name) if values else None
        with self.pod_manager.failing_fast_on_missing_secrets(own, frozenset(values)):
            super().await_pod_start(pod)

    def prepare_secrets(self, context: Context | None = None) -> SecretValues:
        """Check and resolve every request once; the result is :attr:`resolved` (immutable).

        Returns the per-task Secret's values (keys are env var names). Every value read is
        registered with the masker; see :mod:`airflow_secrets_provider.operators.resolve`.
        """
        requests = self.effective_requests()
        planned = self._planned_pod(context)  # its labels select the presets
        namespace = str(planned.metadata.namespace)
        from airflow_secrets_provider.operators.resolve import resolve_requests

        resolved = resolve_requests(
            self.hook, namespace, self.project, requests, self.azure_vault_options, task_id=self.task_id
        )
        if self.apply_presets:
            resolved = dataclasses.replace(resolved, presets=self._matching_presets(namespace, planned))
        # Re-check with the resolved keys and presets: a file key may clash with another
        # request's env var, a preset with anything. Building the pod merges every field.
        self.resolved = resolved
        try:
            final = self.build_pod_request_obj(context, dry_run=True)
            self._mask_external_secrets(namespace, final)
        except BaseException:
            self.resolved = None
            raise
        return resolved.values

    def _planned_pod(self, context: Context | None) -> k8s.V1Pod:
        """The pod KPO will create, built without an API call (and without any value).

        Its namespace is KPO's own choice (the operator's, the connection's, a pod template's,
        the service account's namespace in a pod, ``default``), after the namespace-per-project
        layout has put a project's task in its project's namespace (see layout.py).
        """
        if self.project:
            from airflow_secrets_provider.kube.layout import configured_task_namespace

            self.namespace = configured_task_namespace(self.project, self.namespace) or self.namespace
        return self.build_pod_request_obj(context, dry_run=True)

    def pod_namespace(self) -> str:
        """The namespace of this task's pods and per-task Secrets, decided without an API call.

        For the cleanup listener in a worker: after a ``__fail__`` resume (trigger timeout) no
        pod object is at hand, only the task (see :mod:`airflow_secrets_provider.cleanup.listener`).
        """
        return str(self._planned_pod(None).metadata.namespace)

    def _mask_mode(self) -> bool | str:
        """``mask_external_secrets``, or Airflow's config when it is None (default ``"auto"``)."""
        from airflow_secrets_provider.operators import external_masking

        wanted = self.mask_external_secrets
        return external_masking.configured_mask_external_secrets() if wanted is None else wanted

    def _mask_external_secrets(self, namespace: str, pod: k8s.V1Pod) -> None:
        """Mask the values of the externally managed Secrets ``pod`` references (unless off)."""
        from airflow_secrets_provider.operators import external_masking

        wanted = self._mask_mode()
        if wanted is False:
            return
        own = {task_secret_name(pod.metadata.name), *([project_secret_name(self.project)] if self.project else [])}
        masked = external_masking.mask_referenced_secrets(self.hook, namespace, pod, own, strict=wanted is True)
        if masked:
            self.log.info("Registered the values of Secrets %s with the log masker", masked)

    def _matching_presets(self, namespace: str, planned: k8s.V1Pod) -> tuple[Preset, ...]:
        """The presets (cluster ConfigMaps and the configured file) matching the pod's labels."""
        from airflow_secrets_provider.kube.errors import KubernetesAccessError
        from airflow_secrets_provider.pod_spec.presets import (
            all_presets,
            applied_names,
            cluster_presets_enabled,
            configured_presets_file,
            matching,
        )

        hook: SecretsKubernetesHook | None = self.hook if cluster_presets_enabled() else None
        try:
            found = all_presets(hook, namespace, configured_presets_file())
        except KubernetesAccessError:
            self.log.warning(
                "Cannot list preset ConfigMaps in namespace %s (no permission); using file presets", namespace
            )
            found = all_presets(None, namespace, configured_presets_file())
        chosen = matching(found, planned.metadata.labels or {})
        if chosen:
            self.log.info("Applying presets %s", applied_names(chosen))
        return chosen

    def _has_task_secret(self) -> bool:
        return any(isinstance(r, ValueRequest) for r in self.secret_requests)

    def get_or_create_pod(self, pod_request_obj: k8s.V1Pod, context: Context) -> k8s.V1Pod:
        """Create the pod, then its per-task Secret owned by it (see hooks.task_secrets).

        A pod this try created gets a fresh Secret; if that fails the Secret (whose create may
        have been applied) and the pod are deleted again, so a retry never reattaches to a pod
        that can never start; if the pod's own create fails in a way that may have been applied,
        a pod of that name carrying this launch's id is deleted. What cannot be deleted is named
        in the task's error (see :mod:`.launch_rollback`). A pod reattached from an earlier try
        gets its Secret back if it is missing (a try may have died between the two creates).
        """
        resolved = self.resolved
        if resolved is not None and pod_request_obj.metadata.namespace != resolved.namespace:
            raise SecretConfigError(
                "namespace",
                f"the pod is for namespace {pod_request_obj.metadata.namespace!r} but its secrets were "
                f"checked in {resolved.namespace!r}",
            )
        from airflow_secrets_provider.kube.errors import KubeTarget

        try:
            with self.pod_manager.capturing_created_pods() as answers:
                pod = self._create_or_adopt(pod_request_obj, context)
        except Exception as error:
            from airflow_secrets_provider.operators.launch_rollback import may_have_been_applied

            if may_have_been_applied(error):
                self._give_up_launch(pod_request_obj, error, secret=False, uid=None)
            raise
        values = resolved.values if resolved is not None else SecretValues()
        if not values:
            return pod
        name, namespace = pod.metadata.name, pod.metadata.namespace
        if pod is not pod_request_obj:
            self._ensure_task_secret(pod, values)
            return pod
        created: k8s.V1Pod | None = None
        try:
            # The API server's answer to the create carries the pod's UID (for ownerReferences);
            # KPO returns the request instead, so reading the pod again would cost a request.
            created = answers[-1] if answers and answers[-1].metadata and answers[-1].metadata.uid else None
            if created is None:
                created = self.hook.translate(
                    lambda: self.pod_manager.read_pod(pod), "read", KubeTarget("Pod", name, namespace)
                )
            self._create_task_secret(created, values, replace_existing=True)
        except BaseException as error:
            uid = created.metadata.uid if created is not None and created.metadata else None
            self._give_up_launch(pod, error, secret=True, uid=uid)
            raise
        return pod

    def _create_or_adopt(self, pod_request_obj: k8s.V1Pod, context: Context) -> k8s.V1Pod:
        """KPO's get-or-create, with the cleanup's marks and a lost create's pod adopted (see :mod:`.launch`)."""
        from airflow_secrets_provider.kube.errors import KubeTarget
        from airflow_secrets_provider.operators.launch import created_by_this_launch, is_lost_create, mark_launch

        launch_id = mark_launch(pod_request_obj, self.on_finish_action)
        try:
            return super().get_or_create_pod(pod_request_obj, context)
        except Exception as exc:
            if not is_lost_create(exc):
                raise
            name, namespace = pod_request_obj.metadata.name, pod_request_obj.metadata.namespace
            existing = self.hook.translate(
                lambda: self.pod_manager.read_pod(pod_request_obj), "read", KubeTarget("Pod", name, namespace)
            )
            if not created_by_this_launch(existing, launch_id):
                raise
            self.log.info("Pod %s was created but the response was lost; adopting it", name)
            return pod_request_obj

    def _create_task_secret(self, pod: k8s.V1Pod, values: SecretValues, *, replace_existing: bool) -> bool:
        """Create ``pod``'s Secret (see :func:`~airflow_secrets_provider.kube.task_secrets.create_task_secret`)."""
        from airflow_secrets_provider.kube.task_secrets import create_task_secret

        if not create_task_secret(self.hook, pod, values, replace_existing=replace_existing):
            return False
        self._created_task_secret = task_secret_name(pod.metadata.name)
        self.log.info("Created per-task Secret %s with keys %s", self._created_task_secret, sorted(values))
        return True

    def _ensure_task_secret(self, pod: k8s.V1Pod, values: SecretValues) -> None:
        if self._create_task_secret(pod, values, replace_existing=False):
            self.log.info("Reattached pod %s had lost its per-task Secret; created it again", pod.metadata.name)

    def _give_up_launch(self, pod: k8s.V1Pod, error: BaseException, *, secret: bool, uid: str | None) -> None:
        """Remove what this launch may have created before its error fails the task.

        ``secret``: the per-task Secret's create was attempted (and may have been applied).
        Without the pod's ``uid`` the pod is deleted only if it carries this launch's id. Raises
        :class:`~.launch_rollback.LaunchLeftoversError` (from ``error``) naming what is left.
        """
        from airflow_secrets_provider.cleanup.rules import LAUNCH_ANNOTATION
        from airflow_secrets_provider.operators.launch_rollback import (
            GIVE_UP_POLICY,
            LaunchLeftoversError,
            LaunchObjects,
            describe_error,
            remove_launch,
        )

        meta = pod.metadata
        objects = LaunchObjects(
            namespace=meta.namespace,
            pod=meta.name,
            pod_uid=uid,
            launch_id=None if uid else (meta.annotations or {}).get(LAUNCH_ANNOTATION),
            secret=task_secret_name(meta.name) if secret else None,
        )
        try:
            left = remove_launch(self.kubernetes_hook(GIVE_UP_POLICY), objects)
        except Exception as err:  # the hook itself could not be built: the original error stands
            self.log.warning("Could not remove what the launch created: %s", describe_error(err))
            return
        if left and isinstance(error, Exception):
            raise LaunchLeftoversError(left, meta.namespace, describe_error(error)) from error

    def _delete_secret(self, name: str, namespace: str) -> None:
        from airflow_secrets_provider.kube.task_secrets import delete_secret

        if delete_secret(self.hook, name, namespace):
            self.log.info("Deleted per-task Secret %s", name)

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
        if self._has_task_secret() or self.project or self._may_mask_external_secrets():
            try:
                self.prepare_secrets(context)
            except Exception as err:
                self.log.warning(
                    "Could not re-register secret values with the log masker after resuming: %s",
                    err if isinstance(err, SecretsProviderError) else type(err).__name__,
                )
        return super().trigger_reentry(context, event)

    def _may_mask_external_secrets(self) -> bool:
        """Whether the pod may reference external Secrets whose values the masker should learn."""
        try:
            masking = self._mask_mode() is not False
        except SecretConfigError:
            return False
        return masking and bool(self.secret_requests or self.secrets)

    def process_pod_deletion(self, pod: k8s.V1Pod, *, reraise: bool = True) -> bool:
        """KPO's pod deletion, noting whether it deleted a finished pod (see :meth:`cleanup`)."""
        internal = object.__setattr__
        internal(self, "_deleted_finished_pod", None)
        deleted = super().process_pod_deletion(pod, reraise=reraise)
        phase = pod.status.phase if deleted and pod is not None and pod.status is not None else None
        if phase in FINISHED_PHASES:
            internal(self, "_deleted_finished_pod", pod.metadata.name)
        return deleted

    def _secret_goes_with_pod(self, pod: k8s.V1Pod | None) -> bool:
        """Whether the garbage collector removes ``pod``'s per-task Secret right away.

        True when KPO has just deleted the finished pod this instance created the Secret for:
        the API server removes a Succeeded or Failed pod at once (no grace period), and the
        Secret's ownerReference to it makes the garbage collector delete the Secret seconds
        later, so an explicit DELETE would be one more request per launch for nothing. A pod
        still running or pending (killed, failed to start) waits for its kubelet, and a Secret
        this instance did not create may have no ownerReference: those are deleted explicitly.
        """
        deleted = getattr(self, "_deleted_finished_pod", None)
        return (
            deleted is not None
            and pod is not None
            and pod.metadata is not None
            and pod.metadata.name == deleted
            and self._created_task_secret == task_secret_name(deleted)
        )

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict | None = None,
        context: Context | None = None,
    ) -> None:
        object.__setattr__(self, "_deleted_finished_pod", None)
        try:
            super().cleanup(pod=pod, remote_pod=remote_pod, xcom_result=xcom_result, context=context)
        finally:
            target = pod or self.pod
            if not self._keeps_pod_after_kill() and not self._secret_goes_with_pod(target):
                self._delete_task_secret(target)
            elif self._secret_goes_with_pod(target):
                self.log.info(
                    "Per-task Secret %s goes with its deleted pod (ownerReference, garbage collector)",
                    self._created_task_secret,
                )

    def on_kill(self) -> None:
        try:
            super().on_kill()
        finally:
            if not self._keeps_pod_after_kill():
                self._delete_task_secret(self.pod or self.pod_request_obj)
