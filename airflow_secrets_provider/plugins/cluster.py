"""Which cluster and namespace the Secrets page manages: the api-server's own Kubernetes identity.

The page reaches Kubernetes exactly as the ``airflow-secrets`` CLI does (same kubeconfig /
connection / in-cluster rules, :mod:`airflow_secrets_provider.cli.cluster`), configured in
Airflow's config instead of flags, so a deployment states once what its api-server may manage::

    [secrets_provider]
    ui_namespace = ml                 # else the connection's / kubeconfig context's, else default
    ui_kube_config = /path/kubeconfig # else $KUBECONFIG, ~/.kube/config, or in-cluster
    ui_context =                      # a kubeconfig context
    ui_conn_id =                      # an Airflow Kubernetes connection instead of a kubeconfig

Read on each request (cheap: no network), so nothing happens when Airflow imports the plugin.
"""

from __future__ import annotations

import argparse

from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.presets import CONFIG_SECTION

OPTIONS = ("ui_namespace", "ui_kube_config", "ui_context", "ui_conn_id")


def _option(name: str) -> str | None:
    from airflow.configuration import conf

    value = conf.get(CONFIG_SECTION, name, fallback="") or ""
    return value.strip() or None


def _as_cli_args() -> argparse.Namespace:
    return argparse.Namespace(
        namespace=_option("ui_namespace"),
        kubeconfig=_option("ui_kube_config"),
        context=_option("ui_context"),
        conn_id=_option("ui_conn_id"),
    )


def connect() -> tuple[SecretsKubernetesHook, str]:
    """The hook (lazy client: no network yet) and the namespace the page manages."""
    args = _as_cli_args()
    hook = cluster_hook(args)
    return hook, cluster_namespace(args, hook)
