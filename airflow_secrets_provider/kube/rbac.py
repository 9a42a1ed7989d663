"""The RBAC a project's launcher and a viewer need, rendered as plain Kubernetes documents.

Pure functions, no API calls: the output is applied by whoever administers the namespace (or
printed as YAML by the CLI), and the tests apply it to a real API server and prove, with real
ServiceAccount tokens, what it allows and what it refuses (``tests/test_isolation.py`` for both
layouts, see :mod:`airflow_secrets_provider.kube.layout`).

**Launcher** (the identity a project's Airflow tasks run ``SecretTaskOperator`` with):

* ``get`` on its own project Secret only, by ``resourceNames``: the operator checks requested
  keys exist before creating anything. No ``list``/``watch`` on secrets, because a list or
  watch response carries every Secret of the namespace *with its data*; no ``update``/``patch``
  either, because their response is the whole object, data included, and because the project
  Secret is managed through :mod:`airflow_secrets_provider.kube.projects` by a management identity,
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

**UI** (the Airflow api-server's identity behind the Secrets page, :mod:`.plugins`; it is the
management identity of project secrets, so it may read and write their values, which stay on the
api-server):

* Shared namespace, one Role there: secrets ``get`` (a project's keys and times),
  ``list`` (the project list: a Secret per project, found by label; its response carries every
  Secret's data, which is why ``get`` is not narrowed by name either), ``create`` (a project's
  first key), ``update`` (later keys: a read-modify-write with ``resourceVersion``, never
  ``patch``), ``delete`` (a project's last key takes its Secret); events ``create`` (the audit
  Event of each change) and ``list`` (recent changes); configmaps ``list`` (the presets shown).
* Namespace-per-project, where an operator runs many project namespaces: in **each project's
  namespace** a Role of its own, because the Secret's name differs per project: secrets
  ``get``/``update``/``delete`` by ``resourceNames`` on that project's Secret only (the page
  counts a project's keys with a ``get`` by name, so it needs no ``list`` there, and the
  per-task Secrets, service principals and external Secrets of the namespace stay unreadable to
  it), ``create`` unrestricted (RBAC cannot narrow ``create`` by name), events ``create``/
  ``list``. In the page's **home namespace** (``ui_namespace``): configmaps ``list`` (presets),
  events ``list`` (recent preset changes). **Cluster-wide**, a ClusterRole and
  ClusterRoleBinding with namespaces ``list`` only: projects are found through their labelled
  Namespaces (names and labels, nothing else). A new project adds one Role and RoleBinding; no
  rule ever grants Secrets across namespaces.

**Cleanup** (``airflow-secrets cleanup`` and the listener in the scheduler and api-server,
:mod:`.cleanup`): pods ``list`` (our pods, by label: the cleanup works from pods only), pods
``delete`` (an ended task instance's pod, with its UID as a precondition), secrets ``delete``
(its per-task Secret, by the name derived from the pod). No ``get``/``list``/``watch`` on
secrets: the cleanup never reads one, and a refused read is what proves no value is reachable.
In the shared namespace that is one Role. Namespace-per-project: one ClusterRole holding those
rules, bound by a RoleBinding in each project's namespace (a new project adds one RoleBinding;
nothing is deletable outside the bound namespaces), plus, on request (``all_namespaces``), a
second ClusterRole with pods ``list`` only and a ClusterRoleBinding, for ``cleanup -A`` and the
listener's default ``cleanup_namespaces`` (empty: one list of our pods over every namespace
instead of one per namespace, and no list of namespaces to keep in the config). Without it, set
``cleanup_namespaces`` and run ``cleanup -n NAMESPACE`` per namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL, project_secret_name
from airflow_secrets_provider.core.validation import check_label_name, check_secret_name, is_templated
from airflow_secrets_provider.kube.layout import (
    DEFAULT_NAMESPACE_TEMPLATE,
    LAYOUTS,
    NAMESPACE_PER_PROJECT,
    SHARED_NAMESPACE,
    Layout,
    project_namespace,
)

RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
RBAC_API_GROUP = "rbac.authorization.k8s.io"
COMPONENT_LABEL = "app.kubernetes.io/component"
LAUNCHER_PREFIX = "airflow-secrets-launcher-"
VIEWER_NAME = "airflow-secrets-viewer"
UI_NAME = "airflow-secrets-ui"
UI_NAMESPACES_NAME = "airflow-secrets-ui-namespaces"
CLEANUP_NAME = "airflow-secrets-cleanup"
CLEANUP_LIST_PODS_NAME = "airflow-secrets-cleanup-list-pods"

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

    def render(self, binding_namespace: str | None) -> Document:
        """The ``subjects[]`` entry of a RoleBinding (``binding_namespace`` None: a ClusterRoleBinding)."""
        if self.kind not in ("User", "Group", "ServiceAccount"):
            raise SecretConfigError("subject.kind", f"must be User, Group or ServiceAccount, got {self.kind!r}")
        if not isinstance(self.name, str) or not self.name.strip() or is_templated(self.name):
            raise SecretConfigError("subject.name", "must be a non-empty plain name")
        if self.kind == "ServiceAccount":
            check_secret_name(self.name, "subject.name")  # service account names are DNS subdomains
            if not (self.namespace or binding_namespace):
                raise SecretConfigError(
                    "subject.namespace", "is required: the binding is cluster-wide (NAMESPACE/NAME)"
                )
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


def ui_rules(layout: Layout = SHARED_NAMESPACE, project: str | None = None) -> list[Document]:
    """The rules of the Secrets page's Role in a namespace holding project Secrets.

    ``layout`` shared: every project of the namespace (the one Role the page needs there).
    Namespace-per-project: ``project``'s own namespace, its Secret by name (see the module
    docstring for each verb's why).
    """
    if layout == SHARED_NAMESPACE:
        return [
            _rule("secrets", ["get", "list", "create", "update", "delete"]),
            _rule("events", ["create", "list"]),
            _rule("configmaps", ["list"]),
        ]
    if not project:
        raise SecretConfigError("project", f"is required for a project's Role with the {NAMESPACE_PER_PROJECT} layout")
    return [
        _rule("secrets", ["get", "update", "delete"], resource_names=[project_secret_name(project)]),
        _rule("secrets", ["create"]),
        _rule("events", ["create", "list"]),
    ]


def ui_home_rules() -> list[Document]:
    """Namespace-per-project: the page's home namespace (presets and their recent changes)."""
    return [_rule("configmaps", ["list"]), _rule("events", ["list"])]


