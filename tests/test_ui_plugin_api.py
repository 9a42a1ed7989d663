"""The Secrets page's API through the real Airflow app, its real auth manager and a real API server.

Requests go through ``airflow.api_fastapi.app.create_app`` (the app ``airflow api-server``
serves) with the Simple auth manager and real JWTs; the plugin is mounted by Airflow from the
``airflow.plugins`` entry point; Kubernetes is the ``kubernetes`` tier's API server. Every
response body is checked for the canary values. The api-server's own Kubernetes identity is the
cluster admin, except in the RBAC tests: there it is a ServiceAccount holding only what
``airflow-secrets rbac ui`` prints (both layouts), or nothing at all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import CoreV1Api, V1ObjectMeta, V1Secret

from airflow_secrets_provider.core.naming import project_secret_name
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.audit import history
from airflow_secrets_provider.kube.preset_store import PresetStore
from airflow_secrets_provider.kube.projects import MAX_SECRET_BYTES, ProjectSecretsStore
from airflow_secrets_provider.plugins.api import MAX_BODY_BYTES
from airflow_secrets_provider.pod_spec.presets import parse_preset
from devstack.kube_cluster import KubeCluster
from tests.support.airflow_ui_app import AirflowUiApp, plugin_config
from tests.support.canaries import canary
from tests.support.cli import kubeconfig_of
from tests.support.rbac_apply import (
    Applied,
    apply_documents,
    rbac_documents,
    service_account_token,
    status_of,
    token_kubeconfig,
)

pytestmark = [pytest.mark.kubernetes, pytest.mark.airflow]

BASE = "/secrets-provider"
PROJECT = "fraud"
VALUE = canary("ui-value")
OTHER_VALUE = canary("ui-other")


class Recorder:
    """Sends requests as a user and keeps every response body, to check none holds a value."""

    def __init__(self, ui: AirflowUiApp) -> None:
        self.ui = ui
        self.bodies: list[str] = []

    def __call__(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **(self.ui.headers(user) if user else {})}
        response = self.ui.client.request(method, BASE + path, headers=headers, **kwargs)
        self.bodies.append(response.text)
        return response

    def assert_no_values(self, *values: str) -> None:
        leaked = [value for value in values for body in self.bodies if value in body]
        assert not leaked, "a response body holds a secret value"


@pytest.fixture
def page(
    airflow_ui_app: AirflowUiApp, kube_cluster: KubeCluster, kube_namespace: str
) -> Iterator[tuple[Recorder, str]]:
    with pytest.MonkeyPatch.context() as patch:
        plugin_config(patch, kubeconfig_of(kube_cluster), kube_namespace)
        recorder = Recorder(airflow_ui_app)
        yield recorder, kube_namespace
        recorder.assert_no_values(VALUE, OTHER_VALUE)


@pytest.fixture
def hook(kube_cluster: KubeCluster) -> SecretsKubernetesHook:
    return SecretsKubernetesHook(kubernetes_conn_id=None, config_file=kubeconfig_of(kube_cluster))


ENDPOINTS = [
    ("GET", "/"),
    ("GET", "/static/secrets.js"),
    ("GET", "/api/me"),
    ("GET", "/api/projects"),
    ("GET", f"/api/projects/{PROJECT}/keys"),
    ("PUT", f"/api/projects/{PROJECT}/keys/API_TOKEN"),
    ("DELETE", f"/api/projects/{PROJECT}/keys/API_TOKEN"),
    ("GET", "/api/presets"),
    ("GET", "/api/history"),
]


def test_airflow_loads_the_plugin_from_its_entry_point(airflow_ui_app: AirflowUiApp) -> None:
    response = airflow_ui_app.client.get("/api/v2/plugins", headers=airflow_ui_app.headers("admin"))
    assert response.status_code == 200, response.text
    plugin = next(p for p in response.json()["plugins"] if p["name"] == "airflow_secrets_provider")
    assert plugin["source"].startswith("airflow-secrets-provider")  # the entry point's distribution
    assert [(a["name"], a["url_prefix"]) for a in plugin["fastapi_apps"]] == [("Secrets", BASE)]
    (view,) = plugin["external_views"]
    assert (view["name"], view["href"], view["url_route"], view["nav_top_level"]) == (
        "Secrets",
        f"{BASE}/",
        "secrets",
        True,
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_needs_an_airflow_user(page: tuple[Recorder, str], method: str, path: str) -> None:
    call, namespace = page
    response = call(method, path, json={"value": VALUE} if method == "PUT" else None)
    assert response.status_code == 401, response.text
    assert secret_names(namespace) == []


def secret_names(namespace: str) -> list[str]:
    """The namespace's Secrets (names), read with the page's own config (the cluster admin)."""
    from airflow_secrets_provider.plugins.cluster import connect

    kube, ns = connect()
    assert ns == namespace
    return [s.metadata.name for s in kube.list_secrets(namespace, "").items if s.type == "Opaque"]


def test_the_ui_cookie_is_accepted(page: tuple[Recorder, str], airflow_ui_app: AirflowUiApp) -> None:
    """The page in the UI's iframe is authenticated by the UI's own ``_token`` cookie."""
    client = airflow_ui_app.client
    client.cookies.set("_token", airflow_ui_app.token("viewer"))
    try:
        html = client.get(f"{BASE}/")
        script = client.get(f"{BASE}/static/secrets.js")
    finally:
        client.cookies.clear()
    assert html.status_code == 200 and "<h1>Secrets</h1>" in html.text
    assert "frame-ancestors 'self'" in html.headers["content-security-policy"]
    assert html.headers["cache-control"] == "no-store"
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("user", ["viewer", "user"])
def test_readers_without_edit_rights_get_403_and_nothing_changes(
    page: tuple[Recorder, str], hook: SecretsKubernetesHook, user: str
) -> None:
    call, namespace = page
    assert call("PUT", f"/api/projects/{PROJECT}/keys/SEED", "op", json={"value": OTHER_VALUE}).status_code == 200

    me = call("GET", "/api/me", user).json()
    assert me == {
        "user": user,
        "namespace": namespace,
        "project_namespace": None,
        "can_set": False,
        "can_delete": False,
    }
    assert call("GET", f"/api/projects/{PROJECT}/keys", user).json()["keys"][0]["key"] == "SEED"

    denied_set = call("PUT", f"/api/projects/{PROJECT}/keys/API_TOKEN", user, json={"value": VALUE})
    denied_delete = call("DELETE", f"/api/projects/{PROJECT}/keys/SEED", user)
    assert (denied_set.status_code, denied_delete.status_code) == (403, 403)
    assert [k["key"] for k in call("GET", f"/api/projects/{PROJECT}/keys", "op").json()["keys"]] == ["SEED"]
    assert [r.action for r in history(hook, namespace, project=PROJECT)] == ["set"]


def test_set_list_and_delete_a_key_with_audit_entries(
    page: tuple[Recorder, str], hook: SecretsKubernetesHook, kube_cluster: KubeCluster
) -> None:
    call, namespace = page
    assert call("GET", "/api/me", "op").json()["can_set"] is True
    assert call("GET", "/api/projects", "op").json()["projects"] == []

    created = call("PUT", f"/api/projects/{PROJECT}/keys/API_TOKEN", "op", json={"value": VALUE})
    assert created.status_code == 200, created.text
    assert created.json() == {"project": PROJECT, "namespace": namespace, "set": "API_TOKEN", "keys": ["API_TOKEN"]}
    changed = call("PUT", f"/api/projects/{PROJECT}/keys/db.password", "admin", json={"value": OTHER_VALUE})
    assert changed.json()["keys"] == ["API_TOKEN", "db.password"]

    # The values reached the cluster (read there, not through the page).
    with kube_cluster.api_client() as client:
        secret = CoreV1Api(client).read_namespaced_secret(project_secret_name(PROJECT), namespace)
    assert base64.b64decode(secret.data["API_TOKEN"]).decode() == VALUE
    assert base64.b64decode(secret.data["db.password"]).decode() == OTHER_VALUE

    assert call("GET", "/api/projects", "viewer").json()["projects"] == [
        {"project": PROJECT, "keys": 2, "namespace": namespace}
    ]
    listed = call("GET", f"/api/projects/{PROJECT}/keys", "viewer").json()["keys"]
    assert [k["key"] for k in listed] == ["API_TOKEN", "db.password"]
    assert all(k["updated"] and k["updated"].endswith("Z") for k in listed)

    deleted = call("DELETE", f"/api/projects/{PROJECT}/keys/API_TOKEN", "op")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["keys"] == ["db.password"]
    assert [k["key"] for k in call("GET", f"/api/projects/{PROJECT}/keys", "op").json()["keys"]] == ["db.password"]

    # Audit: the same Events the CLI writes (read with audit.history), the Airflow user as actor.
    records = history(hook, namespace, project=PROJECT)
    assert [(r.action, r.actor, r.keys) for r in records] == [
        ("set", "op (Airflow UI)", ("API_TOKEN",)),
        ("set", "admin (Airflow UI)", ("db.password",)),
        ("unset", "op (Airflow UI)", ("API_TOKEN",)),
    ]
    entries = call("GET", "/api/history", "viewer").json()["entries"]
    assert [(e["action"], e["actor"], e["keys"]) for e in entries] == [
        ("unset", "op (Airflow UI)", ["API_TOKEN"]),
        ("set", "admin (Airflow UI)", ["db.password"]),
        ("set", "op (Airflow UI)", ["API_TOKEN"]),
    ]
    assert [e["action"] for e in call("GET", f"/api/history?project={PROJECT}&limit=1", "op").json()["entries"]] == [
        "unset"
    ]

    # Deleting the last key removes the project's Secret (the store's rule).
    assert call("DELETE", f"/api/projects/{PROJECT}/keys/db.password", "op").json()["keys"] == []
    assert call("GET", "/api/projects", "op").json()["projects"] == []


BAD_SETS = [
    # (path, request kwargs, status, field, words in the message)
    ("/api/projects/Bad_Project/keys/K", {"json": {"value": VALUE}}, 400, "project", "not a valid"),
    (f"/api/projects/{PROJECT}/keys/bad key!", {"json": {"value": VALUE}}, 400, "values[", "not a valid secret key"),
    (f"/api/projects/{PROJECT}/keys/{{{{ var }}}}", {"json": {"value": VALUE}}, 400, "values[", "template"),
    (
        f"/api/projects/{PROJECT}/keys/K",
        {"content": VALUE, "headers": {"Content-Type": "text/plain"}},
        400,
        "body",
        "JSON",
    ),
    (
        f"/api/projects/{PROJECT}/keys/K",
        {"content": "{" + VALUE, "headers": {"Content-Type": "application/json"}},
        400,
        "body",
        "not valid JSON",
    ),
    (f"/api/projects/{PROJECT}/keys/K", {"json": [VALUE]}, 400, "body", "JSON object"),
    (f"/api/projects/{PROJECT}/keys/K", {"json": {"secret": VALUE}}, 400, "body", "unknown field"),
    (f"/api/projects/{PROJECT}/keys/K", {"json": {}}, 400, "value", "is required"),
    (f"/api/projects/{PROJECT}/keys/K", {"json": {"value": 12345}}, 400, "value", "must be a string"),
    (
        f"/api/projects/{PROJECT}/keys/K",
        {"json": {"value": VALUE * (MAX_SECRET_BYTES // len(VALUE) + 1)}},
        400,
        "values",
        "1 MiB",
    ),
    (
        f"/api/projects/{PROJECT}/keys/K",
        {
            "content": json.dumps({"value": VALUE * (MAX_BODY_BYTES // len(VALUE) + 1)}),
            "headers": {"Content-Type": "application/json"},
        },
        400,
        "body",
        "larger than",
    ),
]


@pytest.mark.parametrize(("path", "kwargs", "code", "field", "words"), BAD_SETS)
def test_bad_input_is_one_line_naming_the_field_and_writes_nothing(
    page: tuple[Recorder, str],
    hook: SecretsKubernetesHook,
    path: str,
    kwargs: dict[str, Any],
    code: int,
    field: str,
    words: str,
) -> None:
    call, namespace = page
    response = call("PUT", path, "op", **kwargs)
    assert response.status_code == code, response.text
    body = response.json()
    assert body["field"].startswith(field)
    assert words in body["detail"] and "\n" not in body["detail"]
    assert VALUE not in response.text
    assert call("GET", "/api/projects", "op").json()["projects"] == []
    assert history(hook, namespace) == []


def test_deleting_what_does_not_exist_is_404_and_changes_nothing(
    page: tuple[Recorder, str], hook: SecretsKubernetesHook
) -> None:
    call, namespace = page
    missing_project = call("DELETE", f"/api/projects/{PROJECT}/keys/NOPE", "op")
    assert missing_project.status_code == 404 and "'NOPE' not found" in missing_project.json()["detail"]
    call("PUT", f"/api/projects/{PROJECT}/keys/KEEP", "op", json={"value": VALUE})
    missing_key = call("DELETE", f"/api/projects/{PROJECT}/keys/NOPE", "op")
    assert missing_key.status_code == 404 and "'NOPE' not found" in missing_key.json()["detail"]
    bad_key = call("DELETE", f"/api/projects/{PROJECT}/keys/..", "op")
    assert bad_key.status_code in (400, 404)  # '..' may be normalised away by the HTTP client
    assert [k["key"] for k in call("GET", f"/api/projects/{PROJECT}/keys", "op").json()["keys"]] == ["KEEP"]
    assert [r.action for r in history(hook, namespace, project=PROJECT)] == ["set"]
    assert call("GET", "/api/projects/Bad_Project/keys", "op").status_code == 400
    assert call("GET", "/api/history?project=Bad_Project", "op").status_code == 400


def test_presets_show_description_and_selector_not_literal_values(
    page: tuple[Recorder, str], hook: SecretsKubernetesHook
) -> None:
    call, namespace = page
    preset = parse_preset(
        {
            "name": "s3-credentials",
            "desc": "S3 read access for the data team",
            "selector": {
                "matchLabels": {"s3": "true"},
                "matchExpressions": [{"key": "team", "operator": "In", "values": ["data"]}],
            },
            "env": [
                {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "access"}}},
                {"name": "LITERAL", "value": VALUE},
            ],
            "volumes": [{"name": "s3-config", "secret": {"secretName": "s3"}}],
            "volumeMounts": [{"name": "s3-config", "mountPath": "/etc/s3"}],
        },
        "test",
    )
    PresetStore(hook, namespace, actor="preset-admin").apply(preset)
    presets = call("GET", "/api/presets", "viewer").json()["presets"]
    assert presets == [
        {
            "name": "s3-credentials",
            "description": "S3 read access for the data team",
            "selector": {
                "matchLabels": {"s3": "true"},
                "matchExpressions": [{"key": "team", "operator": "In", "values": ["data"]}],
            },
            "origin": f"ConfigMap 's3-credentials' in namespace {namespace!r}",
            "env": ["AWS_ACCESS_KEY_ID", "LITERAL"],
            "volumes": ["s3-config"],
            "mounts": ["/etc/s3"],
            "image_pull_secrets": [],
        }
    ]
    entries = call("GET", "/api/history", "viewer").json()["entries"]
    assert [(e["action"], e["actor"], e["secret"]) for e in entries] == [
        ("preset-apply", "preset-admin", "s3-credentials")
    ]


def test_the_api_servers_kubernetes_identity_limits_the_page(
    page: tuple[Recorder, str], kube_cluster: KubeCluster, kube_user_tokens: dict[str, str], tmp_path: Any
) -> None:
    """An api-server identity without RBAC on the namespace: a one-line 502 naming the 403, no data."""
    call, namespace = page
    config = json.loads(json.dumps(_kubeconfig_dict(kube_cluster)))
    config["users"][0]["user"] = {"token": kube_user_tokens["alice"]}
    path = tmp_path / "alice.kubeconfig"
    path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        plugin_config(patch, path, namespace)
        listed = call("GET", "/api/projects", "admin")
        written = call("PUT", f"/api/projects/{PROJECT}/keys/K", "admin", json={"value": VALUE})
    for response in (listed, written):
        assert response.status_code == 502, response.text
        assert "403" in response.json()["detail"] and "\n" not in response.json()["detail"]
    assert secret_names(namespace) == []


def _kubeconfig_dict(cluster: KubeCluster) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(cluster.kubeconfig.read_text(encoding="utf-8"))
    return data


def _docs_blocks(role: str) -> list[tuple[str, list[str], str]]:
    """The docs' ``airflow-secrets rbac ROLE ...`` YAML blocks: the page, the command's arguments and the YAML shown."""
    import re
    import shlex

    from tests.support.stack_fixtures import REPO

    found = []
    for page in sorted((REPO / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for command, shown in re.findall(rf"```yaml\n# \$ airflow-secrets (rbac {role} [^\n]*)\n(.*?)```", text, re.S):
            found.append((str(page.relative_to(REPO)), shlex.split(command), shown))
    return found


def test_the_docs_show_the_generated_ui_and_cleanup_roles_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    """The docs print what the command prints: the Role the tests below apply is the one users see."""
    from airflow_secrets_provider.cli import main

    for role in ("ui", "cleanup"):
        blocks = _docs_blocks(role)
        assert blocks, f"no docs page has an `airflow-secrets rbac {role}` block"
        for page, args, shown in blocks:
            assert main(args) == 0
            assert capsys.readouterr().out == shown, f"{page} differs from `airflow-secrets {' '.join(args)}`"


def _as_service_account(
    kube_cluster: KubeCluster, documents: list[dict[str, Any]], namespace: str, account: str, tmp_path: Any
) -> tuple[str, str, Applied]:
    """Apply ``documents`` as an admin; the ServiceAccount's token and a kubeconfig holding only it."""
    applied = Applied()
    with kube_cluster.api_client() as client:
        admin = CoreV1Api(client)
        apply_documents(admin, documents, applied)
        token = service_account_token(admin, namespace, account)
    return token, token_kubeconfig(kube_cluster, token, tmp_path / f"{account}.kubeconfig"), applied


