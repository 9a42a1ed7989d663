"""Secret manifests (Pachyderm's ``create secret -f``): every check before any request, no value shown."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.kube.manifests import describe_secret, parse_manifest
from tests.support.canaries import canary


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kubectl_yaml(name: str = "clearml", **data: str) -> str:
    """What ``kubectl create secret generic NAME --from-literal ... --dry-run=client -o yaml`` writes."""
    lines = "".join(f"  {key}: {b64(value)}\n" for key, value in data.items())
    return f"apiVersion: v1\ndata:\n{lines}kind: Secret\nmetadata:\n  creationTimestamp: null\n  name: {name}\n"


def test_kubectl_yaml_and_pachyderm_json() -> None:
    value = canary("manifest-yaml")
    manifest = parse_manifest(kubectl_yaml(access=value, secret="s"))
    assert manifest.name == "clearml" and manifest.type == "Opaque" and manifest.keys == ["access", "secret"]
    assert manifest.data["access"] == value.encode()
    assert value not in repr(manifest)

    pachyderm = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "clearml"},
        "type": "Opaque",
        "stringData": {"access": value, "secret": "x"},
        "data": {"access": b64("overridden")},
    }
    manifest = parse_manifest(json.dumps(pachyderm))
    assert manifest.data == {"access": value.encode(), "secret": b"x"}  # stringData wins, as on the API server


def test_tls_and_dockerconfigjson() -> None:
    tls = parse_manifest(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "web-tls"},
                "type": "kubernetes.io/tls",
                "data": {"tls.crt": b64("CERT"), "tls.key": b64("KEY")},
            }
        )
    )
    assert tls.type == "kubernetes.io/tls" and tls.keys == ["tls.crt", "tls.key"]
    docker = json.dumps({"auths": {"registry.local": {"auth": b64("u:p")}}})
    registry = parse_manifest(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "regcred"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": b64(docker)},
            }
        )
    )
    assert registry.keys == [".dockerconfigjson"]


BAD = canary("manifest-bad")


@pytest.mark.parametrize(
    ("document", "field", "problem"),
    [
        ({"kind": "ConfigMap"}, "kind", "must be 'Secret'"),
        ({"apiVersion": "v2"}, "apiVersion", "must be 'v1'"),
        ({"metadata": {"name": "Bad_Name"}}, "metadata.name", "is not a valid Kubernetes Secret name"),
        ({"metadata": {"name": "a" * 254}}, "metadata.name", "is not a valid Kubernetes Secret name"),
        ({"data": {"k": f"@@{BAD}@@"}}, "data[k]", "is not valid base64"),
        ({"data": {"bad key": b64(BAD)}}, "data", "has a key that is not a valid Secret key"),
        ({"stringData": {"..": BAD}}, "stringData", "has a key that is not a valid Secret key"),
        ({"data": {"k": b64("x" * (1024 * 1024 + 1))}}, "data", "over the Kubernetes limit of 1 MiB"),
        ({"type": "kubernetes.io/service-account-token"}, "type", "must be one of"),
        ({"type": "kubernetes.io/tls", "data": {"tls.crt": b64(BAD)}}, "data[tls.key]", "is required for type"),
        (
            {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64(BAD)}},
            "data[.dockerconfigjson]",
            "is not a JSON document",
        ),
        ({"data": {}}, "data", "has no keys"),
        ({"spec": {}}, "spec", "is not a field of a Secret manifest"),
        ({"immutable": "yes"}, "immutable", "must be true or false"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_bad_manifests_name_the_field_never_the_value(document: dict[str, object], field: str, problem: str) -> None:
    base: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ok"},
        "stringData": {"k": "v"},
    }
    if "data" in document or "type" in document:
        base.pop("stringData")
    base.update(document)
    with pytest.raises(SecretConfigError) as caught:
        parse_manifest(json.dumps(base))
    assert caught.value.field == field and problem in str(caught.value)
    assert BAD not in str(caught.value) and caught.value.__context__ is None


def test_unparsable_text_names_the_line_only() -> None:
    with pytest.raises(SecretConfigError) as caught:
        parse_manifest(f"apiVersion: v1\nkind: Secret\nstringData: [{BAD}\n", "secret.yaml")
    assert "secret.yaml is not valid JSON or YAML" in str(caught.value) and BAD not in str(caught.value)
    with pytest.raises(SecretConfigError, match="exactly one document, found 2"):
        parse_manifest(kubectl_yaml(k="v") + "---\n" + kubectl_yaml(k="w"))


def test_inspect_shows_no_values_even_from_kubectl_apply() -> None:
    from kubernetes.client import V1ObjectMeta, V1Secret

    value = canary("last-applied")
    secret = V1Secret(
        metadata=V1ObjectMeta(
            name="s",
            namespace="ns",
            labels={"app.kubernetes.io/managed-by": "airflow-secrets-provider"},
            annotations={"kubectl.kubernetes.io/last-applied-configuration": json.dumps({"stringData": {"k": value}})},
        ),
        data={"k": b64(value)},
        type="Opaque",
    )
    described = describe_secret(secret)
    assert described["keys"] == ["k"] and described["annotations"] == {}
    assert value not in json.dumps(described) and b64(value) not in json.dumps(described)


@pytest.mark.parametrize(
    ("document", "field_start", "problem"),
    [
        ({f"DB_PASSWORD={BAD}": 1}, "<a field name of", "is not a field of a Secret manifest"),
        ({"metadata": {"name": "ok", f"token={BAD}": 1}}, "metadata.<a field name of", "is not accepted"),
        ({"metadata": {"name": "ok", "labels": {f"team={BAD}": 1}}}, "metadata.labels[<a key of", "must be a string"),
    ],
    ids=["top-level", "metadata", "label"],
)
def test_a_field_name_that_may_hold_a_value_is_described(
    document: dict[str, object], field_start: str, problem: str
) -> None:
    base: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ok"},
        "stringData": {"k": "v"},
    }
    base.update(document)
    with pytest.raises(SecretConfigError) as caught:
        parse_manifest(json.dumps(base))
    assert caught.value.field.startswith(field_start) and problem in str(caught.value)
    assert "not shown" in caught.value.field
    assert BAD not in str(caught.value) and BAD not in repr(caught.value)
