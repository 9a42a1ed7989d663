"""``airflow-secrets rbac ROLE``: the least-privilege RBAC of one identity for a layout, printed as YAML.

Roles (the identities the product documents):

* ``launcher``: a project's tasks (``--project``, one).
* ``viewer``: who watches a project's pods (``--project`` or ``--namespace``).
* ``ui``: the Airflow api-server's identity behind the Secrets page (``--namespace`` is its
  ``[secrets_provider] ui_namespace``; namespace-per-project: ``--project`` per project it manages).
* ``cleanup``: ``airflow-secrets cleanup`` and the listener (shared: ``--namespace``;
  namespace-per-project: ``--project`` per project; ``--all-namespaces`` for ``cleanup -A``).

``--layout namespace-per-project`` (the default) derives each project's namespace (``--namespace``
for the launcher and viewer, else from the project with ``--namespace-template``, default
``[secrets_provider] project_namespace`` or ``{project}``) and prints those Namespaces too.
``--layout shared-namespace`` needs ``--namespace`` and prints, as a YAML comment above a
launcher's documents, which isolation paths that layout leaves open.
"""

from __future__ import annotations

import argparse
import sys

from airflow_secrets_provider.cli.errors import UsageError
from airflow_secrets_provider.core.errors import SecretConfigError

ROLES = ("launcher", "viewer", "ui", "cleanup")

RBAC_HELP = """\
Print, as YAML for `kubectl apply -f -`, the least-privilege RBAC of one identity.

roles:
  launcher  a project's tasks: get on its own project Secret by name, create/delete Secrets,
            pods, logs, exec, events, configmaps list (presets). One --project.
  viewer    get/list/watch pods, no Secret access (--raw-logs adds pods/log).
  ui        the Airflow api-server's identity behind the Secrets page. shared-namespace: one
            Role in --namespace (secrets get/list/create/update/delete, events create/list,
            configmaps list). namespace-per-project: a Role in each --project's namespace
            (its project Secret by name: get/update/delete; create; events), one in the home
            --namespace (configmaps list, events list) and a ClusterRole to list Namespaces.
  cleanup   `airflow-secrets cleanup` and the listener: pods list/delete, secrets delete, and
            never get/list/watch on Secrets. shared-namespace: one Role in --namespace.
            namespace-per-project: a ClusterRole of those rules, bound in each --project's
            namespace; --all-namespaces adds pods list everywhere for `cleanup -A`.

Subjects: --user, --group, --service-account [NAMESPACE/]NAME (repeatable); a ServiceAccount
bound in several namespaces (ui: defaults to --namespace; cleanup with namespace-per-project)
must name its namespace.

examples:
  airflow-secrets rbac launcher --project fraud --service-account ml-fraud/airflow-worker
  airflow-secrets rbac ui --layout shared-namespace --namespace ml --service-account airflow/api-server
  airflow-secrets rbac ui --namespace airflow --project fraud --project churn --namespace-template 'ml-{project}' \\
      --service-account airflow/api-server
  airflow-secrets rbac cleanup --project fraud --project churn --namespace-template 'ml-{project}' \\
      --service-account airflow/scheduler --all-namespaces
"""


def _namespace_template(args: argparse.Namespace) -> str:
    from airflow_secrets_provider.kube.layout import DEFAULT_NAMESPACE_TEMPLATE

    if args.namespace_template:
        return str(args.namespace_template)
    try:
        from airflow_secrets_provider.kube.layout import configured_namespace_template

        return configured_namespace_template() or DEFAULT_NAMESPACE_TEMPLATE
    except ImportError:  # no Airflow where the command runs: the documented default
        return DEFAULT_NAMESPACE_TEMPLATE


