"""Which cluster and namespace the Secrets page manages: the api-server's own Kubernetes identity.

The page reaches Kubernetes exactly as the ``airflow-secrets`` CLI does (same kubeconfig /
connection / in-cluster rules, :mod:`airflow_secrets_provider.cli.cluster`), configured in
Airflow's config instead of flags, so a deployment states once what its api-server may manage::

    [secrets_provider]
    ui_namespace = ml                 # else the connection's / kubeconfig context's, else default
    ui_kube_config = /path/kubeconfig # else $KUBECONFIG, ~/.kube/config, or in-cluster
    ui_context =                      # a kubeconfig context
    ui_conn_id =                      # an Airflow Kubernetes connection instead of a kubeconfig

In the namespace-per-project layout (``[secrets_provider] project_namespace`` set, see
:mod:`airflow_secrets_provider.kube.layout`), a project's keys are read and written in that project's
namespace, derived exactly as the operator and the CLI derive it, and the projects are found
through their Namespaces (labelled with the project, as ``airflow-secrets rbac`` prints them).

Read on each request (cheap: no network), so nothing happens when Airflow imports the plugin.
"""

from __future__ import annotations

import argparse

from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.naming import PROJECT_LABEL
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.errors import KubeTarget
from airflow_secrets_provider.kube.layout import (
    configured_namespace_template,
    configured_task_namespace,
    project_namespace,
)

OPTIONS = ("ui_namespace", "ui_kube_config", "ui_context", "ui_conn_id")


def _option(name: str) -> str | None:
    from airflow_secrets_provider import config

    return config.get_str(name)


def _as_cli_args() -> argparse.Namespace:
    return argparse.Namespace(
        namespace=_option("ui_namespace"),
        kubeconfig=_option("ui_kube_config"),
        context=_option("ui_context"),
        conn_id=_option("ui_conn_id"),
    )


def connect(project: str | None = None) -> tuple[SecretsKubernetesHook, str]:
    """The hook (lazy client: no network yet) and the namespace: the page's, or ``project``'s own.

    ``project`` given and the namespace-per-project layout configured: that project's namespace
    (``ui_namespace`` is the page's home namespace, not a request for this project).
    """
    args = _as_cli_args()
    hook = cluster_hook(args)
    if project:
        derived = configured_task_namespace(project, None)
        if derived:
            return hook, derived
    return hook, cluster_namespace(args, hook)


def project_namespaces(hook: SecretsKubernetesHook) -> dict[str, str] | None:
    """Namespace-per-project layout: each project with its namespace, by project; None when shared.

    A Namespace counts when it carries the project label and its name is the one the template
    gives that project (a label alone could be put on any namespace).
    """
    template = configured_namespace_template()
    if template is None:
        return None
    listed = hook.call(
        lambda: hook.core_v1_client.list_namespace(label_selector=PROJECT_LABEL), "list", KubeTarget("Namespace")
    )
    found: dict[str, str] = {}
    for item in listed.items:
        project = (item.metadata.labels or {}).get(PROJECT_LABEL, "")
        try:
            expected = project_namespace(project, template)
        except SecretConfigError:
            continue
        if item.metadata.name == expected:
            found[project] = expected
    return dict(sorted(found.items()))
