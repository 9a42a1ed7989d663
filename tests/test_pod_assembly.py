"""Pod-spec assembly, checked on the real KubernetesPodOperator and the Kubernetes schema."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

from airflow_secrets_provider import SecretConfigError, SecretTaskOperator, with_secrets
from airflow_secrets_provider.core.model import AttachTarget, SecretEnvFrom, SecretKeyEnv, SecretVolume
from airflow_secrets_provider.core.naming import project_secret_name, task_secret_name, volume_name
from airflow_secrets_provider.pod_spec.assembly import assemble, merge_attachments
from tests.support.pods import env_refs, main_container, validate_pod


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Building operators and pod specs must not touch the network."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access while building a pod spec")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def issue_example() -> SecretTaskOperator:
    op = SecretTaskOperator(
        task_id="train",
        image="python:3.12-slim",
        namespace="ml",
        project="fraud",
        env_vars={"USER_VAR": "uses $(AWS_KEY)"},
        secrets=[
            with_secrets("kubernetes", ["AWS_KEY", "DB_PASSWORD"]),
            with_secrets("inline", {"MY_SECRET": "12345"}),
            {"name": "clearml", "envVar": "CLEARML_API_ACCESS_KEY", "key": "access"},
        ],
    )
    op.set_env_from_secret("SECRET_ENV_VAR_1", secret="my-secret", secret_key="secret1")
    op.mount_secret("my-secret", "/mnt/secrets/", items={"secret1": "secret1"})
    op.with_secrets("env", "MY_ENV_SECRET")
    return op


def test_issue_example_builds_a_valid_pod_with_references_only() -> None:
    op = issue_example()
    pod = op.build_pod_request_obj(dry_run=True)
    data = validate_pod(pod)
    container = main_container(pod)
    refs = env_refs(container)
    task_secret = task_secret_name(pod.metadata.name)
    project_secret = project_secret_name("fraud")
    assert refs["AWS_KEY"] == (project_secret, "AWS_KEY")
    assert refs["DB_PASSWORD"] == (project_secret, "DB_PASSWORD")
    assert refs["MY_SECRET"] == (task_secret, "MY_SECRET")
    assert refs["MY_ENV_SECRET"] == (task_secret, "MY_ENV_SECRET")
    assert refs["CLEARML_API_ACCESS_KEY"] == ("clearml", "access")
    assert refs["SECRET_ENV_VAR_1"] == ("my-secret", "secret1")
    # Secret env vars precede user env vars so $(AWS_KEY) in USER_VAR expands.
    names = [v.name for v in container.env]
    assert names.index("USER_VAR") > max(names.index(n) for n in refs if n != "USER_VAR")
    # The selected key is mounted read-only under a deterministic volume name.
    (mount,) = container.volume_mounts
    assert mount.mount_path == "/mnt/secrets" and mount.read_only
    assert mount.name == volume_name("my-secret", "/mnt/secrets")
    (volume,) = [v for v in pod.spec.volumes if v.name == mount.name]
    assert volume.secret.secret_name == "my-secret"
    assert [(i.key, i.path) for i in volume.secret.items] == [("secret1", "secret1")]
    assert "12345" not in str(data)


def test_building_twice_gives_the_same_spec() -> None:
    op = issue_example()
    op.random_name_suffix = False  # KPO's own random pod-name suffix is not ours to freeze
    first = validate_pod(op.build_pod_request_obj(dry_run=True))
    second = validate_pod(op.build_pod_request_obj(dry_run=True))
    assert first == second
    assert len(op.env_vars) == 1  # KPO's runtime-info envs were not appended to the operator


def test_project_without_kubernetes_request_attaches_all_keys_optionally() -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", project="fraud")
    pod = op.build_pod_request_obj(dry_run=True)
    validate_pod(pod)
    (env_from,) = main_container(pod).env_from
    assert env_from.secret_ref.name == project_secret_name("fraud")
    assert env_from.secret_ref.optional is True


def test_empty_key_list_means_all_project_keys_required() -> None:
    op = SecretTaskOperator(
        task_id="t", image="busybox", namespace="ns", project="fraud", secrets=[with_secrets("kubernetes", [])]
    )
    pod = op.build_pod_request_obj(dry_run=True)
    (env_from,) = main_container(pod).env_from
    assert env_from.secret_ref.name == project_secret_name("fraud")
    assert not env_from.secret_ref.optional


def test_opting_out_of_project_secrets() -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", project="fraud", attach_project_secrets=False)
    assert not main_container(op.build_pod_request_obj(dry_run=True)).env_from


def test_file_request_uses_env_from_the_task_secret_without_reading_the_file(tmp_path: Any) -> None:
    missing = tmp_path / "not-there.txt"
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", secrets=[with_secrets("file", str(missing))])
    pod = op.build_pod_request_obj(dry_run=True)
    validate_pod(pod)
    (env_from,) = main_container(pod).env_from
    assert env_from.secret_ref.name == task_secret_name(pod.metadata.name)


def test_azure_vault_worker_and_pod_modes() -> None:
    op = SecretTaskOperator(
        task_id="t",
        image="busybox",
        namespace="ns",
        secrets=[
            with_secrets("azure_vault", {"name": "team-vault", "secrets": ["db-password", "API-TOKEN"]}),
            with_secrets(
                "azure_vault",
                {"name": "other-vault", "k8s_secret": "azure-creds", "secrets": ["x"], "resolve_in": "pod"},
            ),
        ],
    )
    pod = op.build_pod_request_obj(dry_run=True)
    validate_pod(pod)
    refs = env_refs(main_container(pod))
    task_secret = task_secret_name(pod.metadata.name)
    assert refs["db_password"] == (task_secret, "db_password")
    assert refs["API_TOKEN"] == (task_secret, "API_TOKEN")
    assert refs["AZURE_TENANT_ID"] == ("azure-creds", "tenant_id")
    assert refs["AZURE_CLIENT_ID"] == ("azure-creds", "client_id")
    assert refs["AZURE_CLIENT_SECRET"] == ("azure-creds", "secret")
    assert refs["AIRFLOW_SECRETS_AZURE_VAULT_URL"] == "https://other-vault.vault.azure.net"
    assert refs["AIRFLOW_SECRETS_AZURE_VAULT_SECRETS"] == "x"


def test_native_secrets_and_image_pull_secrets_keep_working() -> None:
    op = SecretTaskOperator(
        task_id="t",
        image="registry.example/app:1",
        namespace="ns",
        image_pull_secrets=[k8s.V1LocalObjectReference(name="registry-login")],
        secrets=[
            Secret("env", "NATIVE_ENV", "native-secret", "k"),
            Secret("volume", "/etc/native", "native-secret"),
            with_secrets("env", ["FROM_ENV"]),
        ],
    )
    pod = op.build_pod_request_obj(dry_run=True)
    validate_pod(pod)
    container = main_container(pod)
    refs = env_refs(container)
    assert refs["NATIVE_ENV"] == ("native-secret", "k")
    assert "FROM_ENV" in refs
    assert [m.mount_path for m in container.volume_mounts] == ["/etc/native"]
    assert [s.name for s in pod.spec.image_pull_secrets] == ["registry-login"]
    assert len(op.secrets) == 2  # the native ones only: the operator restored its list


def test_identical_requests_merge_and_conflicts_are_rejected() -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns")
    op.set_env_from_secret("A", "s", "k").set_env_from_secret("A", "s", "k")
    op.mount_secret("s", "/mnt/s").mount_secret("s", "/mnt/s/")
    pod = op.build_pod_request_obj(dry_run=True)
    validate_pod(pod)
    container = main_container(pod)
    assert [v.name for v in container.env].count("A") == 1
    assert len(container.volume_mounts) == 1 and len(pod.spec.volumes) == 1
    with pytest.raises(SecretConfigError, match="two different sources") as info:
        op.set_env_from_secret("A", "s", "other-key")  # same env var, another source
    assert info.value.field == "secrets"
    with pytest.raises(SecretConfigError, match="two different mounts"):
        op.mount_secret("other", "/mnt/s")


def test_secret_env_clashing_with_user_env_var_is_rejected() -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", env_vars={"A": "plain"})
    op.set_env_from_secret("A", "s", "k")
    with pytest.raises(SecretConfigError) as info:
        op.build_pod_request_obj(dry_run=True)
    assert info.value.field == "env_vars"


def test_secret_mount_clashing_with_user_mount_is_rejected() -> None:
    op = SecretTaskOperator(
        task_id="t",
        image="busybox",
        namespace="ns",
        volumes=[k8s.V1Volume(name="data", empty_dir=k8s.V1EmptyDirVolumeSource())],
        volume_mounts=[k8s.V1VolumeMount(name="data", mount_path="/mnt/s")],
    )
    op.mount_secret("s", "/mnt/s")
    with pytest.raises(SecretConfigError) as info:
        op.build_pod_request_obj(dry_run=True)
    assert info.value.field == "volume_mounts"


def test_merge_prefers_required_env_from_over_optional() -> None:
    merged = merge_attachments([SecretEnvFrom("p", optional=True), SecretEnvFrom("p", optional=False)])
    assert merged == [SecretEnvFrom("p", optional=False)]


def test_volume_names_are_deterministic_valid_labels() -> None:
    long_name = "a" * 200 + ".example"
    name = volume_name(long_name, "/mnt/x")
    assert name == volume_name(long_name, "/mnt/x")
    assert name != volume_name(long_name, "/mnt/y")
    assert len(name) <= 63 and name[0].isalpha() and name[-1].isalnum()


def test_assemble_is_pure_over_value_objects() -> None:
    target = AttachTarget(task_secret="pod-secrets", project_secret="airflow-project-secrets-p")
    requests = [with_secrets("kubernetes", ["A"]), with_secrets("inline", {"B": "v"})]
    result = assemble(requests, target)
    assert [(e.name, e.value_from.secret_key_ref.name) for e in result.env] == [
        ("A", "airflow-project-secrets-p"),
        ("B", "pod-secrets"),
    ]
    assert merge_attachments([SecretKeyEnv("A", "s", "k"), SecretVolume("s", "/m")]) == [
        SecretKeyEnv("A", "s", "k"),
        SecretVolume("s", "/m"),
    ]


@pytest.mark.parametrize(
    "configure",
    [
        # A user mount spelled with a trailing slash is the same directory as ours.
        lambda: dict(
            volumes=[k8s.V1Volume(name="data", empty_dir=k8s.V1EmptyDirVolumeSource())],
            volume_mounts=[k8s.V1VolumeMount(name="data", mount_path="/etc/s/")],
        ),
        # So is a native KPO Secret volume at `/etc/s/`.
        lambda: dict(secrets=[Secret("volume", "/etc/s/", "other")]),
    ],
    ids=["user volume_mounts", "native Secret volume"],
)
def test_mount_paths_collide_in_normal_form(configure: Any) -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", **configure())
    op.mount_secret("s", "/etc/s")
    with pytest.raises(SecretConfigError) as info:
        op.build_pod_request_obj(dry_run=True)
    assert info.value.field == "volume_mounts"


def test_a_leading_double_slash_is_the_root() -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns").mount_secret("s", "//e")
    with pytest.raises(SecretConfigError, match="two different mounts"):
        op.mount_secret("t", "/e")


def test_a_user_volume_named_like_ours_is_rejected_not_silently_used() -> None:
    name = volume_name("s", "/etc/s")
    op = SecretTaskOperator(
        task_id="t",
        image="busybox",
        namespace="ns",
        volumes=[k8s.V1Volume(name=name, empty_dir=k8s.V1EmptyDirVolumeSource())],
    )
    op.mount_secret("s", "/etc/s")
    with pytest.raises(SecretConfigError) as info:
        op.build_pod_request_obj(dry_run=True)
    assert info.value.field == "volumes"


def test_a_secret_mount_at_the_xcom_directory_is_rejected_with_do_xcom_push() -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", do_xcom_push=True)
    op.mount_secret("s", "/airflow/xcom/")
    with pytest.raises(SecretConfigError, match="XCom"):
        op.build_pod_request_obj(dry_run=True)
    fine = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", do_xcom_push=True)
    validate_pod(fine.mount_secret("s", "/airflow/secrets").build_pod_request_obj(dry_run=True))


@pytest.mark.parametrize(
    ("items", "problem"), [({"k": "a//b", "j": "a/b"}, "used by two keys"), ({"k": "a", "j": "a/b"}, "would nest")]
)
def test_item_paths_are_compared_as_the_kubelet_writes_them(items: dict[str, str], problem: str) -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns")
    with pytest.raises(SecretConfigError, match=problem) as info:
        op.mount_secret("s", "/etc/s", items=items)
    assert info.value.field == "items['j']"
