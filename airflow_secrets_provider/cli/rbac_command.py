"""``airflow-secrets rbac``: the least-privilege RBAC for a layout, printed as YAML.

``--layout namespace-per-project`` (the default) puts a project's launcher, and a viewer of its
pods, in the project's own namespace (``--namespace``, else derived from the project with
``--namespace-template``, default ``[secrets_provider] project_namespace`` or ``{project}``) and
prints that Namespace too. ``--layout shared-namespace`` needs ``--namespace`` and prints, as a
YAML comment above the documents, which isolation paths that layout leaves open.
"""

from __future__ import annotations

import argparse
import sys

from airflow_secrets_provider.cli.errors import UsageError
from airflow_secrets_provider.exceptions import SecretConfigError


def _namespace_template(args: argparse.Namespace) -> str:
    from airflow_secrets_provider.layout import DEFAULT_NAMESPACE_TEMPLATE

    if args.namespace_template:
        return str(args.namespace_template)
    try:
        from airflow_secrets_provider.layout import configured_namespace_template

        return configured_namespace_template() or DEFAULT_NAMESPACE_TEMPLATE
    except ImportError:  # no Airflow where the command runs: the documented default
        return DEFAULT_NAMESPACE_TEMPLATE


def rbac(args: argparse.Namespace) -> int:
    """Print the documents a project's launcher (or a viewer) needs, as YAML."""
    from airflow_secrets_provider.layout import NAMESPACE_PER_PROJECT, SHARED_NAMESPACE
    from airflow_secrets_provider.rbac import (
        RbacSubject,
        launcher_rbac,
        namespace_document,
        resolve_namespace,
        shared_namespace_warning,
        to_yaml,
        viewer_rbac,
    )

    subjects = [RbacSubject.user(name) for name in args.user or []]
    subjects += [RbacSubject.group(name) for name in args.group or []]
    for account in args.service_account or []:
        namespace, _, name = account.rpartition("/")
        subjects.append(RbacSubject.service_account(name, namespace or None))
    if not subjects:
        raise UsageError("subject", "give at least one --user, --group or --service-account")
    layout = args.layout
    if args.role == "launcher" and not args.project:
        raise UsageError("project", "is required for a launcher role")
    if layout == NAMESPACE_PER_PROJECT and not (args.project or args.namespace):
        raise UsageError("project", f"is required with --layout {NAMESPACE_PER_PROJECT} (or give --namespace)")
    if layout == SHARED_NAMESPACE and not args.namespace:
        raise UsageError("namespace", f"is required with --layout {SHARED_NAMESPACE}")
    if args.role == "viewer" and args.readable_secret:
        raise UsageError("readable-secret", "only applies to a launcher role")
    template = _namespace_template(args)
    try:
        namespace = resolve_namespace(layout, args.project, args.namespace, template)
    except SecretConfigError as err:
        raise UsageError(err.field, err.problem) from None
    if args.role == "launcher":
        documents = launcher_rbac(
            args.project, namespace, subjects, readable_secrets=args.readable_secret or [], layout=layout
        )
    else:
        documents = viewer_rbac(namespace, subjects, project=args.project, raw_logs=args.raw_logs, layout=layout)
    header = ""
    if layout == NAMESPACE_PER_PROJECT and args.project:
        documents = [namespace_document(namespace, args.project), *documents]
    elif layout == SHARED_NAMESPACE:
        header = shared_namespace_warning(namespace)
    sys.stdout.write(header + to_yaml(documents))
    return 0
