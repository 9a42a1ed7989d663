"""The RBAC a project's launcher and a viewer need, rendered as plain Kubernetes documents.

Pure functions, no API calls: the output is applied by whoever administers the namespace (or
printed as YAML by the CLI), and the tests apply it to a real API server and prove, with real
ServiceAccount tokens, what it allows and what it refuses (``tests/test_isolation.py`` for both
layouts, see :mod:`airflow_secrets_provider.layout`).

**Launcher** (the identity a project's Airflow tasks run ``SecretTaskOperator`` with):

* ``get`` on its own project Secret only, by ``resourceNames``: the operator checks requested
  keys exist before creating anything. No ``list``/``watch`` on secrets, because a list or
  watch response carries every Secret of the namespace *with its data*; no ``update``/``patch``
  either, because their response is the whole object, data included, and because the project
  Secret is managed through :mod:`airflow_secrets_provider.projects` by a management identity,
  not by tasks.
* ``create`` and ``delete`` on secrets, unrestricted by name: per-task Secrets are named after
  the pod (unique per try), so their names are unknown when the Role is written, and RBAC
  cannot restrict ``create`` by name at all (the name is not part of the request URL). The
  operator creates the per-task Secret with its ``ownerReferences`` already set, so it never
  needs ``patch``.
* pods ``create/get/list/watch/delete/patch``, ``pods/log`` ``get``, ``pods/exec`` ``create``
  and ``get``, events ``list/watch``: what KubernetesPodOperator does. ``patch`` is KPO's
  "already checked" label on a pod it keeps or that failed, without which a retry reattaches
  to the old pod. ``pods/exec`` reads the XCom sidecar; the Python client opens exec as a
  websocket ``GET``, which API servers authorize as ``get`` (newer ones as ``create``).
* configmaps ``list``: presets (Kubeflow PodDefault-style) are labelled ConfigMaps, found by
  listing at execute time; they hold references and plain configuration, never values.

**Viewer**: pods ``get/list/watch``; no access to secrets at all, not even ``get`` on a project
Secret (``get`` returns values). A pod's raw log (``pods/log``) is only granted on request
(``raw_logs=True``): it is the container's unmasked output, whereas the task log Airflow shows
has every value the worker registered replaced by ``***``.

**What RBAC cannot do inside one namespace** (the shared-namespace layout):

* ``create``/``delete`` on secrets and ``delete``/``patch``/``exec``/``log`` on pods apply to
  every object of the namespace (names are not known in advance, and labels are not RBAC
  attributes), so a launcher can delete another project's Secrets and pods, patch the image of
  its pending pod, exec into or read the logs of its pods, and create a Secret under a future
  project's name.
* Whoever may create pods may create one that references *any* Secret of its namespace
  (``secretKeyRef``, ``envFrom``, a secret or projected volume): the kubelet serves it. The
  API-level ``403`` on another project's Secret stops the operator and honest mistakes, not a
  determined pod author.

So the documented layout is one namespace per project (``launcher_rbac(..., layout=
NAMESPACE_PER_PROJECT)``, the default), where every one of those paths ends at the namespace
boundary; ``tests/test_isolation.py`` records which paths each layout closes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from airflow_secrets_provider.exceptions import SecretConfigError
from airflow_secrets_provider.layout import (
    DEFAULT_NAMESPACE_TEMPLATE,
    LAYOUTS,
    NAMESPACE_PER_PROJECT,
    SHARED_NAMESPACE,
    Layout,
    project_namespace,
)
from airflow_secrets_provider.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL, project_secret_name
from airflow_secrets_provider.validation import check_label_name, check_secret_name, is_templated

RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
RBAC_API_GROUP = "rbac.authorization.k8s.io"
COMPONENT_LABEL = "app.kubernetes.io/component"
LAUNCHER_PREFIX = "airflow-secrets-launcher-"
VIEWER_NAME = "airflow-secrets-viewer"

SubjectKind = Literal["User", "Group", "ServiceAccount"]
Document = dict[str, Any]


@dataclass(frozen=True)
class RbacSubject:
    """Who a binding grants to: a user, a group, or a service account.

    A service account without ``namespace`` is taken to live in the binding's namespace.
    """

    kind: SubjectKind
    name: str
    namespace: str | None = None

    @classmethod
    def user(cls, name: str) -> RbacSubject:
        return cls("User", name)

    @classmethod
    def group(cls, name: str) -> RbacSubject:
        return cls("Group", name)

    @classmethod
    def service_account(cls, name: str, namespace: str | None = None) -> RbacSubject:
        return cls("ServiceAccount", name, namespace)

    def render(self, binding_namespace: str) -> Document:
        """The ``subjects[]`` entry of a RoleBinding."""
        if self.kind not in ("User", "Group", "ServiceAccount"):
            raise SecretConfigError("subject.kind", f"must be User, Group or ServiceAccount, got {self.kind!r}")
        if not isinstance(self.name, str) or not self.name.strip() or is_templated(self.name):
            raise SecretConfigError("subject.name", "must be a non-empty plain name")
        if self.kind == "ServiceAccount":
            check_secret_name(self.name, "subject.name")  # service account names are DNS subdomains
            namespace = check_label_name(self.namespace or binding_namespace, "subject.namespace")
            return {"kind": "ServiceAccount", "name": self.name, "namespace": namespace}
        if self.namespace is not None:
            raise SecretConfigError("subject.namespace", f"only applies to a ServiceAccount, not a {self.kind}")
        return {"kind": self.kind, "apiGroup": RBAC_API_GROUP, "name": self.name}


def launcher_role_name(project: str) -> str:
    return f"{LAUNCHER_PREFIX}{project}"


def launcher_rules(project: str, readable_secrets: Sequence[str] = ()) -> list[Document]:
    """The rules of a project's launcher Role (see the module docstring for each verb's why).

    ``readable_secrets`` names further Secrets the launcher may read by name, e.g. the
    ``k8s_secret`` holding an Azure service principal for ``azure_vault`` requests.
    """
    return [
        _rule("secrets", ["get"], resource_names=[project_secret_name(project), *readable_secrets]),
        _rule("secrets", ["create", "delete"]),
        _rule("pods", ["create", "get", "list", "watch", "delete", "patch"]),
        _rule("pods/log", ["get"]),
        _rule("pods/exec", ["create", "get"]),
        _rule("events", ["list", "watch"]),
        # Presets are ConfigMaps labelled airflow-secrets-provider/preset=true (references and
        # plain configuration, no values), found by listing at execute time.
        _rule("configmaps", ["list"]),
    ]


def viewer_rules(*, raw_logs: bool = False) -> list[Document]:
    """The rules of a viewer Role: pods (and, with ``raw_logs``, their unmasked logs); no secrets."""
    rules = [_rule("pods", ["get", "list", "watch"])]
    if raw_logs:
        rules.append(_rule("pods/log", ["get"]))
    return rules


def resolve_namespace(layout: Layout, project: str | None, namespace: str | None, template: str) -> str:
    """The namespace the documents go to: given, or (namespace-per-project) the project's.

    The shared layout needs ``namespace``; namespace-per-project derives it from ``project``
    with ``template`` (``{project}`` by default) unless ``namespace`` names it explicitly.
    """
    if layout not in LAYOUTS:
        raise SecretConfigError("layout", f"must be one of {list(LAYOUTS)}, got {layout!r}")
    if namespace:
        return namespace
    if layout == SHARED_NAMESPACE:
        raise SecretConfigError("namespace", f"is required with the {SHARED_NAMESPACE} layout")
    if not project:
        raise SecretConfigError("project", f"is required with the {NAMESPACE_PER_PROJECT} layout")
    return project_namespace(project, template)


def namespace_document(namespace: str, project: str) -> Document:
    """The project's own Namespace (namespace-per-project), labelled with the project."""
    check_label_name(namespace, "namespace")
    _check_plain(namespace, "namespace")
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": _labels("namespace", project)},
    }


