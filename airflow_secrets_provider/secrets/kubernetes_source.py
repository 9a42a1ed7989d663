"""``{"kind": "kubernetes", "namespace": ..., "project" | "secret" | "label_selector": ...}``.

Reads keys of a project's Secret (``airflow-project-secrets-<project>``), of one named Secret,
or of every Secret matching a label selector (keys of the Secret whose name sorts first win
when two hold the same key). Keys are spelled like Airflow's environment variables,
``AIRFLOW_CONN_MY_DB`` / ``AIRFLOW_VAR_MY_KEY`` / ``AIRFLOW_CONFIG_MY_KEY`` (``prefix`` changes
the ``AIRFLOW_`` part): the same key then serves the backend and, through ``envFrom``, Airflow's
own environment lookup inside a pod that gets the project's secrets.

Namespace: ``namespace`` when given. Otherwise, for a ``project`` source under the
namespace-per-project layout (Airflow's ``[secrets_provider] project_namespace`` set, see
:mod:`airflow_secrets_provider.kube.layout`), the project's namespace, derived by the very function
the operator and the CLI use, so all three read the project's Secret in the same place.
Otherwise (shared-namespace layout, or a ``secret`` / ``label_selector`` source) the pod's own
namespace, from its service account. Like the client, the namespace is settled on first lookup:
Airflow builds backends while it loads its configuration, in every process.

Authentication: in-cluster (service account) when ``KUBERNETES_SERVICE_HOST`` is set, else a
kube config (``kube_config`` / ``context``, default ``$KUBECONFIG`` or ``~/.kube/config``);
``in_cluster`` forces either. The client is cncf.kubernetes' (``SecretsKubernetesHook``, with a
request timeout), built on first lookup, once per configuration per process; reads follow the
package's retry policy.

One read serves every id: the Secret's (or the selected Secrets') data is kept for the
backend's ``cache_ttl_seconds`` (a missing Secret for ``negative_cache_ttl_seconds``), so K ids
held in one Secret cost one GET per TTL, not K. Concurrent lookups share the read in flight.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import AfterValidator, StrictBool, model_validator
from typing_extensions import Unpack

from airflow_secrets_provider.core.errors import SecretsProviderError, drops_original_error
from airflow_secrets_provider.core.naming import project_secret_name
from airflow_secrets_provider.core.typed_options import Finite, NonEmptyStr, validated
from airflow_secrets_provider.core.validation import check_label_name, check_secret_name, literal_names
from airflow_secrets_provider.kube.layout import (
    CONFIG_SECTION,
    NAMESPACE_OPTION,
    configured_namespace_template,
    task_namespace,
)
from airflow_secrets_provider.secrets.cache import LoadResult, LookupCache
from airflow_secrets_provider.secrets.sources import (
    NamingModel,
    NamingOptions,
    Source,
    kind_prefixes,
    spell_secret_key,
)

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

KIND = "kubernetes"
DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds a request may take before it fails (and is retried): a lookup never hangs."""

_hooks_lock = threading.Lock()
_hooks: dict[tuple[Any, ...], SecretsKubernetesHook] = {}


def kube_hook(
    kube_config: str | None, context: str | None, in_cluster: bool | None, request_timeout: float
) -> SecretsKubernetesHook:
    """A hook shared by every source with the same connection settings in this process.

    Built on cncf.kubernetes' ``KubernetesHook`` with no Airflow connection (the backend must
    not look a connection up through itself): its client has a request timeout, and every read
    goes through the package's retry policy.
    """
    from kubernetes import client

    from airflow_secrets_provider.kube.client import kube_hook

    if in_cluster is None:
        in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ and kube_config is None
    if not in_cluster and kube_config is None:
        # KubernetesHook with no file would try in-cluster first; "not in-cluster" means the
        # kube config the official client reads by default ($KUBECONFIG, else ~/.kube/config).
        kube_config = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config"))
    key = (os.getpid(), kube_config, context, in_cluster, request_timeout)
    with _hooks_lock:
        hook = _hooks.get(key)
        if hook is None:
            hook = _hooks[key] = kube_hook(
                use_connection=False,
                config_file=kube_config,
                cluster_context=context,
                in_cluster=in_cluster,
                # Loaded into a configuration of its own, not the process-wide default (which
                # KubernetesHook's in-cluster branch needs, so it keeps it).
                client_configuration=None if in_cluster else client.Configuration(),
                request_timeout=request_timeout,
            )
        return hook


