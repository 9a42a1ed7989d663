"""The RBAC rendered by ``airflow_secrets_provider.kube.rbac``: its documents, then its effect.

The unit tests pin the rules (schema-valid, and none of the verbs that would reveal other
Secrets' data). The ``kubernetes`` tests apply the documents to a real API server and prove
with ordinary users' bearer tokens what they allow: alice launches project ``a``, bob project
``b``, carol only views.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator

import kubernetes_validate
import pytest
import yaml
from kubernetes.client import (
    ApiClient,
    AuthorizationV1Api,
    CoreV1Api,
    RbacAuthorizationV1Api,
    V1ObjectMeta,
    V1ResourceAttributes,
    V1Secret,
    V1SelfSubjectAccessReview,
    V1SelfSubjectAccessReviewSpec,
)
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.core.errors import SecretAccessError, SecretConfigError
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL, project_secret_name
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from airflow_secrets_provider.kube.rbac import (
    RbacSubject,
    cleanup_rbac,
    cleanup_rules,
    launcher_rbac,
    launcher_rules,
    to_yaml,
    ui_rbac,
    ui_rules,
    viewer_rbac,
    viewer_rules,
)
from airflow_secrets_provider.kube.retry import KubernetesAccessError
from devstack.kube_cluster import KubeCluster
from tests.support.canaries import canary

VALUE_A = canary("project-a")
VALUE_B = canary("project-b")
SECRET_VERBS_THAT_REVEAL_DATA = {"list", "watch", "patch", "update", "*"}


# -- the documents ------------------------------------------------------------------------


def _all_documents() -> list[dict]:
    subjects = [RbacSubject.user("alice"), RbacSubject.group("ml-team"), RbacSubject.service_account("airflow-worker")]
    return [
        *launcher_rbac("proj-a", "team-ns", subjects),
        *viewer_rbac("team-ns", [RbacSubject.user("carol")]),
        *viewer_rbac("team-ns", [RbacSubject.user("carol")], project="proj-a"),
    ]


def _ui_and_cleanup_documents() -> list[dict]:
    account = [RbacSubject.service_account("api-server", "airflow"), RbacSubject.user("ops")]
    return [
        *ui_rbac("ml", account, layout="shared-namespace"),
        *ui_rbac("airflow", account, projects=["fraud", "churn"], namespace_template="ml-{project}"),
        *cleanup_rbac(account, namespace="ml", layout="shared-namespace", all_namespaces=True),
        *cleanup_rbac(account, projects=["fraud", "churn"], namespace_template="ml-{project}", all_namespaces=True),
    ]


@pytest.mark.parametrize("index", range(6))
def test_documents_are_schema_valid_in_strict_mode(index: int) -> None:
    doc = _all_documents()[index]
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_ui_and_cleanup_documents_are_schema_valid_in_strict_mode() -> None:
    documents = _ui_and_cleanup_documents()
    assert {d["kind"] for d in documents} == {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    for doc in documents:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        cluster_wide = doc["kind"].startswith("Cluster")
        assert ("namespace" in doc["metadata"]) is not cluster_wide, doc["metadata"]


def _granted(rules: list[dict]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {
        (res, verb, tuple(r.get("resourceNames", ()))) for r in rules for res in r["resources"] for verb in r["verbs"]
    }


def test_ui_rules_shared_namespace_are_the_pages_calls() -> None:
    assert _granted(ui_rules("shared-namespace")) == {
        *(("secrets", v, ()) for v in ("get", "list", "create", "update", "delete")),
        ("events", "create", ()),
        ("events", "list", ()),
        ("configmaps", "list", ()),
    }


def test_ui_per_project_reads_only_the_projects_secret_by_name() -> None:
    own = ("airflow-project-secrets-fraud",)
    assert _granted(ui_rules("namespace-per-project", "fraud")) == {
        ("secrets", "get", own),
        ("secrets", "update", own),
        ("secrets", "delete", own),
        ("secrets", "create", ()),  # RBAC cannot narrow create by name
        ("events", "create", ()),
        ("events", "list", ()),
    }
    docs = ui_rbac("airflow", [RbacSubject.service_account("api")], projects=["fraud", "churn", "fraud"])
    by_place = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs}
    assert by_place == {
        ("ClusterRole", None, "airflow-secrets-ui-namespaces"),
        ("ClusterRoleBinding", None, "airflow-secrets-ui-namespaces"),
        ("Role", "airflow", "airflow-secrets-ui"),
        ("RoleBinding", "airflow", "airflow-secrets-ui"),
        ("Role", "fraud", "airflow-secrets-ui-fraud"),
        ("RoleBinding", "fraud", "airflow-secrets-ui-fraud"),
        ("Role", "churn", "airflow-secrets-ui-churn"),
        ("RoleBinding", "churn", "airflow-secrets-ui-churn"),
    }
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert _granted(cluster_role["rules"]) == {("namespaces", "list", ())}
    home = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "airflow")
    assert _granted(home["rules"]) == {("configmaps", "list", ()), ("events", "list", ())}
    # The ServiceAccount lives in the home namespace, wherever it is bound.
    for binding in (d for d in docs if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "api", "namespace": "airflow"}]
    # No rule anywhere lets it list or read Secrets other than a project's own.
    for doc in docs:
        for rule in doc.get("rules", []):
            if "secrets" in rule["resources"]:
                assert "list" not in rule["verbs"] and "watch" not in rule["verbs"]
                if {"get", "update", "delete"} & set(rule["verbs"]):
                    assert rule["resourceNames"] == [f"airflow-project-secrets-{doc['metadata']['namespace']}"]


def test_cleanup_never_reads_a_secret() -> None:
    assert _granted(cleanup_rules()) == {("pods", "list", ()), ("pods", "delete", ()), ("secrets", "delete", ())}
    for doc in _ui_and_cleanup_documents():
        if doc["metadata"]["labels"]["app.kubernetes.io/component"] != "cleanup":
            continue
        for rule in doc.get("rules", []):
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["delete"]


def test_cleanup_per_project_binds_one_cluster_role_in_each_namespace() -> None:
    subjects = [RbacSubject.service_account("scheduler", "airflow")]
    docs = cleanup_rbac(subjects, projects=["fraud", "churn"], namespace_template="ml-{project}")
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterRole", None),
        ("RoleBinding", "ml-fraud"),
        ("RoleBinding", "ml-churn"),
    ]
    assert all(d["roleRef"]["kind"] == "ClusterRole" for d in docs[1:])
    wide = cleanup_rbac(subjects, projects=["fraud"], all_namespaces=True)
    assert [(d["kind"], d["metadata"]["name"]) for d in wide[-2:]] == [
        ("ClusterRole", "airflow-secrets-cleanup-list-pods"),
        ("ClusterRoleBinding", "airflow-secrets-cleanup-list-pods"),
    ]
    assert _granted(wide[-2]["rules"]) == {("pods", "list", ())}  # listing only: deletes stay bound per namespace
    one = cleanup_rbac(subjects, namespace="team-fraud", projects=["fraud"])
    assert one[1]["metadata"]["namespace"] == "team-fraud"
    shared = cleanup_rbac([RbacSubject.service_account("cleaner")], namespace="ml", layout="shared-namespace")
    assert [d["kind"] for d in shared] == ["Role", "RoleBinding"]
    assert shared[1]["subjects"] == [{"kind": "ServiceAccount", "name": "cleaner", "namespace": "ml"}]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: ui_rbac("ml", [RbacSubject.user("a")], projects=["p"], layout="shared-namespace"), "projects"),
        (lambda: ui_rbac("Bad NS", [RbacSubject.user("a")]), "namespace"),
        (lambda: ui_rbac("ml", [RbacSubject.user("a")], projects=["Bad_P"]), "project"),
        (lambda: ui_rbac("ml", [RbacSubject.user("a")], projects="fraud"), "projects"),
        (lambda: ui_rbac("ml", []), "subjects"),
        (lambda: cleanup_rbac([RbacSubject.user("a")], layout="shared-namespace"), "namespace"),
        (lambda: cleanup_rbac([RbacSubject.user("a")]), "projects"),
        (lambda: cleanup_rbac([RbacSubject.user("a")], namespace="ns", projects=["a", "b"]), "namespace"),
        (lambda: cleanup_rbac([RbacSubject.service_account("s")], projects=["p"]), "subject.namespace"),
        (lambda: cleanup_rbac([RbacSubject.user("a")], projects=["p"], layout="per-team"), "layout"),  # type: ignore[arg-type]
        (
            lambda: cleanup_rbac([RbacSubject.user("a")], projects=["p"], namespace_template="ml"),
            "[secrets_provider] project_namespace",
        ),
    ],
)
def test_ui_and_cleanup_bad_input_fails_with_the_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        call()
    assert info.value.field == field


def test_strict_validation_would_catch_a_typo() -> None:
    """Guards the test above: strict mode really rejects an unknown field in our documents."""
    doc = launcher_rbac("proj-a", "team-ns", [RbacSubject.user("alice")])[0]
    doc["rules"][0]["resourceName"] = ["x"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def _secret_rules(rules: list[dict]) -> list[dict]:
    return [r for r in rules if any(res.split("/")[0] == "secrets" or res == "*" for res in r["resources"])]


def test_launcher_reads_only_its_own_project_secret() -> None:
    rules = _secret_rules(launcher_rules("proj-a"))
    readers = [r for r in rules if "get" in r["verbs"]]
    assert readers == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get"],
            "resourceNames": ["airflow-project-secrets-proj-a"],
        }
    ]
    for rule in rules:
        assert not SECRET_VERBS_THAT_REVEAL_DATA & set(rule["verbs"]), rule
    unnamed = [r for r in rules if not r.get("resourceNames")]
    assert [sorted(r["verbs"]) for r in unnamed] == [["create", "delete"]]


def test_launcher_has_what_kubernetes_pod_operator_needs() -> None:
    granted = {(res, verb) for r in launcher_rules("p") for res in r["resources"] for verb in r["verbs"]}
    needed = {
        *(("pods", v) for v in ("create", "get", "list", "watch", "delete", "patch")),
        ("pods/log", "get"),
        ("pods/exec", "create"),
        ("pods/exec", "get"),
        ("events", "list"),
        ("events", "watch"),
        ("secrets", "create"),
        ("secrets", "delete"),
        ("configmaps", "list"),  # presets
    }
    assert needed <= granted
    assert all(r["apiGroups"] == [""] for r in launcher_rules("p"))


def test_viewer_has_no_secret_access() -> None:
    assert _secret_rules(viewer_rules()) == []
    granted = {(res, verb) for r in viewer_rules() for res in r["resources"] for verb in r["verbs"]}
    # No raw logs by default: a container's own output is unmasked (the task log is masked).
    assert granted == {("pods", "get"), ("pods", "list"), ("pods", "watch")}
    raw = {(res, verb) for r in viewer_rules(raw_logs=True) for res in r["resources"] for verb in r["verbs"]}
    assert raw == granted | {("pods/log", "get")}
    assert _secret_rules(viewer_rules(raw_logs=True)) == []


def test_role_binding_points_at_the_role_and_renders_each_subject_kind() -> None:
    role, binding = launcher_rbac(
        "proj-a",
        "team-ns",
        [RbacSubject.user("alice"), RbacSubject.group("ml-team"), RbacSubject.service_account("w", "other-ns")],
    )
    assert role["kind"] == "Role" and binding["kind"] == "RoleBinding"
    assert role["metadata"]["name"] == binding["metadata"]["name"] == "airflow-secrets-launcher-proj-a"
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "team-ns"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ml-team"},
        {"kind": "ServiceAccount", "name": "w", "namespace": "other-ns"},
    ]
    for doc in (role, binding):
        assert doc["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY_VALUE
        assert doc["metadata"]["labels"][PROJECT_LABEL] == "proj-a"


def test_service_account_defaults_to_the_binding_namespace() -> None:
    _, binding = launcher_rbac("p", "team-ns", [RbacSubject.service_account("airflow-worker")])
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "airflow-worker", "namespace": "team-ns"}]


def test_viewer_names() -> None:
    assert viewer_rbac("ns", [RbacSubject.user("c")])[0]["metadata"]["name"] == "airflow-secrets-viewer"
    assert viewer_rbac("ns", [RbacSubject.user("c")], project="p")[1]["metadata"]["name"] == "airflow-secrets-viewer-p"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: launcher_rbac("Bad_Project", "ns", [RbacSubject.user("a")]), "project"),
        (lambda: launcher_rbac("{{ p }}", "ns", [RbacSubject.user("a")]), "project"),
        (lambda: launcher_rbac("p", "Bad NS", [RbacSubject.user("a")]), "namespace"),
        (lambda: launcher_rbac("p", "ns", []), "subjects"),
        (lambda: launcher_rbac("p", "ns", RbacSubject.user("a")), "subjects"),  # type: ignore[arg-type]
        (lambda: launcher_rbac("p", "ns", [RbacSubject.user("")]), "subject.name"),
        (lambda: launcher_rbac("p", "ns", [RbacSubject("Robot", "r")]), "subject.kind"),  # type: ignore[arg-type]
        (lambda: launcher_rbac("p", "ns", [RbacSubject("User", "a", "ns")]), "subject.namespace"),
        (lambda: launcher_rbac("p", "ns", [RbacSubject.service_account("Not_DNS")]), "subject.name"),
        (lambda: viewer_rbac("ns", [RbacSubject.user("c")], project="No"), "project"),
        (lambda: launcher_rbac("p\n", "ns", [RbacSubject.user("a")]), "project"),  # `$` would accept it
        (
            lambda: launcher_rbac("p", "ns", [RbacSubject.user("a")], readable_secrets=["{{ x }}"]),
            "readable_secrets[0]",
        ),
    ],
)
def test_bad_input_fails_with_the_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        call()
    assert info.value.field == field


def test_yaml_is_a_multi_document_stream_of_the_same_documents() -> None:
    docs = _all_documents()
    text = to_yaml(docs)
    assert text.count("\n---\n") == len(docs) - 1
    assert "&id" not in text  # no YAML anchors: every document stands alone
    assert list(yaml.safe_load_all(text)) == docs


# -- against a real API server ------------------------------------------------------------

PROJECT_A, PROJECT_B = "proj-a", "proj-b"


class Env:
    """One namespace with two projects' Secrets and the rendered RBAC applied."""

    def __init__(self, cluster: KubeCluster, namespace: str, tokens: dict[str, str]) -> None:
        self.namespace = namespace
        self._clients: list[ApiClient] = []
        self.admin = CoreV1Api(self._client(cluster, None))
        self.users = {name: CoreV1Api(self._client(cluster, tokens[name])) for name in ("alice", "bob", "carol")}
        self._authz = {name: AuthorizationV1Api(self._client(cluster, tokens[name])) for name in self.users}

    def _client(self, cluster: KubeCluster, token: str | None) -> ApiClient:
        client = cluster.api_client(token)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def can(self, user: str, verb: str, resource: str, name: str | None = None, subresource: str | None = None) -> bool:
        """The API server's own answer (SelfSubjectAccessReview) for checks needing a kubelet."""
        review = V1SelfSubjectAccessReview(
            spec=V1SelfSubjectAccessReviewSpec(
                resource_attributes=V1ResourceAttributes(
                    namespace=self.namespace, verb=verb, resource=resource, name=name, subresource=subresource
                )
            )
        )
        return bool(self._authz[user].create_self_subject_access_review(review).status.allowed)


