"""``set``, ``keys``, ``unset``, ``projects`` and ``history``: project secrets from the shell.

Every command prints key names, times and actors; values only ever travel from the input to
the API server. Changes are recorded as audit Events (see :mod:`airflow_secrets_provider.audit`).
"""

from __future__ import annotations

import argparse
import sys

from airflow_secrets_provider.audit import history as read_history
from airflow_secrets_provider.cli.cluster import cluster_hook, cluster_namespace
from airflow_secrets_provider.cli.errors import UsageError
from airflow_secrets_provider.cli.output import emit, message
from airflow_secrets_provider.cli.values_input import read_values
from airflow_secrets_provider.exceptions import SecretConfigError
from airflow_secrets_provider.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL, project_secret_name
from airflow_secrets_provider.projects import ProjectSecretsStore
from airflow_secrets_provider.validation import check_label_name


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
    hook = cluster_hook(args)
    namespace = cluster_namespace(args, hook)
    secrets = hook.list_secrets(namespace, f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{PROJECT_LABEL}").items
    rows = []
    for secret in secrets:
        project = (secret.metadata.labels or {}).get(PROJECT_LABEL, "")
        if secret.metadata.name != project_secret_name(project):
            continue  # a manifest Secret that merely carries a project label
        rows.append((project, len(secret.data or {}), secret.metadata.name))
    rows.sort()
    data = [{"project": p, "keys": n, "secret": s, "namespace": namespace} for p, n, s in rows]
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
