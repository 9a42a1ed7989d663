"""Presets (PodDefault semantics): parsing, selection and the one merge rule per pod field.

Pure tests: presets are handed to the operator's resolution directly. The cluster side
(ConfigMaps, the CLI, the configured file) is in tests/test_cli_presets.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import models as k8s

from airflow_secrets_provider import SecretTaskOperator
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.operators.resolve import ResolvedSecrets
from airflow_secrets_provider.pod_spec.presets import (
    APPLIED_ANNOTATION,
    Preset,
    matching,
    parse_preset,
    parse_presets_text,
)

S3 = {
    "name": "s3",
    "desc": "S3 credentials",
    "selector": {"matchLabels": {"s3": "true"}},
    "env": [{"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "access"}}}],
    "volumes": [{"name": "s3-config", "secret": {"secretName": "s3"}}],
    "volumeMounts": [{"name": "s3-config", "mountPath": "/etc/s3", "readOnly": True}],
    "imagePullSecrets": [{"name": "regcred"}],
}
REGION = {
    "name": "region",
    "selector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["ml", "data"]}]},
    "env": [{"name": "AWS_REGION", "value": "eu-west-1"}],
    "envFrom": [{"configMapRef": {"name": "team-config"}}],
    "imagePullSecrets": [{"name": "regcred"}],  # identical to s3's: kept once
}


def preset(data: dict[str, Any], origin: str = "test") -> Preset:
    return parse_preset(data, origin)


def build(presets: list[Preset], **kwargs: Any) -> k8s.V1Pod:
    """The pod as execute() builds it once these presets matched."""
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", kubernetes_conn_id=None, **kwargs)
    op.resolved = ResolvedSecrets("ns", presets=tuple(presets))
    return op.build_pod_request_obj(dry_run=True)


def test_selectors_match_labels_and_expressions() -> None:
    s3, region = preset(S3), preset(REGION)
    assert matching([s3, region], {"s3": "true", "team": "ml"}) == (region, s3)  # name order
    assert matching([s3, region], {"s3": "false", "team": "web"}) == ()
    assert matching([s3, region], {}) == ()
    exists = preset({**REGION, "name": "x", "selector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}})
    absent = preset(
        {**REGION, "name": "y", "selector": {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}}
    )
    assert matching([exists, absent], {"gpu": ""}) == (exists,)
    assert matching([exists, absent], {"cpu": "1"}) == (absent,)


def test_several_presets_merge_into_the_pod_and_are_recorded() -> None:
    pod = build([preset(REGION), preset(S3)], env_vars={"USER_VAR": "$(AWS_REGION)"}, labels={"s3": "true"})
    container = pod.spec.containers[0]
    assert [e.name for e in container.env] == ["AWS_REGION", "AWS_ACCESS_KEY_ID", "USER_VAR"]  # user's last: $(VAR)
    assert [m.mount_path for m in container.volume_mounts] == ["/etc/s3"]
    assert [v.name for v in pod.spec.volumes] == ["s3-config"]
    assert [s.name for s in pod.spec.image_pull_secrets] == ["regcred"]  # identical entries kept once
    assert container.env_from[0].config_map_ref.name == "team-config"
    assert pod.metadata.annotations[APPLIED_ANNOTATION] == "region,s3"


def test_an_entry_identical_to_the_users_is_fine() -> None:
    pod = build([preset(REGION)], env_vars={"AWS_REGION": "eu-west-1"})
    assert [e.name for e in pod.spec.containers[0].env].count("AWS_REGION") == 1


@pytest.mark.parametrize(
    ("other", "kwargs", "field", "what"),
    [
        # env: preset vs preset, preset vs the user's env_vars, preset vs a secret request
        (
            {**REGION, "name": "other", "env": [{"name": "AWS_REGION", "value": "us-east-1"}]},
            {},
            "presets",
            "environment variable 'AWS_REGION'",
        ),
        (None, {"env_vars": {"AWS_REGION": "us-east-1"}}, "env_vars", "environment variable 'AWS_REGION'"),
        (
            None,
            {"secrets": [{"name": "vault", "envVar": "AWS_REGION", "key": "r"}]},
            "presets",
            "environment variable 'AWS_REGION'",
        ),
        # volumes: same name, another source
        (
            {**S3, "name": "other", "volumes": [{"name": "s3-config", "emptyDir": {}}]},
            {},
            "presets",
            "volume name 's3-config'",
        ),
        # volume mounts: same path (in normal form), another volume
        (
            {
                **S3,
                "name": "other",
                "volumes": [{"name": "o", "emptyDir": {}}],
                "volumeMounts": [{"name": "o", "mountPath": "/etc/s3/"}],
            },
            {},
            "presets",
            "mount path '/etc/s3'",
        ),
        (
            None,
            {
                "volumes": [k8s.V1Volume(name="d", empty_dir=k8s.V1EmptyDirVolumeSource())],
                "volume_mounts": [k8s.V1VolumeMount(name="d", mount_path="/etc/s3")],
            },
            "volume_mounts",
            "mount path '/etc/s3'",
        ),
        # envFrom: the same ConfigMap with another setting
        (
            {**REGION, "name": "other", "envFrom": [{"configMapRef": {"name": "team-config", "optional": True}}]},
            {},
            "presets",
            "envFrom 'ConfigMap team-config prefix'",
        ),
    ],
    ids=["env-preset-preset", "env-user", "env-secret-request", "volume", "mount-preset", "mount-user", "env-from"],
)
def test_each_kind_of_conflict_is_rejected_naming_both_sources(
    other: dict[str, Any] | None, kwargs: dict[str, Any], field: str, what: str
) -> None:
    presets = [preset(S3, "file 'a.yaml'"), preset(REGION, "file 'a.yaml'")]
    if other is not None:
        presets.append(preset(other, "ConfigMap 'other' in namespace 'ns'"))
    with pytest.raises(SecretConfigError) as caught:
        build(presets, **kwargs)
    message = str(caught.value)
    assert caught.value.field == field and what in message and "set differently by" in message
    assert "preset" in message and " and by " in message


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({**S3, "selector": {}}, "preset.selector", "is required"),
        (
            {**S3, "selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
            "preset.selector.matchExpressions[0].operator",
            "must be one of",
        ),
        ({**S3, "env": [{"value": "x"}]}, "preset.env[0]", "is not a valid EnvVar"),
        ({**S3, "env": [{"name": "A", "valeu": "x"}]}, "preset.env[0]", "has fields a EnvVar does not have"),
        ({**S3, "name": "Bad_Name"}, "preset.name", "not a valid Kubernetes Secret name"),
        ({**S3, "sidecars": []}, "preset.sidecars", "is not a field of a preset"),
        ({"name": "empty", "selector": {"matchLabels": {"a": "b"}}}, "preset", "adds nothing"),
    ],
    ids=["no-selector", "bad-operator", "env-without-name", "misspelt-field", "bad-name", "unknown-field", "empty"],
)
def test_bad_presets_name_the_field(data: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(SecretConfigError) as caught:
        preset(data)
    assert caught.value.field == field and problem in str(caught.value)


def test_preset_files_hold_a_list_or_a_presets_key() -> None:
    import yaml

    assert [p.name for p in parse_presets_text(yaml.safe_dump([S3, REGION]), "f")] == ["s3", "region"]
    assert [p.name for p in parse_presets_text(yaml.safe_dump({"presets": [S3]}), "f")] == ["s3"]
    with pytest.raises(SecretConfigError, match="'s3' is defined twice"):
        parse_presets_text(yaml.safe_dump([S3, S3]), "f")
    with pytest.raises(SecretConfigError, match="is not valid YAML"):
        parse_presets_text("presets: [", "f")
    assert preset(S3).spec()["volumeMounts"] == S3["volumeMounts"]  # round trip