def _wait_for_the_grant(call: Recorder, path: str) -> None:
    """RBAC reaches the authorizer through an informer: a bounded wait for the grant to show."""
    import time

    deadline = time.monotonic() + 30
    while call("GET", path, "op").status_code != 200:
        assert time.monotonic() < deadline, "the generated Role never took effect"
        time.sleep(0.2)


def test_the_generated_ui_role_is_all_the_api_servers_identity_needs(
    page: tuple[Recorder, str], kube_cluster: KubeCluster, hook: SecretsKubernetesHook, tmp_path: Any
) -> None:
    """Shared namespace: a ServiceAccount holding only ``rbac ui``'s Role runs every action of the page."""
    call, namespace = page
    documents = rbac_documents(
        "ui", "--layout", "shared-namespace", "--namespace", namespace, "--service-account", "airflow-ui"
    )
    assert [d["kind"] for d in documents] == ["Role", "RoleBinding"]
    token, path, _ = _as_service_account(kube_cluster, documents, namespace, "airflow-ui", tmp_path)
    PresetStore(hook, namespace, actor="preset-admin").apply(
        parse_preset(
            {"name": "p1", "selector": {"matchLabels": {"a": "b"}}, "env": [{"name": "X", "value": "1"}]}, "test"
        )
    )
    with pytest.MonkeyPatch.context() as patch:
        plugin_config(patch, path, namespace)
        _wait_for_the_grant(call, "/api/projects")
        assert call("PUT", f"/api/projects/{PROJECT}/keys/A", "op", json={"value": VALUE}).status_code == 200
        assert call("PUT", f"/api/projects/{PROJECT}/keys/A", "op", json={"value": OTHER_VALUE}).status_code == 200
        assert call("PUT", f"/api/projects/{PROJECT}/keys/B", "op", json={"value": VALUE}).status_code == 200
        assert call("GET", "/api/projects", "op").json()["projects"] == [
            {"project": PROJECT, "keys": 2, "namespace": namespace}
        ]
        assert [k["key"] for k in call("GET", f"/api/projects/{PROJECT}/keys", "op").json()["keys"]] == ["A", "B"]
        assert [p["name"] for p in call("GET", "/api/presets", "op").json()["presets"]] == ["p1"]
        assert call("DELETE", f"/api/projects/{PROJECT}/keys/A", "op").json()["keys"] == ["B"]
        assert call("DELETE", f"/api/projects/{PROJECT}/keys/B", "op").json()["keys"] == []  # deletes the Secret
        entries = call("GET", "/api/history", "op").json()["entries"]
    assert [e["action"] for e in entries] == ["unset", "unset", "set", "set", "set", "preset-apply"]
    assert all("warnings" not in body for body in call.bodies)  # every audit Event was written
    with kube_cluster.api_client(token) as client:  # and nothing beyond the page's needs
        as_ui = CoreV1Api(client)
        assert status_of(lambda: as_ui.list_namespaced_pod(namespace)) == 403
        assert status_of(lambda: as_ui.list_secret_for_all_namespaces()) == 403
        assert status_of(lambda: as_ui.patch_namespaced_secret("x", namespace, {"metadata": {}})) == 403


