"""``airflow-secrets create -f|list|inspect|delete`` as a subprocess against the real API server."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from devstack.kube_cluster import KubeCluster
from tests.support.canaries import canary
from tests.support.cli import run_cli
from tests.test_manifests import b64, kubectl_yaml

pytestmark = pytest.mark.kubernetes


def _exists(core: CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_create_list_inspect_delete(
    kube_cluster: KubeCluster, core: CoreV1Api, admin_client: ApiClient, kube_namespace: str, tmp_path: Path
) -> None:
    ns = ["--namespace", kube_namespace]
    generic, tls_key, docker_password = canary("m-generic"), canary("m-tls"), canary("m-docker")
    (tmp_path / "generic.yaml").write_text(kubectl_yaml("clearml", access=generic, secret="s"))
    tls = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "web-tls", "labels": {"team": "ml"}},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64("CERT"), "tls.key": b64(tls_key)},
    }
    (tmp_path / "tls.json").write_text(json.dumps(tls))
    docker = json.dumps({"auths": {"registry.local": {"username": "u", "password": docker_password}}})
    registry = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": docker},
    }
    outputs = []

    created = run_cli(kube_cluster, "create", "-f", str(tmp_path / "generic.yaml"), *ns)
    outputs.append(created.text)
    assert created.code == 0, created.err
    assert created.out.strip() == "secret/clearml created (Opaque, keys access, secret)"
    created = run_cli(kube_cluster, "create", "-f", str(tmp_path / "tls.json"), *ns, "-o", "json")
    outputs.append(created.text)
    assert created.code == 0 and json.loads(created.out)["keys"] == ["tls.crt", "tls.key"]
    created = run_cli(kube_cluster, "create", "-f", "-", *ns, stdin=json.dumps(registry))
    outputs.append(created.text)
    assert created.code == 0, created.err

    stored = core.read_namespaced_secret("web-tls", kube_namespace)
    assert stored.type == "kubernetes.io/tls" and base64.b64decode(stored.data["tls.key"]).decode() == tls_key
    assert stored.metadata.labels["team"] == "ml" and stored.metadata.labels[MANAGED_BY_LABEL] == MANAGED_BY_VALUE

    # Someone else's Secret, and a project's: list shows managed ones only.
    core.create_namespaced_secret(kube_namespace, {"metadata": {"name": "foreign"}, "stringData": {"k": "v"}})
    assert run_cli(kube_cluster, "set", "fraud", *ns, "--from-literal", "K=v").code == 0
    listed = run_cli(kube_cluster, "list", *ns, "-o", "json")
    outputs.append(listed.text)
    assert [(s["name"], s["type"], len(s["keys"])) for s in json.loads(listed.out)] == [
        ("airflow-project-secrets-fraud", "Opaque", 1),
        ("clearml", "Opaque", 2),
        ("regcred", "kubernetes.io/dockerconfigjson", 1),
        ("web-tls", "kubernetes.io/tls", 2),
    ]
    table = run_cli(kube_cluster, "list", *ns).out.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "KEYS", "CREATED"] and table[2].split()[:3] == [
        "clearml",
        "Opaque",
        "2",
    ]

    inspected = run_cli(kube_cluster, "inspect", "web-tls", *ns, "-o", "json")
    outputs.append(inspected.text)
    described = json.loads(inspected.out)
    assert described["keys"] == ["tls.crt", "tls.key"] and described["type"] == "kubernetes.io/tls"
    assert described["labels"]["team"] == "ml" and described["namespace"] == kube_namespace
    table_view = run_cli(kube_cluster, "inspect", "regcred", *ns)
    outputs.append(table_view.text)
    assert table_view.code == 0 and "keys" in table_view.out and ".dockerconfigjson" in table_view.out

    refused = run_cli(kube_cluster, "inspect", "foreign", *ns)
    assert refused.code == 1 and "Secret 'foreign' is not managed by airflow-secrets-provider" in refused.err
    refused = run_cli(kube_cluster, "delete", "foreign", *ns)
    assert refused.code == 1 and "refusing" in refused.err and _exists(core, kube_namespace, "foreign")
    again = run_cli(kube_cluster, "create", "-f", str(tmp_path / "generic.yaml"), *ns)
    assert again.code == 1 and "Secret 'clearml' already exists" in again.err
    missing = run_cli(kube_cluster, "delete", "no-such-secret", *ns)
    assert missing.code == 1 and "not found" in missing.err

    deleted = run_cli(kube_cluster, "delete", "web-tls", *ns)
    assert deleted.code == 0 and deleted.out.strip() == "secret/web-tls deleted"
    assert not _exists(core, kube_namespace, "web-tls")

    history = run_cli(kube_cluster, "history", "--secret", "web-tls", *ns, "-o", "json")
    outputs.append(history.text)
    assert [(r["action"], r["keys"]) for r in json.loads(history.out)] == [
        ("create", ["tls.crt", "tls.key"]),
        ("delete", ["tls.crt", "tls.key"]),
    ]
    events = json.dumps(admin_client.sanitize_for_serialization(core.list_namespaced_event(kube_namespace)))
    everything = "\n".join(outputs) + events
    for value in (generic, tls_key, docker_password, b64(generic), b64(tls_key)):
        assert value not in everything


BAD = canary("m-cli-bad")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ({"kind": "ConfigMap"}, "kind: must be 'Secret'"),
        ({"data": {"k": f"!!{BAD}"}}, "data[k]: is not valid base64"),
        ({"data": {"not a key": b64(BAD)}}, "data: has a key that is not a valid Secret key"),
        ({"data": {"k": b64(BAD * (1024 * 1024 // len(BAD) + 1))}}, "over the Kubernetes limit of 1 MiB"),
        ({"metadata": {"name": "Not_DNS"}}, "metadata.name: 'Not_DNS' is not a valid Kubernetes Secret name"),
        (f"kind: Secret\nstringData: {{k: [{BAD}\n", "is not valid JSON or YAML"),
    ],
    ids=["wrong-kind", "bad-base64", "bad-key", "too-big", "bad-name", "not-yaml"],
)
def test_bad_manifests_write_nothing(
    kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str, manifest: object, expected: str
) -> None:
    if isinstance(manifest, dict):
        document: dict[str, object] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}}
        document.update(manifest)
        text = json.dumps(document)
    else:
        text = str(manifest)
    done = run_cli(kube_cluster, "create", "-f", "-", "--namespace", kube_namespace, stdin=text)
    assert done.code == 1, done.err
    assert expected in done.err and len(done.err.strip().splitlines()) == 1
    assert BAD not in done.text and b64(BAD) not in done.text
    assert core.list_namespaced_secret(kube_namespace, label_selector=MANAGED_BY_LABEL).items == []
    assert core.list_namespaced_event(kube_namespace).items == []


def test_create_usage_errors(kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    assert run_cli(kube_cluster, "create", "--namespace", kube_namespace).code == 2  # -f is required
    missing = run_cli(kube_cluster, "create", "-f", str(tmp_path / "none.yaml"), "--namespace", kube_namespace)
    assert missing.code == 1 and "not found" in missing.err
    other_ns = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "x", "namespace": "elsewhere"},
            "stringData": {"k": "v"},
        }
    )
    clash = run_cli(kube_cluster, "create", "-f", "-", "--namespace", kube_namespace, stdin=other_ns)
    assert clash.code == 1 and "metadata.namespace: is 'elsewhere'" in clash.err