def ui_cluster_rules() -> list[Document]:
    """Namespace-per-project: find the projects through their labelled Namespaces."""
    return [_rule("namespaces", ["list"])]


def cleanup_rules() -> list[Document]:
    """The rules of the cleanup's Role: our pods and the per-task Secrets named after them, never a read of a Secret."""
    return [_rule("pods", ["list", "delete"]), _rule("secrets", ["delete"])]


def ui_rbac(
    namespace: str,
    subjects: Sequence[RbacSubject],
    *,
    projects: Sequence[str] = (),
    layout: Layout = NAMESPACE_PER_PROJECT,
    namespace_template: str = DEFAULT_NAMESPACE_TEMPLATE,
) -> list[Document]:
    """What the Airflow api-server's identity needs for the Secrets page.

    ``namespace`` is ``[secrets_provider] ui_namespace``: in the shared layout the namespace the
    page manages (one Role + RoleBinding; ``projects`` must be empty, the Role covers them all),
    in namespace-per-project the page's home (presets). There, each of ``projects`` gets a Role +
    RoleBinding in its namespace (derived with ``namespace_template``), and the identity a
    ClusterRole + ClusterRoleBinding to list Namespaces. A ServiceAccount subject without a
    namespace is taken to live in ``namespace``.
    """
    layout = _check_layout(layout)
    home = _check_namespace(namespace, "namespace")
    subjects = _pinned(subjects, home)
    if layout == SHARED_NAMESPACE:
        if projects:
            raise SecretConfigError("projects", f"do not apply to the {SHARED_NAMESPACE} layout: its Role covers all")
        return _role_and_binding(UI_NAME, home, _labels("ui", None), ui_rules(SHARED_NAMESPACE), subjects)
    documents = _cluster_role_and_binding(UI_NAMESPACES_NAME, _labels("ui", None), ui_cluster_rules(), subjects)
    documents += _role_and_binding(UI_NAME, home, _labels("ui", None), ui_home_rules(), subjects)
    for project, project_ns in _project_namespaces(projects, namespace_template).items():
        rules = ui_rules(NAMESPACE_PER_PROJECT, project)
        documents += _role_and_binding(f"{UI_NAME}-{project}", project_ns, _labels("ui", project), rules, subjects)
    return documents