def test_a_projects_key_count_by_name_matches_the_listing(kube_namespace: str, hook: SecretsKubernetesHook) -> None:
    """``key_count`` (one ``get``, what the page uses per project namespace) says what ``projects()`` says."""
    store = ProjectSecretsStore(hook, kube_namespace)
    assert store.key_count(PROJECT) is None  # no Secret
    hook.create_secret(
        V1Secret(metadata=V1ObjectMeta(name=project_secret_name("legacy")), string_data={"K": OTHER_VALUE}),
        kube_namespace,
    )
    assert store.key_count("legacy") is None  # a Secret of that name this provider did not create
    store.set_secrets(PROJECT, {"A": VALUE, "B": VALUE})
    assert store.key_count(PROJECT) == 2
    assert store.projects() == {PROJECT: 2}


def test_namespace_per_project_with_only_the_generated_ui_rbac(
    page: tuple[Recorder, str], kube_cluster: KubeCluster, hook: SecretsKubernetesHook, tmp_path: Any
) -> None:
    """One namespace per project: the page works with ``rbac ui``'s output only, and reads no other Secret.

    The identity gets each project's Secret by name: another Secret in the project's namespace (a
    service principal, a per-task Secret) is refused to it, as is listing Secrets anywhere.
    """
    import secrets as random

    call, home = page
    template = f"asp-ui-{random.token_hex(3)}-{{project}}"
    other = "churn"
    own, other_ns = template.replace("{project}", PROJECT), template.replace("{project}", other)
    documents = rbac_documents(
        "ui",
        "--namespace",
        home,
        "--project",
        PROJECT,
        "--project",
        other,
        "--namespace-template",
        template,
        "--service-account",
        "airflow-ui",
    )
    token, path, applied = _as_service_account(kube_cluster, documents, home, "airflow-ui", tmp_path)
    try:
        hook.create_secret(V1Secret(metadata=V1ObjectMeta(name="azure-sp"), string_data={"secret": OTHER_VALUE}), own)
        PresetStore(hook, home, actor="preset-admin").apply(
            parse_preset(
                {"name": "p1", "selector": {"matchLabels": {"a": "b"}}, "env": [{"name": "X", "value": "1"}]}, "test"
            )
        )
        with pytest.MonkeyPatch.context() as patch:
            plugin_config(patch, path, home)
            patch.setenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", template)
            _wait_for_the_grant(call, "/api/projects")
            assert (
                call("PUT", f"/api/projects/{PROJECT}/keys/A", "op", json={"value": VALUE}).json()["namespace"] == own
            )
            assert call("PUT", f"/api/projects/{PROJECT}/keys/B", "op", json={"value": VALUE}).status_code == 200
            assert call("PUT", f"/api/projects/{other}/keys/C", "op", json={"value": OTHER_VALUE}).status_code == 200
            assert call("GET", "/api/projects", "op").json()["projects"] == [
                {"project": other, "keys": 1, "namespace": other_ns},
                {"project": PROJECT, "keys": 2, "namespace": own},
            ]
            assert [k["key"] for k in call("GET", f"/api/projects/{PROJECT}/keys", "op").json()["keys"]] == ["A", "B"]
            assert [p["name"] for p in call("GET", "/api/presets", "op").json()["presets"]] == ["p1"]
            assert call("DELETE", f"/api/projects/{PROJECT}/keys/A", "op").json()["keys"] == ["B"]
            assert call("DELETE", f"/api/projects/{other}/keys/C", "op").json()["keys"] == []  # deletes the Secret
            entries = call("GET", "/api/history", "op").json()["entries"]
            assert [(e["action"], e["namespace"]) for e in entries] == [
                ("unset", other_ns),
                ("unset", own),
                ("set", other_ns),
                ("set", own),
                ("set", own),
                ("preset-apply", home),
            ]
            assert call("GET", "/api/projects", "op").json()["projects"] == [
                {"project": PROJECT, "keys": 1, "namespace": own}
            ]
        assert all("warnings" not in body for body in call.bodies)  # every audit Event was written
        with kube_cluster.api_client(token) as client:
            as_ui = CoreV1Api(client)
            assert status_of(lambda: as_ui.read_namespaced_secret("azure-sp", own)) == 403
            for namespace in (own, other_ns, home):
                assert status_of(lambda ns=namespace: as_ui.list_namespaced_secret(ns)) == 403
            assert status_of(lambda: as_ui.list_secret_for_all_namespaces()) == 403
            assert status_of(lambda: as_ui.read_namespaced_secret(project_secret_name(PROJECT), own)) == 200
    finally:
        with kube_cluster.api_client() as client:
            applied.remove(CoreV1Api(client))


