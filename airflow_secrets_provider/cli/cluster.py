"""How the CLI reaches a cluster: as the operator does (kubeconfig, context, connection id).

``--conn-id`` names an Airflow Kubernetes connection (its kube config, context, namespace,
in-cluster flag); without it the kubeconfig (``--kubeconfig``, else ``$KUBECONFIG``, else
``~/.kube/config``) and ``--context`` are used, or the in-cluster service account in a pod. The
namespace is ``--namespace``, else the connection's, else (in-cluster config, in a pod) the
pod's own from the mounted ServiceAccount namespace file, else the kubeconfig context's, else
``default``; except that a command about one project, in the namespace-per-project layout
(``[secrets_provider] project_namespace`` set), uses that project's namespace, and refuses a
``--namespace`` naming another one.
"""

from __future__ import annotations

import argparse
import os

from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.client import kube_hook


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    group.add_argument("--context", help="kubeconfig context")
    group.add_argument("-n", "--namespace", help="namespace (default: the connection's or the context's, else default)")
    group.add_argument("--conn-id", help="an Airflow Kubernetes connection id instead of a kubeconfig")


def cluster_hook(args: argparse.Namespace) -> SecretsKubernetesHook:
    return kube_hook(
        conn_id=args.conn_id,
        use_connection=bool(args.conn_id),
        config_file=args.kubeconfig,
        cluster_context=args.context,
    )


def cluster_namespace(args: argparse.Namespace, hook: SecretsKubernetesHook, project: str | None = None) -> str:
    if project:
        from airflow_secrets_provider.kube.layout import configured_task_namespace

        derived = configured_task_namespace(project, args.namespace)
        if derived:
            return derived
    if args.namespace:
        return str(args.namespace)
    if args.conn_id:
        from_conn = hook.get_namespace()
        if from_conn:
            return str(from_conn)
    from airflow_secrets_provider.kube.in_cluster import in_cluster_namespace, uses_in_cluster_config

    if uses_in_cluster_config(hook):  # in a pod: its own namespace, as kubectl does
        return in_cluster_namespace() or "default"
    return _context_namespace(args) or "default"


def _context_namespace(args: argparse.Namespace) -> str | None:
    from kubernetes import config

    config_file = args.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    try:
        contexts, active = config.list_kube_config_contexts(config_file=config_file)
    except (config.ConfigException, OSError):
        return None
    chosen = next((c for c in contexts if c.get("name") == args.context), None) if args.context else active
    return (chosen or {}).get("context", {}).get("namespace")