def shared_namespace_warning(namespace: str) -> str:
    """The YAML comment printed above a shared-namespace launcher Role: what it leaves open."""
    return (
        f"# Layout {SHARED_NAMESPACE} (namespace {namespace}): RBAC cannot keep the projects of one\n"
        "# namespace apart. Any launcher here can create pods that mount every Secret of the\n"
        "# namespace, delete other projects' Secrets and pods, patch their pending pods, exec into\n"
        "# them and read their logs. Use one namespace per project where that matters\n"
        "# (airflow-secrets rbac launcher --layout namespace-per-project).\n"
    )


def launcher_rbac(
    project: str,
    namespace: str | None,
    subjects: Sequence[RbacSubject],
    *,
    readable_secrets: Sequence[str] = (),
    layout: Layout = NAMESPACE_PER_PROJECT,
    namespace_template: str = DEFAULT_NAMESPACE_TEMPLATE,
) -> list[Document]:
    """Role + RoleBinding letting ``subjects`` launch ``project``'s tasks.

    ``namespace`` None: the project's own namespace (``layout`` namespace-per-project, derived
    with ``namespace_template``). The rules are the same in both layouts; what differs is who
    else has a Role in the namespace (see the module docstring).
    """
    check_label_name(project, "project")
    _check_plain(project, "project")
    namespace = resolve_namespace(layout, project, namespace, namespace_template)
    for index, secret in enumerate(readable_secrets):
        check_secret_name(secret, f"readable_secrets[{index}]")
        _check_plain(secret, f"readable_secrets[{index}]")  # RBAC names are literal: no templates
    name = launcher_role_name(project)
    labels = _labels("launcher", project)
    return _role_and_binding(name, namespace, labels, launcher_rules(project, readable_secrets), subjects)