def test_namespace_per_project_layout_uses_each_projects_namespace(
    page: tuple[Recorder, str], kube_cluster: KubeCluster, hook: SecretsKubernetesHook
) -> None:
    """``[secrets_provider] project_namespace`` set: keys go to the project's namespace, as the operator reads them."""
    import secrets as random

    from kubernetes.client import V1Namespace, V1ObjectMeta

    from airflow_secrets_provider.core.naming import PROJECT_LABEL

    call, home = page
    prefix = f"asp-ui-{random.token_hex(3)}"
    own = f"{prefix}-{PROJECT}"
    with kube_cluster.api_client() as client:
        core = CoreV1Api(client)
        # The project's Namespace as `airflow-secrets rbac` prints it (labelled), and a decoy whose
        # label claims the project but whose name is not the template's.
        core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=own, labels={PROJECT_LABEL: PROJECT})))
        core.create_namespace(
            V1Namespace(metadata=V1ObjectMeta(name=f"{prefix}-decoy", labels={PROJECT_LABEL: PROJECT}))
        )
        try:
            ProjectSecretsStore(hook, f"{prefix}-decoy").set_secrets(PROJECT, {"DECOY": OTHER_VALUE})
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", f"{prefix}-{{project}}")
                assert call("GET", "/api/me", "op").json()["project_namespace"] == f"{prefix}-{{project}}"
                written = call("PUT", f"/api/projects/{PROJECT}/keys/K", "op", json={"value": VALUE}).json()
                assert written["namespace"] == own
                assert [
                    (p["project"], p["namespace"]) for p in call("GET", "/api/projects", "op").json()["projects"]
                ] == [(PROJECT, own)]
                assert [k["key"] for k in call("GET", f"/api/projects/{PROJECT}/keys", "op").json()["keys"]] == ["K"]
                entries = call("GET", "/api/history", "op").json()["entries"]
                assert [(e["action"], e["namespace"]) for e in entries] == [("set", own)]
                assert call("DELETE", f"/api/projects/{PROJECT}/keys/K", "op").json()["keys"] == []
            secret_in_own = project_secret_name(PROJECT) in [
                s.metadata.name for s in core.list_namespaced_secret(own).items
            ]
            assert not secret_in_own
            assert [r.action for r in history(hook, own, project=PROJECT)] == ["set", "unset"]
            assert history(hook, home) == []  # nothing went to the page's home namespace
        finally:
            core.delete_namespace(own)
            core.delete_namespace(f"{prefix}-decoy")
