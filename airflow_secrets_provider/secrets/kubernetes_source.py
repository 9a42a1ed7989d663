"""``{"kind": "kubernetes", "namespace": ..., "project" | "secret" | "label_selector": ...}``.

Reads keys of a project's Secret (``airflow-project-secrets-<project>``), of one named Secret,
or of every Secret matching a label selector (keys of the Secret whose name sorts first win
when two hold the same key). Keys are spelled like Airflow's environment variables,
``AIRFLOW_CONN_MY_DB`` / ``AIRFLOW_VAR_MY_KEY`` / ``AIRFLOW_CONFIG_MY_KEY`` (``prefix`` changes
the ``AIRFLOW_`` part): the same key then serves the backend and, through ``envFrom``, Airflow's
own environment lookup inside a pod that gets the project's secrets.

Authentication: in-cluster (service account) when ``KUBERNETES_SERVICE_HOST`` is set, else a
kube config (``kube_config`` / ``context``, default ``$KUBECONFIG`` or ``~/.kube/config``);
``in_cluster`` forces either. The API client is built on first lookup, once per configuration
per process, with the official ``kubernetes`` client.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_secrets_provider.exceptions import SecretConfigError, SecretsProviderError, drops_original_error
from airflow_secrets_provider.naming import project_secret_name
from airflow_secrets_provider.secrets.sources import (
    Naming,
    Source,
    check_options,
    parse_naming,
    require_str,
    spell_secret_key,
)

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

KIND = "kubernetes"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
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

    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

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
            hook = _hooks[key] = SecretsKubernetesHook(
                kubernetes_conn_id=None,
                config_file=kube_config,
                cluster_context=context,
                in_cluster=in_cluster,
                # Loaded into a configuration of its own, not the process-wide default (which
                # KubernetesHook's in-cluster branch needs, so it keeps it).
                client_configuration=None if in_cluster else client.Configuration(),
                request_timeout=request_timeout,
            )
        return hook


class KubernetesSource(Source):
    kind = KIND
    OPTIONS = frozenset(
        {
            "namespace",
            "project",
            "secret",
            "label_selector",
            "kube_config",
            "context",
            "in_cluster",
            "prefix",
            "request_timeout",
        }
    )

    def __init__(
        self,
        naming: Naming,
        label: str,
        *,
        namespace: str | None,
        secret: str | None = None,
        label_selector: str | None = None,
        hook_factory: Callable[[], SecretsKubernetesHook],
    ) -> None:
        if (secret is None) == (label_selector is None):
            raise SecretConfigError(label, "needs exactly one of project, secret or label_selector", provider=KIND)
        super().__init__(naming, label)
        self._namespace = namespace
        self.secret = secret
        self.label_selector = label_selector
        self._hook_factory = hook_factory

    @classmethod
    def from_config(cls, config: Mapping[str, Any], field: str) -> KubernetesSource:
        check_options(config, field, cls.OPTIONS)
        chosen = [key for key in ("project", "secret", "label_selector") if config.get(key) is not None]
        if len(chosen) != 1:
            raise SecretConfigError(field, "needs exactly one of project, secret or label_selector", provider=KIND)
        value = require_str(config, chosen[0], field)
        assert value is not None
        secret = project_secret_name(value) if chosen[0] == "project" else value if chosen[0] == "secret" else None
        selector = value if chosen[0] == "label_selector" else None
        prefix = config.get("prefix", "AIRFLOW_")
        if not isinstance(prefix, str):
            raise SecretConfigError(f"{field}.prefix", "must be a string", provider=KIND)
        defaults = {"connections": f"{prefix}CONN", "variables": f"{prefix}VAR", "config": f"{prefix}CONFIG"}
        kube_config = require_str(config, "kube_config", field, optional=True)
        context = require_str(config, "context", field, optional=True)
        in_cluster = config.get("in_cluster")
        if in_cluster is not None and not isinstance(in_cluster, bool):
            raise SecretConfigError(f"{field}.in_cluster", "must be true, false or null (auto)", provider=KIND)
        namespace = require_str(config, "namespace", field, optional=True)
        timeout = config.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)
        if isinstance(timeout, str):
            with contextlib.suppress(ValueError):
                timeout = float(timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise SecretConfigError(f"{field}.request_timeout", "must be a positive number of seconds", provider=KIND)
        what = f"Secret {secret!r}" if secret else f"Secrets labelled {selector!r}"
        return cls(
            parse_naming(config, field, defaults, "_", spell_secret_key),
            f"{field} (kubernetes, {what})",
            namespace=namespace,
            secret=secret,
            label_selector=selector,
            hook_factory=lambda: kube_hook(kube_config, context, in_cluster, float(timeout)),
        )

    @property
    @drops_original_error
    def namespace(self) -> str:
        if self._namespace:
            return self._namespace
        try:
            self._namespace = Path(SERVICE_ACCOUNT_NAMESPACE).read_text().strip()
        except OSError:
            raise SecretsProviderError(
                f"{KIND} source {self.label}: no namespace configured and none found at {SERVICE_ACCOUNT_NAMESPACE}"
            ) from None
        return self._namespace

    def read(self, kind: str, name: str) -> str | None:
        return self.data().get(name)

    def data(self) -> dict[str, str]:
        """Every key the source holds, decoded (one API call, retried if transient)."""
        from airflow_secrets_provider.hooks.kube_errors import KubernetesNotFoundError
        from airflow_secrets_provider.secret_data import decode_text

        hook = self._hook_factory()
        namespace = self.namespace
        try:
            if self.secret is not None:
                found = hook.read_secret(self.secret, namespace)
                return decode_text(found.data, f"Secret {self.secret!r}")
            assert self.label_selector is not None  # __init__ checked
            listed = hook.list_secrets(namespace, self.label_selector)
        except KubernetesNotFoundError:
            return {}
        merged: dict[str, str] = {}
        for item in sorted(listed.items, key=lambda s: s.metadata.name):
            for key, value in decode_text(item.data, f"Secret {item.metadata.name!r}").items():
                merged.setdefault(key, value)
        return merged
