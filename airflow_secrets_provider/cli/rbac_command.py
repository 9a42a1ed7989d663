"""``airflow-secrets rbac``: the least-privilege Role and RoleBinding, printed as YAML."""

from __future__ import annotations

import argparse
import sys

from airflow_secrets_provider.cli.errors import UsageError


def rbac(args: argparse.Namespace) -> int:
    """Print the Role + RoleBinding a project's launcher (or a viewer) needs, as YAML."""
    from airflow_secrets_provider.rbac import RbacSubject, launcher_rbac, to_yaml, viewer_rbac

    subjects = [RbacSubject.user(name) for name in args.user or []]
    subjects += [RbacSubject.group(name) for name in args.group or []]
    for account in args.service_account or []:
        namespace, _, name = account.rpartition("/")
        subjects.append(RbacSubject.service_account(name, namespace or None))
    if not subjects:
        raise UsageError("subject", "give at least one --user, --group or --service-account")
    if args.role == "launcher":
        if not args.project:
            raise UsageError("project", "is required for a launcher role")
        documents = launcher_rbac(args.project, args.namespace, subjects, readable_secrets=args.readable_secret or [])
    else:
        documents = viewer_rbac(args.namespace, subjects, project=args.project)
    sys.stdout.write(to_yaml(documents))
    return 0
