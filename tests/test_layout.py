"""The two layouts without a cluster: names, the CLI's ``rbac --layout``, the operator's early
namespace check, and which Secrets a pod references (for ``mask_external_secrets``).

What each layout allows is measured against a real API server in ``tests/test_isolation.py``.
"""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml
from kubernetes.client import models as k8s

from airflow_secrets_provider import SecretConfigError, SecretTaskOperator
from airflow_secrets_provider.cli import main
from airflow_secrets_provider.kube.layout import (
    SHARED_NAMESPACE,
    configured_task_namespace,
    project_namespace,
    task_namespace,
)
from airflow_secrets_provider.kube.rbac import RbacSubject, launcher_rbac, viewer_rbac
from airflow_secrets_provider.operators.external_masking import referenced_secrets
from tests.support.canaries import canary

ENV = "AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE"


def test_project_namespace_follows_the_template() -> None:
    assert project_namespace("fraud") == "fraud"
    assert project_namespace("fraud", "ml-{project}") == "ml-fraud"


@pytest.mark.parametrize(
    "template",
    # Jinja markup too: nothing renders the configuration, so it must not pass as "checked later".
    ["ml", "{project}-{project}", "ML-{project}", "{project}" + "x" * 60, "ml-{{ var }}-{project}"],
)
def test_a_bad_template_names_the_option(template: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        project_namespace("fraud", template)
    assert info.value.field == "[secrets_provider] project_namespace"


def test_task_namespace_derives_or_refuses_another() -> None:
    assert task_namespace("fraud", "ml-{project}", None) == "ml-fraud"
    assert task_namespace("fraud", "ml-{project}", "ml-fraud") == "ml-fraud"
    with pytest.raises(SecretConfigError) as info:
        task_namespace("fraud", "ml-{project}", "ml-churn")
    assert info.value.field == "namespace"
    assert "'ml-fraud'" in str(info.value) and "'ml-churn'" in str(info.value)


def test_the_layout_comes_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert configured_task_namespace("fraud", "anything") is None  # shared: the task decides
    monkeypatch.setenv(ENV, "ml-{project}")
    assert configured_task_namespace("fraud", None) == "ml-fraud"


def test_a_task_aimed_at_another_namespace_fails_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check runs before the operator reaches the cluster (no cluster exists here)."""
    monkeypatch.setenv(ENV, "{project}")
    op = SecretTaskOperator(
        task_id="t", image="busybox", project="fraud", namespace="churn", config_file="/nonexistent"
    )
    with pytest.raises(SecretConfigError) as info:
        op.prepare_secrets()
    assert info.value.field == "namespace"


# -- rbac documents and the CLI ----------------------------------------------------------------


def test_launcher_namespace_is_derived_per_project_and_required_when_shared() -> None:
    role, _ = launcher_rbac("fraud", None, [RbacSubject.user("a")], namespace_template="ml-{project}")
    assert role["metadata"]["namespace"] == "ml-fraud"
    with pytest.raises(SecretConfigError) as info:
        launcher_rbac("fraud", None, [RbacSubject.user("a")], layout=SHARED_NAMESPACE)
    assert info.value.field == "namespace"
    with pytest.raises(SecretConfigError) as info:
        launcher_rbac("fraud", "ml", [RbacSubject.user("a")], layout="per-team")  # type: ignore[arg-type]
    assert info.value.field == "layout"
    with pytest.raises(SecretConfigError):
        viewer_rbac(None, [RbacSubject.user("c")])  # per project, without a project: which namespace?


def test_cli_prints_the_projects_namespace_first(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["rbac", "launcher", "--project", "fraud", "--namespace-template", "ml-{project}", "--user", "alice"]
    assert main(args) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in documents] == ["Namespace", "Role", "RoleBinding"]
    assert {d["metadata"].get("namespace", d["metadata"]["name"]) for d in documents} == {"ml-fraud"}
    assert documents[0]["metadata"]["labels"]["airflow-secrets-provider/project"] == "fraud"
    kubernetes_validate.validate(documents[0], kubernetes_validate.latest_version(), strict=True)


def test_cli_shared_layout_says_what_stays_open(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rbac", "launcher", "--layout", SHARED_NAMESPACE, "--project", "fraud", "--user", "a"]) == 2
    assert "namespace: is required" in capsys.readouterr().err
    args = ["rbac", "launcher", "--layout", SHARED_NAMESPACE, "--namespace", "ml", "--project", "fraud", "--user", "a"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# Layout {SHARED_NAMESPACE} (namespace ml)")
    assert "mount every Secret of the" in out
    assert [d["kind"] for d in yaml.safe_load_all(out)] == ["Role", "RoleBinding"]


def test_cli_viewer_raw_logs_is_opt_in(capsys: pytest.CaptureFixture[str]) -> None:
    def log_rules(*extra: str) -> list[dict]:
        assert main(["rbac", "viewer", "--project", "fraud", "--user", "carol", *extra]) == 0
        role = next(d for d in yaml.safe_load_all(capsys.readouterr().out) if d["kind"] == "Role")
        return [r for r in role["rules"] if "pods/log" in r["resources"]]

    assert log_rules() == []
    assert log_rules("--raw-logs") == [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]
    assert main(["rbac", "viewer", "--project", "fraud", "--user", "c", "--readable-secret", "x"]) == 2


# -- which Secrets a pod references ------------------------------------------------------------


def test_referenced_secrets_covers_every_form() -> None:
    secret_ref = k8s.V1SecretKeySelector
    pod = k8s.V1Pod(
        spec=k8s.V1PodSpec(
            init_containers=[
                k8s.V1Container(
                    name="init",
                    env=[
                        k8s.V1EnvVar(
                            name="I", value_from=k8s.V1EnvVarSource(secret_key_ref=secret_ref(name="init-s", key="k"))
                        )
                    ],
                )
            ],
            containers=[
                k8s.V1Container(
                    name="base",
                    env=[
                        k8s.V1EnvVar(
                            name="A", value_from=k8s.V1EnvVarSource(secret_key_ref=secret_ref(name="s1", key="a"))
                        ),
                        k8s.V1EnvVar(
                            name="B", value_from=k8s.V1EnvVarSource(secret_key_ref=secret_ref(name="s1", key="b"))
                        ),
                        k8s.V1EnvVar(name="PLAIN", value=canary("plain")),
                    ],
                    env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="all-of-it"))],
                )
            ],
            volumes=[
                k8s.V1Volume(name="v1", secret=k8s.V1SecretVolumeSource(secret_name="vol-all")),
                k8s.V1Volume(
                    name="v2",
                    secret=k8s.V1SecretVolumeSource(
                        secret_name="vol-items", items=[k8s.V1KeyToPath(key="x", path="x")]
                    ),
                ),
                k8s.V1Volume(
                    name="v3",
                    projected=k8s.V1ProjectedVolumeSource(
                        sources=[
                            k8s.V1VolumeProjection(
                                secret=k8s.V1SecretProjection(name="proj", items=[k8s.V1KeyToPath(key="p", path="p")])
                            ),
                            k8s.V1VolumeProjection(secret=k8s.V1SecretProjection(name="s1")),  # all keys wins
                        ]
                    ),
                ),
                k8s.V1Volume(name="cm", config_map=k8s.V1ConfigMapVolumeSource(name="not-a-secret")),
            ],
        )
    )
    assert referenced_secrets(pod) == {
        "init-s": frozenset({"k"}),
        "s1": None,
        "all-of-it": None,
        "vol-all": None,
        "vol-items": frozenset({"x"}),
        "proj": frozenset({"p"}),
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", "auto"), ("auto", "auto"), (" Auto ", "auto"), ("False", False), ("true", True), ("1", True)],
)
def test_mask_external_secrets_config(raw: str, expected: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_secrets_provider.operators.external_masking import configured_mask_external_secrets

    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", raw)
    assert configured_mask_external_secrets() == expected


def test_mask_external_secrets_defaults_to_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_secrets_provider.operators.external_masking import configured_mask_external_secrets

    monkeypatch.delenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", raising=False)
    assert configured_mask_external_secrets() == "auto"


@pytest.mark.parametrize("bad", ["yes", "on", "Auto", 1, 0])
def test_the_operators_mask_external_secrets_argument_is_checked(bad: object) -> None:
    """``"auto"``, True, False or None; anything else names the argument (a typo is not "on")."""
    from airflow_secrets_provider import SecretTaskOperator

    with pytest.raises(SecretConfigError) as info:
        SecretTaskOperator(task_id="t", image="busybox", mask_external_secrets=bad)  # type: ignore[arg-type]
    assert info.value.field == "mask_external_secrets"
    for good in ("auto", True, False, None):
        SecretTaskOperator(task_id="t", image="busybox", mask_external_secrets=good)  # type: ignore[arg-type]


def test_a_bad_mask_external_secrets_value_names_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_secrets_provider.operators.external_masking import configured_mask_external_secrets

    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", "maybe")
    with pytest.raises(SecretConfigError) as info:
        configured_mask_external_secrets()
    assert info.value.field == "[secrets_provider] mask_external_secrets"
