"""``set``, ``keys``, ``unset``, ``projects`` and ``history``: project secrets from the shell.

Every command prints key names, times and actors; values only ever travel from the input to
the API server. Changes are recorded as audit Events (see :mod:`airflow_secrets_provider.kube.audit`).
"""

from __future__ import annotations

import argparse
import sys

from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.cli.errors import UsageError
from airflow_secrets_provider.cli.output import emit, message
from airflow_secrets_provider.cli.values_input import read_values
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.naming import project_secret_name
from airflow_secrets_provider.core.validation import check_label_name
from airflow_secrets_provider.kube.audit import history as read_history
from airflow_secrets_provider.kube.projects import ProjectSecretsStore


def _project(name: str) -> str:
    """The PROJECT argument; a bad one is a usage error (exit 2)."""
    try:
        return check_label_name(name, "project")
    except SecretConfigError as err:
        raise UsageError(err.field, err.problem) from None


def _store(args: argparse.Namespace) -> ProjectSecretsStore:
    hook = cluster_hook(args)
    return ProjectSecretsStore(hook, cluster_namespace(args, hook, getattr(args, "project", None)))


def _warn_audit(store: ProjectSecretsStore) -> None:
    for problem in store.audit.failures:
        print(f"airflow-secrets: warning: {problem}", file=sys.stderr)


def set_command(args: argparse.Namespace) -> int:
    _project(args.project)
    values = read_values(args.from_literal, args.from_file, args.from_env_file, args.stdin)
    store = _store(args)
    keys = store.set_secrets(args.project, values)
    _warn_audit(store)
    written = sorted(values)
    message(
        f"project {args.project}: set {', '.join(written)} ({len(keys)} keys in Secret "
        f"{project_secret_name(args.project)}, namespace {store.namespace})",
        args.output,
        {"project": args.project, "namespace": store.namespace, "set": written, "keys": keys},
    )
    return 0


def keys_command(args: argparse.Namespace) -> int:
    _project(args.project)
    store = _store(args)
    times = store.key_times(args.project)
    data = {
        "project": args.project,
        "namespace": store.namespace,
        "keys": [{"key": k, "updated": t} for k, t in times.items()],
    }
    emit(data, args.output, columns=("KEY", "UPDATED"), rows=[(k, t) for k, t in times.items()])
    return 0


def unset_command(args: argparse.Namespace) -> int:
    _project(args.project)
    store = _store(args)
    left = store.delete_keys(args.project, args.keys)
    _warn_audit(store)
    removed = sorted(dict.fromkeys(args.keys))
    message(
        f"project {args.project}: unset {', '.join(removed)} ({len(left)} keys left)",
        args.output,
        {"project": args.project, "namespace": store.namespace, "unset": removed, "keys": left},
    )
    return 0


def projects_command(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = [(project, count, project_secret_name(project)) for project, count in store.projects().items()]
    data = [{"project": p, "keys": n, "secret": s, "namespace": store.namespace} for p, n, s in rows]
    emit(data, args.output, columns=("PROJECT", "KEYS", "SECRET"), rows=rows)
    return 0


def history_command(args: argparse.Namespace) -> int:
    hook = cluster_hook(args)
    if args.project:
        _project(args.project)
    namespace = cluster_namespace(args, hook, args.project)
    if args.preset:
        records = read_history(hook, namespace, project=args.project, secret=args.preset, kind="ConfigMap")
    else:
        records = read_history(hook, namespace, project=args.project, secret=args.secret)
    emit(
        [record.as_dict() for record in records],
        args.output,
        columns=("TIME", "ACTION", "ACTOR", "SECRET", "KEYS"),
        rows=[(r.time, r.action, r.actor, r.secret, ",".join(r.keys)) for r in records],
    )
    return 0