def source_namespace(project: str | None, namespace: str | None, template: str | None) -> str | None:
    """The namespace a source's configuration decides; ``None`` leaves it to the pod's own.

    ``namespace`` (given explicitly) wins. Else a ``project`` source under the namespace-per-project
    layout (``template`` is ``[secrets_provider] project_namespace``; ``None``: shared layout)
    reads the project's namespace, derived exactly as the operator and the CLI derive it (a
    task naming no namespace). A template that renders an invalid namespace is an error naming
    the option; Jinja markup is no namespace here (nothing renders a backend's configuration).
    """
    if namespace:
        return namespace
    if project is None or template is None:
        return None
    return task_namespace(project, template, None)  # the template is checked as literal there


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be a positive, finite number of seconds")
    return value


class KubernetesSourceOptions(NamingModel):
    """The model of a ``kubernetes`` source's options (see :class:`KubernetesSource`)."""

    project: NonEmptyStr | None = None
    secret: NonEmptyStr | None = None
    label_selector: NonEmptyStr | None = None
    namespace: NonEmptyStr | None = None
    prefix: str = "AIRFLOW_"
    kube_config: NonEmptyStr | None = None
    context: NonEmptyStr | None = None
    in_cluster: StrictBool | None = None
    request_timeout: Annotated[Finite, AfterValidator(_positive)] = DEFAULT_REQUEST_TIMEOUT

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if sum(value is not None for value in (self.project, self.secret, self.label_selector)) != 1:
            raise ValueError("needs exactly one of project, secret or label_selector")
        return self


