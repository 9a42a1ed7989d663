"""Where a project's Secrets and pods live: one namespace per project, or one shared namespace.

Why this matters: inside one namespace RBAC cannot keep projects apart. Whoever may create pods
there may create one that mounts *any* Secret of the namespace (the kubelet serves it), and
``create``/``delete``/``patch``/``pods/exec``/``pods/log`` cannot be narrowed to "this project's
objects" (names are not known in advance, labels are not RBAC attributes). A namespace is the
boundary Kubernetes does enforce, so the documented layout is **one namespace per project**.

The layout is chosen by the deployment, not by DAG authors: Airflow's
``[secrets_provider] project_namespace`` (``AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE``) is a
template such as ``{project}`` or ``ml-{project}``. When it is set, a task with a ``project``
runs in that project's namespace: the namespace is derived when the task names none, and a task
whose pod would run elsewhere fails before anything is created. Unset, tasks run where
KubernetesPodOperator puts them (the shared-namespace layout).

The operator's check is a clear error for honest mistakes; the isolation itself comes from the
namespaces and the launcher Roles bound in each (``airflow-secrets rbac --layout``).
"""

from __future__ import annotations

from typing import Final, Literal

from airflow_secrets_provider.config import SECTION
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.core.validation import check_label_name, is_templated, literal_names

Layout = Literal["namespace-per-project", "shared-namespace"]
NAMESPACE_PER_PROJECT: Final = "namespace-per-project"
SHARED_NAMESPACE: Final = "shared-namespace"
LAYOUTS: tuple[Layout, ...] = (NAMESPACE_PER_PROJECT, SHARED_NAMESPACE)

CONFIG_SECTION = SECTION
NAMESPACE_OPTION = "project_namespace"
#: The template a namespace-per-project deployment uses unless it configures another.
DEFAULT_NAMESPACE_TEMPLATE = "{project}"


def project_namespace(project: str, template: str = DEFAULT_NAMESPACE_TEMPLATE) -> str:
    """The namespace of ``project`` under ``template`` (``{project}`` is replaced), checked.

    The result must be a DNS-1123 label, as every namespace name is.
    """
    check_label_name(project, "project")
    if is_templated(project):
        raise SecretConfigError("project", "must be rendered before its namespace is known")
    if not isinstance(template, str) or template.count("{project}") != 1:
        raise SecretConfigError(
            f"[{CONFIG_SECTION}] {NAMESPACE_OPTION}", "must contain '{project}' exactly once, e.g. 'ml-{project}'"
        )
    namespace = template.replace("{project}", project)
    with literal_names():  # nothing renders Airflow's configuration: Jinja markup is no namespace
        return check_label_name(namespace, f"[{CONFIG_SECTION}] {NAMESPACE_OPTION}")


def configured_namespace_template() -> str | None:
    """Airflow's ``[secrets_provider] project_namespace``; ``None`` when unset (shared layout)."""
    from airflow_secrets_provider import config

    return config.get_str(NAMESPACE_OPTION)


def task_namespace(project: str, template: str, requested: str | None) -> str:
    """The namespace a task of ``project`` runs in under the namespace-per-project layout.

    ``requested`` is the namespace the task itself names (``None``/empty: derive it). A task that
    names another project's namespace (or any other) is an error naming both, before anything is
    created: its project Secret is not there, and its launcher has no rights there.
    """
    expected = project_namespace(project, template)
    if requested and requested != expected:
        raise SecretConfigError(
            "namespace",
            f"project {project!r} runs in namespace {expected!r} (layout {NAMESPACE_PER_PROJECT}, "
            f"[{CONFIG_SECTION}] {NAMESPACE_OPTION} = {template!r}), but this task's pod would run in "
            f"{shown(requested)}",
        )
    return expected


def configured_task_namespace(project: str, requested: str | None) -> str | None:
    """:func:`task_namespace` under the configured template; ``None`` in the shared layout."""
    template = configured_namespace_template()
    if template is None:
        return None
    return task_namespace(project, template, requested or None)