def cleanup_rbac(
    subjects: Sequence[RbacSubject],
    *,
    namespace: str | None = None,
    projects: Sequence[str] = (),
    layout: Layout = NAMESPACE_PER_PROJECT,
    namespace_template: str = DEFAULT_NAMESPACE_TEMPLATE,
    all_namespaces: bool = False,
) -> list[Document]:
    """What the cleanup's identity (``airflow-secrets cleanup``, the listener) needs.

    Shared layout: a Role + RoleBinding in ``namespace``. Namespace-per-project: the ClusterRole
    :data:`CLEANUP_NAME` and a RoleBinding to it in each of ``projects``' namespaces (or in
    ``namespace``, for one project whose namespace follows no template). ``all_namespaces``
    adds pods ``list`` in every namespace (a ClusterRole + ClusterRoleBinding) for
    ``cleanup -A`` and an empty ``cleanup_namespaces``. The bindings span namespaces, so in
    namespace-per-project a ServiceAccount subject must name its namespace.
    """
    layout = _check_layout(layout)
    if layout == SHARED_NAMESPACE:
        if not namespace:
            raise SecretConfigError("namespace", f"is required with the {SHARED_NAMESPACE} layout")
        if projects:
            raise SecretConfigError("projects", f"do not apply to the {SHARED_NAMESPACE} layout: its Role covers all")
        shared = _check_namespace(namespace, "namespace")
        subjects = _pinned(subjects, shared)
        documents = _role_and_binding(CLEANUP_NAME, shared, _labels("cleanup", None), cleanup_rules(), subjects)
    else:
        if namespace:
            if len(projects) != 1:
                raise SecretConfigError("namespace", "names one project's namespace: give exactly one project with it")
            check_label_name(projects[0], "project")
            _check_plain(projects[0], "project")
            targets = {projects[0]: _check_namespace(namespace, "namespace")}
        else:
            targets = _project_namespaces(projects, namespace_template)
        if not targets:
            raise SecretConfigError("projects", f"give at least one project with the {NAMESPACE_PER_PROJECT} layout")
        subjects = _pinned(subjects, None)
        documents = [_document("ClusterRole", CLEANUP_NAME, None, _labels("cleanup", None), rules=cleanup_rules())]
        for project, project_ns in targets.items():
            labels = _labels("cleanup", project)
            documents.append(_binding("RoleBinding", CLEANUP_NAME, project_ns, labels, "ClusterRole", subjects))
    if all_namespaces:
        list_pods = [_rule("pods", ["list"])]
        documents += _cluster_role_and_binding(CLEANUP_LIST_PODS_NAME, _labels("cleanup", None), list_pods, subjects)
    return documents


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
    _check_namespace(namespace, "namespace")
    role = _document("Role", name, namespace, labels, rules=rules)
    return [role, _binding("RoleBinding", name, namespace, labels, "Role", subjects)]


def _cluster_role_and_binding(
    name: str, labels: dict[str, str], rules: list[Document], subjects: Sequence[RbacSubject]
) -> list[Document]:
    role = _document("ClusterRole", name, None, labels, rules=rules)
    return [role, _binding("ClusterRoleBinding", name, None, labels, "ClusterRole", subjects)]


def _binding(
    kind: str, name: str, namespace: str | None, labels: dict[str, str], role_kind: str, subjects: Sequence[RbacSubject]
) -> Document:
    if isinstance(subjects, RbacSubject) or not subjects:
        raise SecretConfigError("subjects", "must be a non-empty list of RbacSubject")
    binding = _document(kind, name, namespace, labels)
    binding["roleRef"] = {"apiGroup": RBAC_API_GROUP, "kind": role_kind, "name": name}
    binding["subjects"] = [subject.render(namespace) for subject in subjects]
    return binding


def _document(kind: str, name: str, namespace: str | None, labels: dict[str, str], **body: Any) -> Document:
    metadata: Document = {"name": name, "namespace": namespace} if namespace else {"name": name}
    metadata["labels"] = dict(labels)
    return {"apiVersion": RBAC_API_VERSION, "kind": kind, "metadata": metadata, **body}


def _check_layout(layout: Layout) -> Layout:
    if layout not in LAYOUTS:
        raise SecretConfigError("layout", f"must be one of {list(LAYOUTS)}, got {layout!r}")
    return layout


def _check_namespace(namespace: str, field: str) -> str:
    check_label_name(namespace, field)
    _check_plain(namespace, field)
    return namespace


def _project_namespaces(projects: Sequence[str], template: str) -> dict[str, str]:
    """Each project (checked, first occurrence kept) with its namespace under ``template``."""
    if isinstance(projects, str):
        raise SecretConfigError("projects", "must be a list of project names, not a string")
    found: dict[str, str] = {}
    for project in projects:
        check_label_name(project, "project")
        _check_plain(project, "project")
        found.setdefault(project, project_namespace(project, template))
    return found


def _pinned(subjects: Sequence[RbacSubject], namespace: str | None) -> list[RbacSubject]:
    """The subjects with every ServiceAccount's namespace fixed, for bindings in several namespaces.

    ``namespace`` None: a ServiceAccount must name its own (there is no one binding namespace
    it could default to).
    """
    if isinstance(subjects, RbacSubject) or not subjects:
        raise SecretConfigError("subjects", "must be a non-empty list of RbacSubject")
    pinned = []
    for subject in subjects:
        if subject.kind == "ServiceAccount" and not subject.namespace:
            if namespace is None:
                raise SecretConfigError(
                    "subject.namespace", "is required: the bindings span namespaces (NAMESPACE/NAME)"
                )
            subject = RbacSubject.service_account(subject.name, namespace)
        pinned.append(subject)
    return pinned


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