class KubernetesSource(Source):
    """Keys of one Kubernetes Secret, or of every Secret matching a label selector.

    Exactly one of ``project``, ``secret`` and ``label_selector``.

    :param project: read the project's Secret, ``airflow-project-secrets-<project>``.
    :param secret: read the Secret of this name.
    :param label_selector: read every Secret matching it (the name that sorts first wins a key).
    :param namespace: the Secrets' namespace; by default, for ``project`` under the
        namespace-per-project layout, the project's namespace, else the pod's own (in-cluster).
    :param prefix: what every key starts with (``AIRFLOW_``): ``<prefix>CONN_<ID>`` ...
    :param kube_config: a kube config file; by default ``$KUBECONFIG`` or ``~/.kube/config``.
    :param context: the kube config context; by default its current one.
    :param in_cluster: use the pod's service account; by default when ``KUBERNETES_SERVICE_HOST``
        is set and no ``kube_config`` is given.
    :param request_timeout: seconds a request may take before it fails (and is retried).
    :param field: where this configuration came from, for error messages (``sources[0]``).
    :param naming: :class:`~airflow_secrets_provider.secrets.sources.NamingOptions`.
    """

    kind = KIND
    options_model = KubernetesSourceOptions

    def __init__(
        self,
        *,
        project: str | None = None,
        secret: str | None = None,
        label_selector: str | None = None,
        namespace: str | None = None,
        prefix: str = "AIRFLOW_",
        kube_config: str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        request_timeout: float | str = DEFAULT_REQUEST_TIMEOUT,
        field: str = "source",
        **naming: Unpack[NamingOptions],
    ) -> None:
        options = validated(
            KubernetesSourceOptions,
            {
                "project": project,
                "secret": secret,
                "label_selector": label_selector,
                "namespace": namespace,
                "prefix": prefix,
                "kube_config": kube_config,
                "context": context,
                "in_cluster": in_cluster,
                "request_timeout": request_timeout,
                **naming,
            },
            field,
            provider=KIND,
        )
        project, secret, namespace = options.project, options.secret, options.namespace
        # Checked now, as a task's names are: an invalid one would only fail at the first lookup.
        with literal_names():
            if project is not None:
                check_label_name(project, f"{field}.project", KIND)
            elif secret is not None:
                check_secret_name(secret, f"{field}.secret", KIND)
            if namespace is not None:
                check_label_name(namespace, f"{field}.namespace", KIND)
        self.secret = project_secret_name(project) if project is not None else secret
        self.label_selector = options.label_selector
        self.request_timeout = options.request_timeout
        self.kube_config, self.context, self.in_cluster = options.kube_config, options.context, options.in_cluster
        self._namespace = namespace
        self._project = project
        what = f"Secret {self.secret!r}" if self.secret else f"Secrets labelled {self.label_selector!r}"
        naming_of = options.naming(kind_prefixes(options.prefix), spell_secret_key)
        super().__init__(naming_of, f"{field} (kubernetes, {what})")
        self._reads: LookupCache[str, dict[str, str]] = LookupCache(0, 0)  # off until a backend sets TTLs

    def use_cache_ttl(self, ttl: float, negative_ttl: float) -> None:
        self._reads = LookupCache(ttl, negative_ttl, max_entries=1)

    @cached_property
    def hook(self) -> SecretsKubernetesHook:
        """Built on first lookup; shared with every source of the same settings in this process."""
        return kube_hook(self.kube_config, self.context, self.in_cluster, self.request_timeout)

    @property
    @drops_original_error
    def namespace(self) -> str:
        """Where the Secrets are read (see :func:`source_namespace`); settled on first use, kept.

        Not at construction: the layout is Airflow configuration, and Airflow builds backends
        while it is still loading that configuration.
        """
        if self._namespace:
            return self._namespace
        if self._project is not None:
            try:
                template = configured_namespace_template()
            except ImportError:
                # Airflow resolves a ``*_secret`` option while ``airflow.configuration`` is still
                # importing: the layout is unknown yet, and guessing could read the wrong namespace.
                raise SecretsProviderError(
                    f"{KIND} source {self.label}: the layout ([{CONFIG_SECTION}] {NAMESPACE_OPTION}) cannot be "
                    "read while Airflow is loading its configuration; give this source a namespace"
                ) from None
            derived = source_namespace(self._project, None, template)
            if derived is not None:
                self._namespace = derived
                return derived
        from airflow_secrets_provider.kube.in_cluster import in_cluster_namespace, pod_namespace_file

        found = in_cluster_namespace()
        if found is None:
            raise SecretsProviderError(
                f"{KIND} source {self.label}: no namespace configured and none found at {pod_namespace_file()}"
            )
        self._namespace = found
        return self._namespace

    def read(self, kind: str, name: str) -> str | None:
        return (self._reads.get("data", self._load) or {}).get(name)

    def _load(self) -> LoadResult[dict[str, str]]:
        found = self._read()
        return LoadResult(found)  # a missing Secret (None) is kept for the negative TTL

    def data(self) -> dict[str, str]:
        """Every key the source holds, decoded (one API call, retried if transient); uncached."""
        return self._read() or {}

    def _read(self) -> dict[str, str] | None:
        """Every key the source holds, decoded; ``None`` when the Secret does not exist."""
        from airflow_secrets_provider.core.secret_data import decode_text
        from airflow_secrets_provider.kube.errors import KubernetesNotFoundError

        hook = self.hook
        namespace = self.namespace
        try:
            if self.secret is not None:
                found = hook.read_secret(self.secret, namespace)
                return decode_text(found.data, f"Secret {self.secret!r}")
            assert self.label_selector is not None  # __init__ checked
            listed = hook.list_secrets(namespace, self.label_selector)
        except KubernetesNotFoundError:
            return None
        merged: dict[str, str] = {}
        for item in sorted(listed.items, key=lambda s: s.metadata.name):
            for key, value in decode_text(item.data, f"Secret {item.metadata.name!r}").items():
                merged.setdefault(key, value)
        return merged