def _status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def _eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """RBAC changes reach the authorizer through an informer: allow a moment to propagate."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.2)


@pytest.fixture
def env(kube_cluster: KubeCluster, kube_namespace: str, kube_user_tokens: dict[str, str]) -> Iterator[Env]:
    env = Env(kube_cluster, kube_namespace, kube_user_tokens)
    try:
        store = ProjectSecretsStore(env.admin, kube_namespace)
        store.set_secrets(PROJECT_A, {"TOKEN": VALUE_A})
        store.set_secrets(PROJECT_B, {"TOKEN": VALUE_B})
        rbac = RbacAuthorizationV1Api(env.admin.api_client)
        docs = [
            *launcher_rbac(PROJECT_A, kube_namespace, [RbacSubject.user("alice")]),
            *launcher_rbac(PROJECT_B, kube_namespace, [RbacSubject.user("bob")]),
            *viewer_rbac(kube_namespace, [RbacSubject.user("carol")]),
        ]
        for doc in yaml.safe_load_all(to_yaml(docs)):  # apply exactly what a user would apply
            if doc["kind"] == "Role":
                rbac.create_namespaced_role(kube_namespace, doc)
            else:
                rbac.create_namespaced_role_binding(kube_namespace, doc)
        # Wait for each grant to be visible, so the 403s below are verdicts, not a race.
        _eventually(lambda: env.can("alice", "get", "secrets", project_secret_name(PROJECT_A)), "alice's Role")
        _eventually(lambda: env.can("bob", "get", "secrets", project_secret_name(PROJECT_B)), "bob's Role")
        _eventually(lambda: env.can("carol", "list", "pods"), "carol's Role")
        yield env
    finally:
        env.close()


@pytest.mark.kubernetes
def test_launcher_reads_its_project_secret_and_nothing_else(env: Env) -> None:
    alice = env.users["alice"]
    ns = env.namespace
    # Its own project: readable, through the store too (what the operator's key check does).
    assert _status_of(lambda: alice.read_namespaced_secret(project_secret_name(PROJECT_A), ns)) == 200
    assert ProjectSecretsStore(alice, ns).list_keys(PROJECT_A) == ["TOKEN"]
    # The other project's Secret: 403 on get, list, watch, patch and update (replace).
    other = project_secret_name(PROJECT_B)
    assert _status_of(lambda: alice.read_namespaced_secret(other, ns)) == 403
    assert _status_of(lambda: alice.list_namespaced_secret(ns)) == 403
    assert _status_of(lambda: alice.list_namespaced_secret(ns, watch=True, timeout_seconds=1)) == 403
    assert _status_of(lambda: alice.patch_namespaced_secret(other, ns, {"metadata": {"labels": {"x": "y"}}})) == 403
    # update and replace are one verb ("update", HTTP PUT) in RBAC; the client calls it replace.
    replacement = V1Secret(metadata=V1ObjectMeta(name=other), string_data={"TOKEN": "x"})
    assert _status_of(lambda: alice.replace_namespaced_secret(other, ns, replacement)) == 403
    # Not even its own Secret can be written (the store's management identity does that).
    own = project_secret_name(PROJECT_A)
    assert _status_of(lambda: alice.patch_namespaced_secret(own, ns, {"metadata": {"labels": {"x": "y"}}})) == 403
    own_replacement = V1Secret(metadata=V1ObjectMeta(name=own), string_data={"TOKEN": "x"})
    assert _status_of(lambda: alice.replace_namespaced_secret(own, ns, own_replacement)) == 403
    assert _status_of(lambda: alice.list_secret_for_all_namespaces()) == 403


@pytest.mark.kubernetes
def test_forbidden_error_is_clear_and_carries_no_value(env: Env) -> None:
    store = ProjectSecretsStore(env.users["alice"], env.namespace)
    with pytest.raises(KubernetesAccessError) as info:
        store.list_keys(PROJECT_B)
    err = info.value
    assert isinstance(err, SecretAccessError)
    assert err.status == 403 and err.attempts == 1  # permanent: not retried
    text = str(err)
    assert f"Secret {project_secret_name(PROJECT_B)!r} in namespace {env.namespace!r}" in text
    assert "HTTP 403 Forbidden" in text
    assert 'User "alice" cannot get resource "secrets"' in text
    assert VALUE_A not in text and VALUE_B not in text


@pytest.mark.kubernetes
def test_project_b_launcher_is_symmetric(env: Env) -> None:
    bob = env.users["bob"]
    assert _status_of(lambda: bob.read_namespaced_secret(project_secret_name(PROJECT_B), env.namespace)) == 200
    assert _status_of(lambda: bob.read_namespaced_secret(project_secret_name(PROJECT_A), env.namespace)) == 403


@pytest.mark.kubernetes
def test_launcher_can_run_a_task(env: Env) -> None:
    """Create the per-task Secret and a pod that uses it, then clean both up."""
    alice, ns = env.users["alice"], env.namespace
    pod = alice.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "task-1"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "base",
                        "image": "busybox:1.36",
                        "env": [
                            {
                                "name": "TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": project_secret_name(PROJECT_A), "key": "TOKEN"}},
                            }
                        ],
                        "envFrom": [{"secretRef": {"name": "task-1-secrets"}}],
                    }
                ],
            },
        },
    )
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "task-1", "uid": pod.metadata.uid}
    created = alice.create_namespaced_secret(
        ns,
        {"metadata": {"name": "task-1-secrets", "ownerReferences": [owner]}, "stringData": {"X": "per-task"}},
    )
    assert created.metadata.owner_references[0].uid == pod.metadata.uid
    assert alice.read_namespaced_pod("task-1", ns).metadata.uid == pod.metadata.uid
    assert [p.metadata.name for p in alice.list_namespaced_pod(ns).items] == ["task-1"]
    alice.patch_namespaced_pod("task-1", ns, {"metadata": {"labels": {"already_checked": "True"}}})
    alice.list_namespaced_event(ns)
    alice.list_namespaced_config_map(ns, label_selector="airflow-secrets-provider/preset=true")  # presets
    # Needs a kubelet to exercise, so ask the authorizer itself.
    assert env.can("alice", "get", "pods", subresource="log")
    assert env.can("alice", "create", "pods", subresource="exec")
    assert env.can("alice", "get", "pods", subresource="exec")
    assert env.can("alice", "watch", "events")
    # Reading the per-task Secret back is not needed and not allowed.
    assert _status_of(lambda: alice.read_namespaced_secret("task-1-secrets", ns)) == 403
    alice.delete_namespaced_secret("task-1-secrets", ns)
    alice.delete_namespaced_pod("task-1", ns, grace_period_seconds=0)
    assert _status_of(lambda: env.admin.read_namespaced_secret("task-1-secrets", ns)) == 404


@pytest.mark.kubernetes
def test_viewer_sees_pods_but_no_secret(env: Env) -> None:
    carol, ns = env.users["carol"], env.namespace
    assert _status_of(lambda: carol.list_namespaced_pod(ns)) == 200
    for project in (PROJECT_A, PROJECT_B):
        name = project_secret_name(project)
        assert _status_of(functools.partial(carol.read_namespaced_secret, name, ns)) == 403
    assert _status_of(lambda: carol.list_namespaced_secret(ns)) == 403
    assert _status_of(lambda: carol.list_namespaced_secret(ns, watch=True, timeout_seconds=1)) == 403
    assert _status_of(lambda: carol.create_namespaced_secret(ns, {"metadata": {"name": "x"}})) == 403
    assert _status_of(lambda: carol.create_namespaced_pod(ns, {"metadata": {"name": "x"}})) == 403
    assert not env.can("carol", "get", "secrets", project_secret_name(PROJECT_A))
    assert not env.can("carol", "get", "pods", subresource="log")  # raw logs only with raw_logs=True


@pytest.mark.kubernetes
def test_without_the_rbac_alice_is_refused(
    kube_cluster: KubeCluster, kube_namespace: str, kube_user_tokens: dict[str, str]
) -> None:
    """Control: the 200s above come from the rendered Role, not from a permissive cluster."""
    with kube_cluster.api_client() as admin_client, kube_cluster.api_client(kube_user_tokens["alice"]) as client:
        ProjectSecretsStore(CoreV1Api(admin_client), kube_namespace).set_secrets(PROJECT_A, {"TOKEN": VALUE_A})
        alice = CoreV1Api(client)
        assert _status_of(lambda: alice.read_namespaced_secret(project_secret_name(PROJECT_A), kube_namespace)) == 403
        assert _status_of(lambda: alice.create_namespaced_pod(kube_namespace, {"metadata": {"name": "x"}})) == 403


# -- the CLI ------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from airflow_secrets_provider.cli import main

    code = main(["rbac", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_help_explains_every_role(capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_secrets_provider.cli import main

    with pytest.raises(SystemExit) as info:
        main(["rbac", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for words in ("launcher", "viewer", "ui ", "cleanup", "--all-namespaces", "ui_namespace", "never get/list/watch"):
        assert words in text, words


def test_cli_ui_and_cleanup_print_the_functions_documents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "ui", "--layout", "shared-namespace", "--namespace", "ml", "--service-account", "sa")
    assert code == 0
    assert list(yaml.safe_load_all(out)) == ui_rbac(
        "ml", [RbacSubject.service_account("sa")], layout="shared-namespace"
    )
    assert not out.startswith("#")  # the launcher's warning is about launchers
    args = ["ui", "--namespace", "airflow", "--project", "fraud", "--project", "churn"]
    code, out, _ = _cli(capsys, *args, "--namespace-template", "ml-{project}", "--service-account", "airflow/api")
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    namespaces = [d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"]
    assert namespaces == ["ml-fraud", "ml-churn"]  # printed first, labelled, as the launcher's output does
    assert documents[2:] == ui_rbac(
        "airflow",
        [RbacSubject.service_account("api", "airflow")],
        projects=["fraud", "churn"],
        namespace_template="ml-{project}",
    )
    code, out, _ = _cli(
        capsys, "cleanup", "--project", "fraud", "--service-account", "airflow/scheduler", "--all-namespaces"
    )
    assert code == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(out)]
    assert kinds == ["Namespace", "ClusterRole", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]


def test_cli_launcher_output_is_unchanged_by_the_new_roles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        capsys, "launcher", "--layout", "shared-namespace", "--namespace", "ml", "--project", "fraud", "--user", "a"
    )
    assert code == 0
    assert list(yaml.safe_load_all(out)) == launcher_rbac("fraud", "ml", [RbacSubject.user("a")])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ui", "--project", "fraud", "--user", "a"], "namespace: is required for a ui role"),
        (["ui", "--layout", "shared-namespace", "--namespace", "ml", "--project", "p", "--user", "a"], "project:"),
        (["cleanup", "--user", "a"], "project: give at least one --project"),
        (["cleanup", "--layout", "shared-namespace", "--user", "a"], "namespace: is required"),
        (["cleanup", "--project", "a", "--project", "b", "--namespace", "x", "--user", "u"], "namespace: names one"),
        (["cleanup", "--project", "p", "--service-account", "cleaner"], "subject.namespace: is required"),
        (["launcher", "--project", "a", "--project", "b", "--user", "u"], "project: give one project"),
        (["viewer", "--project", "p", "--user", "u", "--all-namespaces"], "all-namespaces: only applies"),
        (["ui", "--namespace", "ml", "--user", "u", "--readable-secret", "x"], "readable-secret: only applies"),
        (["cleanup", "--project", "p", "--user", "u", "--raw-logs"], "raw-logs: only applies"),
    ],
)
def test_cli_usage_errors_name_the_field(capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    code, out, err = _cli(capsys, *args)
    assert (code, out) == (2, "")
    assert words in err and err.count("\n") == 1, err
