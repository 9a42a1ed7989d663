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

import base64
import binascii
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow_secrets_provider.exceptions import (
    SecretAccessError,
    SecretConfigError,
    SecretsProviderError,
    drops_original_error,
)
from airflow_secrets_provider.naming import project_secret_name
from airflow_secrets_provider.secrets.sources import (
    Naming,
    Source,
    check_options,
    parse_naming,
    require_str,
    spell_secret_key,
)

KIND = "kubernetes"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

_clients_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}


def core_v1_api(kube_config: str | None, context: str | None, in_cluster: bool | None) -> Any:
    """A ``CoreV1Api`` shared by every source with the same connection settings in this process."""
    if in_cluster is None:
        in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ and kube_config is None
    key = (os.getpid(), kube_config, context, in_cluster)
    with _clients_lock:
        api = _clients.get(key)
        if api is None:
            from kubernetes import client, config

            if in_cluster:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                api_client = client.ApiClient(configuration)
            else:
                api_client = config.new_client_from_config(config_file=kube_config, context=context)
            api = _clients[key] = client.CoreV1Api(api_client)
        return api


@drops_original_error
def _decode(data: Mapping[str, str] | None, secret: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, encoded in (data or {}).items():
        try:
            out[key] = base64.b64decode(encoded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SecretsProviderError(f"{KIND} source: key {key!r} of Secret {secret!r} is not UTF-8 text") from None
    return out


class KubernetesSource(Source):
    kind = KIND
    OPTIONS = frozenset(
        {"namespace", "project", "secret", "label_selector", "kube_config", "context", "in_cluster", "prefix"}
    )

    def __init__(
        self,
        naming: Naming,
        label: str,
        *,
        namespace: str | None,
        secret: str | None = None,
        label_selector: str | None = None,
        api_factory: Callable[[], Any],
    ) -> None:
        if (secret is None) == (label_selector is None):
            raise SecretConfigError(label, "needs exactly one of project, secret or label_selector", provider=KIND)
        super().__init__(naming, label)
        self._namespace = namespace
        self.secret = secret
        self.label_selector = label_selector
        self._api_factory = api_factory

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
        what = f"Secret {secret!r}" if secret else f"Secrets labelled {selector!r}"
        return cls(
            parse_naming(config, field, defaults, "_", spell_secret_key),
            f"{field} (kubernetes, {what})",
            namespace=namespace,
            secret=secret,
            label_selector=selector,
            api_factory=lambda: core_v1_api(kube_config, context, in_cluster),
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

    @drops_original_error
    def data(self) -> dict[str, str]:
        """Every key the source holds, decoded (one API call)."""
        from kubernetes.client.exceptions import ApiException

        from airflow_secrets_provider.hooks.kube_logging import withhold_secret_bodies

        withhold_secret_bodies()

        api = self._api_factory()
        namespace = self.namespace
        where = f"Secret {self.secret!r}" if self.secret else f"Secrets labelled {self.label_selector!r}"
        try:
            if self.secret is not None:
                found = api.read_namespaced_secret(self.secret, namespace)
                return _decode(found.data, self.secret)
            listed = api.list_namespaced_secret(namespace, label_selector=self.label_selector)
        except ApiException as err:
            if err.status == 404:
                return {}
            if err.status in (401, 403):
                raise SecretAccessError(
                    KIND, f"{where} in namespace {namespace!r}", f"access denied (HTTP {err.status})"
                ) from None
            raise SecretsProviderError(
                f"{KIND} source: reading {where} in namespace {namespace!r} failed with HTTP {err.status}"
            ) from None
        merged: dict[str, str] = {}
        for item in sorted(listed.items, key=lambda s: s.metadata.name):
            for key, value in _decode(item.data, item.metadata.name).items():
                merged.setdefault(key, value)
        return merged