def _check_flags(args: argparse.Namespace, projects: list[str]) -> None:
    """The flags each role takes, as one-line usage errors before anything is rendered."""
    from airflow_secrets_provider.kube.layout import NAMESPACE_PER_PROJECT, SHARED_NAMESPACE

    role, layout = args.role, args.layout
    if args.readable_secret and role != "launcher":
        raise UsageError("readable-secret", "only applies to a launcher role")
    if args.raw_logs and role in ("ui", "cleanup"):
        raise UsageError("raw-logs", "only applies to a viewer role")
    if args.all_namespaces and role != "cleanup":
        raise UsageError("all-namespaces", "only applies to a cleanup role")
    if role in ("launcher", "viewer") and len(projects) > 1:
        raise UsageError("project", f"give one project for a {role} role")
    if role == "launcher" and not projects:
        raise UsageError("project", "is required for a launcher role")
    if layout == SHARED_NAMESPACE and not args.namespace:
        raise UsageError("namespace", f"is required with --layout {SHARED_NAMESPACE}")
    if role in ("ui", "cleanup") and layout == SHARED_NAMESPACE and projects:
        raise UsageError("project", f"does not apply to a {role} role with --layout {SHARED_NAMESPACE}")
    if role == "ui" and not args.namespace:
        raise UsageError("namespace", "is required for a ui role: the page's [secrets_provider] ui_namespace")
    if role == "cleanup" and layout == NAMESPACE_PER_PROJECT:
        if not projects:
            raise UsageError("project", f"give at least one --project with --layout {NAMESPACE_PER_PROJECT}")
        if args.namespace and len(projects) > 1:
            raise UsageError("namespace", "names one project's namespace: not with several --project")
    if role == "viewer" and layout == NAMESPACE_PER_PROJECT and not (projects or args.namespace):
        raise UsageError("project", f"is required with --layout {NAMESPACE_PER_PROJECT} (or give --namespace)")


def rbac(args: argparse.Namespace) -> int:
    """Print the documents one identity needs, as YAML."""
    from airflow_secrets_provider.kube.layout import NAMESPACE_PER_PROJECT, SHARED_NAMESPACE, project_namespace
    from airflow_secrets_provider.kube.rbac import (
        RbacSubject,
        cleanup_rbac,
        launcher_rbac,
        namespace_document,
        resolve_namespace,
        shared_namespace_warning,
        to_yaml,
        ui_rbac,
        viewer_rbac,
    )

    subjects = [RbacSubject.user(name) for name in args.user or []]
    subjects += [RbacSubject.group(name) for name in args.group or []]
    for account in args.service_account or []:
        namespace, _, name = account.rpartition("/")
        subjects.append(RbacSubject.service_account(name, namespace or None))
    if not subjects:
        raise UsageError("subject", "give at least one --user, --group or --service-account")
    projects: list[str] = list(dict.fromkeys(args.project or []))
    _check_flags(args, projects)
    layout = args.layout
    template = _namespace_template(args)
    project = projects[0] if projects else None
    try:
        if args.role in ("launcher", "viewer"):
            namespace = resolve_namespace(layout, project, args.namespace, template)
            if args.role == "launcher":
                assert project is not None
                documents = launcher_rbac(
                    project, namespace, subjects, readable_secrets=args.readable_secret or [], layout=layout
                )
            else:
                documents = viewer_rbac(namespace, subjects, project=project, raw_logs=args.raw_logs, layout=layout)
            owned = {project: namespace} if project else {}
        elif args.role == "ui":
            documents = ui_rbac(args.namespace, subjects, projects=projects, layout=layout, namespace_template=template)
            owned = {p: project_namespace(p, template) for p in projects}
        else:
            documents = cleanup_rbac(
                subjects,
                namespace=args.namespace,
                projects=projects,
                layout=layout,
                namespace_template=template,
                all_namespaces=args.all_namespaces,
            )
            owned = {p: args.namespace or project_namespace(p, template) for p in projects}
    except SecretConfigError as err:
        raise UsageError(err.field, err.problem) from None
    header = ""
    if layout == NAMESPACE_PER_PROJECT:
        documents = [*(namespace_document(ns, p) for p, ns in owned.items()), *documents]
    elif layout == SHARED_NAMESPACE and args.role in ("launcher", "viewer"):
        header = shared_namespace_warning(args.namespace)
    sys.stdout.write(header + to_yaml(documents))
    return 0