def viewer_rbac(
    namespace: str | None,
    subjects: Sequence[RbacSubject],
    *,
    project: str | None = None,
    raw_logs: bool = False,
    layout: Layout = NAMESPACE_PER_PROJECT,
    namespace_template: str = DEFAULT_NAMESPACE_TEMPLATE,
) -> list[Document]:
    """Role + RoleBinding letting ``subjects`` watch pods (and their raw logs with ``raw_logs``).

    ``namespace`` None: ``project``'s own namespace (namespace-per-project). In a shared
    namespace ``project`` only names and labels the objects: a viewer's rights are the same for
    every project of the namespace, since pods cannot be restricted by label in RBAC.
    """
    if project is not None:
        check_label_name(project, "project")
        _check_plain(project, "project")
    namespace = resolve_namespace(layout, project, namespace, namespace_template)
    name = f"{VIEWER_NAME}-{project}" if project else VIEWER_NAME
    return _role_and_binding(name, namespace, _labels("viewer", project), viewer_rules(raw_logs=raw_logs), subjects)


def to_yaml(documents: Iterable[Mapping[str, Any]]) -> str:
    """A multi-document YAML string (``---`` separated), ready for ``kubectl apply -f -``."""
    return yaml.safe_dump_all([dict(doc) for doc in documents], sort_keys=False, default_flow_style=False)


def _role_and_binding(
    name: str,
    namespace: str,
    labels: dict[str, str],
    rules: list[Document],
    subjects: Sequence[RbacSubject],
) -> list[Document]:
    check_label_name(namespace, "namespace")
    _check_plain(namespace, "namespace")
    if isinstance(subjects, RbacSubject) or not subjects:
        raise SecretConfigError("subjects", "must be a non-empty list of RbacSubject")
    rendered = [subject.render(namespace) for subject in subjects]
    metadata = {"name": name, "namespace": namespace, "labels": labels}
    role = {"apiVersion": RBAC_API_VERSION, "kind": "Role", "metadata": dict(metadata), "rules": rules}
    binding = {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": {**metadata, "labels": dict(labels)},
        "roleRef": {"apiGroup": RBAC_API_GROUP, "kind": "Role", "name": name},
        "subjects": rendered,
    }
    return [role, binding]


def _rule(resource: str, verbs: list[str], *, resource_names: list[str] | None = None) -> Document:
    rule: Document = {"apiGroups": [""], "resources": [resource], "verbs": verbs}
    if resource_names:
        rule["resourceNames"] = resource_names
    return rule


def _labels(component: str, project: str | None) -> dict[str, str]:
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: component}
    if project:
        labels[PROJECT_LABEL] = project
    return labels


def _check_plain(value: str, field: str) -> None:
    if is_templated(value):
        raise SecretConfigError(field, "must be a plain name, not a template")
