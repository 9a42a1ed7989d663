"""Presets from the API server and from the configured file: the CLI, the operator and render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client import CoreV1Api

from airflow_secrets_provider import SecretTaskOperator
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.preset_store import PresetStore
from airflow_secrets_provider.pod_spec.presets import APPLIED_ANNOTATION, PRESET_LABEL, parse_preset
from devstack.kube_cluster import KubeCluster
from tests.support.cli import kubeconfig_of, run_cli
from tests.test_presets import REGION, S3

pytestmark = pytest.mark.kubernetes

FILE_PRESET = {
    "name": "from-file",
    "desc": "defined in the Airflow config's presets_file",
    "selector": {"matchLabels": {"file-preset": "yes"}},
    "env": [{"name": "FROM_FILE", "value": "1"}],
}
FILE_ENV = "AIRFLOW__SECRETS_PROVIDER__PRESETS_FILE"


def test_presets_apply_list_show_delete_and_history(
    kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str, tmp_path: Path
) -> None:
    ns = ["--namespace", kube_namespace]
    source = tmp_path / "presets.yaml"
    source.write_text(yaml.safe_dump({"presets": [S3, REGION]}))
    presets_file = tmp_path / "file-presets.yaml"
    presets_file.write_text(yaml.safe_dump([FILE_PRESET]))
    env = {FILE_ENV: str(presets_file)}

    applied = run_cli(kube_cluster, "presets", "apply", "-f", str(source), *ns)
    assert applied.code == 0, applied.err
    assert applied.out.splitlines() == ["preset/s3 created", "preset/region created"]
    again = run_cli(kube_cluster, "presets", "apply", "-f", str(source), *ns, "-o", "json")
    assert json.loads(again.out)["presets"] == {"s3": "unchanged", "region": "unchanged"}
    changed = {**REGION, "env": [{"name": "AWS_REGION", "value": "us-east-1"}]}
    assert run_cli(kube_cluster, "presets", "apply", "-f", "-", *ns, stdin=yaml.safe_dump(changed)).out.strip() == (
        "preset/region configured"
    )
    config_maps = core.list_namespaced_config_map(kube_namespace, label_selector=f"{PRESET_LABEL}=true").items
    assert sorted(c.metadata.name for c in config_maps) == ["region", "s3"]

    listed = run_cli(kube_cluster, "presets", "list", *ns, "-o", "json", env=env)
    assert listed.code == 0, listed.err
    assert [(p["name"], p["origin"].split()[0]) for p in json.loads(listed.out)] == [
        ("region", "ConfigMap"),
        ("s3", "ConfigMap"),
        ("from-file", "file"),
    ]
    table = run_cli(kube_cluster, "presets", "list", *ns, env=env).out.splitlines()
    assert table[0].split()[:3] == ["NAME", "SELECTOR", "ORIGIN"] and table[2].split()[:2] == ["s3", "s3=true"]
    shown = json.loads(run_cli(kube_cluster, "presets", "show", "s3", *ns, "-o", "json").out)
    assert shown["volumeMounts"] == S3["volumeMounts"] and shown["selector"] == S3["selector"]
    assert run_cli(kube_cluster, "presets", "show", "nope", *ns).code == 2

    deleted = run_cli(kube_cluster, "presets", "delete", "region", *ns)
    assert deleted.code == 0 and deleted.out.strip() == "preset/region deleted"
    history = json.loads(run_cli(kube_cluster, "history", "--preset", "region", *ns, "-o", "json").out)
    assert [r["action"] for r in history] == ["preset-apply", "preset-apply", "preset-delete"]

    # Bad input: nothing written; a ConfigMap that is not a preset is not overwritten.
    bad = run_cli(
        kube_cluster, "presets", "apply", "-f", "-", *ns, stdin=yaml.safe_dump([{**S3, "name": "new", "selector": {}}])
    )
    assert bad.code == 1 and "presets[0].selector: is required" in bad.err
    core.create_namespaced_config_map(kube_namespace, {"metadata": {"name": "plain"}, "data": {"k": "v"}})
    refused = run_cli(kube_cluster, "presets", "apply", "-f", "-", *ns, stdin=yaml.safe_dump({**S3, "name": "plain"}))
    assert refused.code == 1 and "is not a preset" in refused.err
    assert core.read_namespaced_config_map("plain", kube_namespace).data == {"k": "v"}
    names = sorted(c.metadata.name for c in core.list_namespaced_config_map(kube_namespace).items)
    assert "new" not in names


def _operator(kube_cluster: KubeCluster, namespace: str, **kwargs: object) -> SecretTaskOperator:
    return SecretTaskOperator(
        task_id="preset-task",
        image="busybox",
        namespace=namespace,
        kubernetes_conn_id=None,
        config_file=kubeconfig_of(kube_cluster),
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_operator_applies_matching_presets_from_the_cluster_and_the_file(
    kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PresetStore(SecretsKubernetesHook.for_client(core), kube_namespace)
    for data in (S3, REGION):
        store.apply(parse_preset(data, "test"))
    presets_file = tmp_path / "file-presets.yaml"
    presets_file.write_text(yaml.safe_dump([FILE_PRESET]))
    monkeypatch.setenv(FILE_ENV, str(presets_file))

    op = _operator(kube_cluster, kube_namespace, labels={"s3": "true", "file-preset": "yes"})  # not team=...
    op.prepare_secrets()
    pod = op.build_pod_request_obj(dry_run=True)
    assert pod.metadata.annotations[APPLIED_ANNOTATION] == "from-file,s3"
    env = [e.name for e in pod.spec.containers[0].env]
    assert "FROM_FILE" in env and "AWS_ACCESS_KEY_ID" in env and "AWS_REGION" not in env
    assert [s.name for s in pod.spec.image_pull_secrets] == ["regcred"]

    unmatched = _operator(kube_cluster, kube_namespace, labels={"other": "x"})
    unmatched.prepare_secrets()
    pod = unmatched.build_pod_request_obj(dry_run=True)
    assert APPLIED_ANNOTATION not in (pod.metadata.annotations or {}) and not pod.spec.containers[0].env

    # A preset that conflicts with the task fails it before anything is created.
    clash = _operator(kube_cluster, kube_namespace, labels={"team": "ml"}, env_vars={"AWS_REGION": "us-east-1"})
    with pytest.raises(SecretConfigError) as caught:
        clash.prepare_secrets()
    assert caught.value.field == "env_vars" and "preset 'region' (ConfigMap 'region'" in str(caught.value)
    assert clash.resolved is None
    assert core.list_namespaced_pod(kube_namespace).items == []
    assert [
        s.metadata.name for s in core.list_namespaced_secret(kube_namespace).items if "preset" in s.metadata.name
    ] == []


def test_render_shows_the_presets_a_task_would_get(
    kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str, tmp_path: Path
) -> None:
    PresetStore(SecretsKubernetesHook.for_client(core), kube_namespace).apply(parse_preset(S3, "test"))
    presets_file = tmp_path / "file-presets.yaml"
    presets_file.write_text(yaml.safe_dump([FILE_PRESET]))
    dag_file = tmp_path / "preset_dag.py"
    dag_file.write_text(
        "from airflow.sdk import DAG\n"
        "from airflow_secrets_provider import SecretTaskOperator\n"
        "with DAG('presets_dag', schedule=None) as dag:\n"
        f"    SecretTaskOperator(task_id='t', image='busybox', namespace={kube_namespace!r},\n"
        "                       labels={'s3': 'true', 'file-preset': 'yes'})\n"
    )
    env = {FILE_ENV: str(presets_file)}
    offline = run_cli(None, "render", str(dag_file), "-o", "json", env={**env, "KUBECONFIG": "/nonexistent"})
    assert offline.code == 0, offline.err
    (document,) = json.loads(offline.out)
    assert document["presets"] == ["from-file"]  # the cluster is not asked without --cluster-presets

    online = run_cli(kube_cluster, "render", str(dag_file), "--cluster-presets", "-o", "json", env=env)
    assert online.code == 0, online.err
    (document,) = json.loads(online.out)
    assert document["presets"] == ["from-file", "s3"]
    assert document["pod"]["metadata"]["annotations"][APPLIED_ANNOTATION] == "from-file,s3"
    assert {e["name"] for e in document["pod"]["spec"]["containers"][0]["env"]} >= {"FROM_FILE", "AWS_ACCESS_KEY_ID"}


class _ConfigMapsRefused:
    """Test double around the real ``CoreV1Api``: listing ConfigMaps is refused (403)."""

    def __init__(self, api: CoreV1Api) -> None:
        self._api = api

    def __getattr__(self, name: str) -> object:
        return getattr(self._api, name)

    def list_namespaced_config_map(self, *args: object, **kwargs: object) -> object:
        from kubernetes.client.exceptions import ApiException

        raise ApiException(status=403, reason="Forbidden")


def test_a_launcher_that_may_not_list_config_maps_gets_the_file_presets_and_a_warning(
    kube_cluster: KubeCluster,
    core: CoreV1Api,
    kube_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    PresetStore(SecretsKubernetesHook.for_client(core), kube_namespace).apply(parse_preset(S3, "test"))
    presets_file = tmp_path / "file-presets.yaml"
    presets_file.write_text(yaml.safe_dump([FILE_PRESET]))
    monkeypatch.setenv(FILE_ENV, str(presets_file))
    op = _operator(kube_cluster, kube_namespace, labels={"s3": "true", "file-preset": "yes"})
    op.__dict__["hook"] = SecretsKubernetesHook.for_client(_ConfigMapsRefused(core))  # type: ignore[arg-type]
    op.prepare_secrets()
    assert op.resolved is not None and [p.name for p in op.resolved.presets] == ["from-file"]
    captured = capsys.readouterr()  # the operator logs through Airflow's structlog, to the console
    assert "Cannot list preset ConfigMaps" in captured.out + captured.err
