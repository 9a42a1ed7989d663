"""Structural guards for what keeps this provider fast (no wall-clock thresholds anywhere).

The timings themselves are measured side by side by ``scripts/bench.sh`` (benchmarks/); these
tests pin the structure those numbers rest on:

* constructing a task makes no kubernetes-client model objects and merges each reference once
  (linear in references);
* a cached backend lookup calls no masker and sends the supervisor nothing;
* K ids held in one Secret cost one GET (real API server);
* a cold Key Vault fan-out makes one token request, at most one challenge and one discovery,
  starts its other reads while the first is still in flight (once the token exists), and stops
  after one request when the credential is refused (real SDK against the Key Vault stand-in);
* a launch makes exactly the project Secret read and the per-task Secret's create and delete
  more than plain KubernetesPodOperator, and never reads the pod back after creating it.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from airflow_secrets_provider import SecretTaskOperator, with_secrets
from airflow_secrets_provider.pod_spec.assembly import AttachmentMerge
from airflow_secrets_provider.secrets import ChainedSecretsBackend
from tests.support.backend import CountingSource
from tests.support.kube_requests import recording_requests


@contextmanager
def counting_calls(owner: Any, name: str) -> Iterator[list[int]]:
    """Count calls of ``owner.name`` (a class attribute) while active; yields a one-item list."""
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counted)
    try:
        yield calls
    finally:
        setattr(owner, name, original)


def refs(n: int) -> list[dict[str, str]]:
    return [{"name": "db-creds", "envVar": f"VAR_{i}", "key": f"key_{i}"} for i in range(n)]


def task(n: int, **kwargs: Any) -> SecretTaskOperator:
    return SecretTaskOperator(task_id="t", image="busybox", namespace="ns", secrets=refs(n), **kwargs)


# ---------------------------------------------------------------------------------------------
# Parse time


def test_constructing_a_task_makes_no_kubernetes_model_objects() -> None:
    """Each kubernetes model copies the client's default Configuration: count those copies."""
    from kubernetes.client.configuration import Configuration

    with counting_calls(Configuration, "get_default_copy") as without_refs:
        task(0, project="fraud")
    with counting_calls(Configuration, "get_default_copy") as with_refs:
        op = task(50, project="fraud")
        op.set_env_from_secret("EXTRA", "other", "key").mount_secret("certs", "/etc/certs", ["tls.crt"])
    assert with_refs[0] == without_refs[0]  # whatever KubernetesPodOperator's own constructor makes
    # The models are built when the pod is: the references are all there.
    with counting_calls(Configuration, "get_default_copy") as building:
        pod = op.build_pod_request_obj(dry_run=True)
    assert building[0] > 0
    assert len([e for e in pod.spec.containers[0].env if e.value_from]) == 51


@pytest.mark.parametrize("n", [10, 100])
def test_each_reference_is_merged_once_while_constructing(n: int) -> None:
    """Linear in references: adding a request merges its own references, not all earlier ones."""
    with counting_calls(AttachmentMerge, "add") as merged:
        # One mount among the env refs: the requests go through the merge one by one.
        op = SecretTaskOperator(
            task_id="t", image="busybox", namespace="ns", secrets=[*refs(n - 1), {"name": "m", "mount_path": "/m"}]
        )
    assert merged[0] == n
    with counting_calls(AttachmentMerge, "add") as merged:
        for i in range(5):  # chained additions after construction: one rebuild, then one each
            op.set_env_from_secret(f"EXTRA_{i}", "other", "key")
    assert merged[0] == n + 5


def test_distinct_env_references_need_no_merge_and_repeats_still_do() -> None:
    """Env refs to different variables cannot conflict: constructing such a task merges nothing.
    A repeated variable goes through the merge, which tells an identical repeat from a conflict."""
    with counting_calls(AttachmentMerge, "add") as merged:
        op = task(50)
    assert merged[0] == 0
    assert [r.env_name for r in op.secret_requests] == [f"VAR_{i}" for i in range(50)]  # type: ignore[attr-defined]
    same = {"name": "db-creds", "envVar": "VAR_0", "key": "key_0"}
    assert len(SecretTaskOperator(task_id="r", image="b", secrets=[same, dict(same)]).secret_requests) == 2
    with pytest.raises(Exception, match="VAR_0"):
        SecretTaskOperator(task_id="c", image="b", secrets=[same, {**same, "key": "other"}])
    with pytest.raises(Exception, match="VAR_1"):
        op.set_env_from_secret("VAR_1", "elsewhere", "k")  # later additions merge with what is held


def test_a_conflict_found_while_adding_leaves_the_task_as_it_was() -> None:
    op = task(3)
    before = list(op.secret_requests)
    with pytest.raises(Exception, match="VAR_1"):
        op.set_env_from_secret("VAR_1", "elsewhere", "k")
    assert op.secret_requests == before
    op.set_env_from_secret("VAR_9", "elsewhere", "k")  # the merge state was not left half-written
    with pytest.raises(Exception, match="VAR_9"):
        op.set_env_from_secret("VAR_9", "third", "k")


# ---------------------------------------------------------------------------------------------
# Cached lookups


class RecordingSupervisorComms:
    """Test double of the task process' channel to its supervisor (no supervisor runs here):
    records what ``mask_secret`` would send."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> RecordingSupervisorComms:
    from airflow.sdk.execution_time import task_runner

    comms = RecordingSupervisorComms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    return comms


def test_a_cache_hit_calls_no_masker_and_sends_the_supervisor_nothing(supervisor: RecordingSupervisorComms) -> None:
    from airflow._shared.secrets_masker.secrets_masker import SecretsMasker as CoreMasker
    from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker as SdkMasker

    value = f"postgres://app:{secrets.token_hex(16)}@db/app"
    chain = ChainedSecretsBackend(sources=[CountingSource({("connections", "db"): value})])
    chain.get_conn_value("db")
    assert supervisor.sent, "the first lookup registers the value with the supervisor's masker"
    first = len(supervisor.sent)
    with counting_calls(SdkMasker, "add_mask") as sdk, counting_calls(CoreMasker, "add_mask") as core:
        for _ in range(20):
            assert chain.get_conn_value("db") == value
    assert (sdk[0], core[0]) == (0, 0)
    assert len(supervisor.sent) == first


def test_a_second_backend_in_the_process_does_not_register_the_value_again(
    supervisor: RecordingSupervisorComms,
) -> None:
    value = secrets.token_hex(16)
    source = CountingSource({("variables", "v"): value})
    ChainedSecretsBackend(sources=[source]).get_variable("v")
    first = len(supervisor.sent)
    ChainedSecretsBackend(sources=[source]).get_variable("v")  # a miss in its cache, same value
    assert len(supervisor.sent) == first


# ---------------------------------------------------------------------------------------------
# Real API server: one GET per Secret, launch requests


@pytest.mark.kubernetes
def test_k_ids_of_one_secret_cost_one_get(kube_cluster: Any, kube_namespace: str, core: Any) -> None:
    from airflow_secrets_provider.kube.projects import ProjectSecretsStore

    keys = {f"AIRFLOW_VAR_ID_{i}": secrets.token_hex(8) for i in range(6)}
    ProjectSecretsStore(core, kube_namespace).set_secrets("perf", keys)
    chain = ChainedSecretsBackend(
        sources=[
            {
                "kind": "kubernetes",
                "project": "perf",
                "namespace": kube_namespace,
                "kube_config": str(kube_cluster.kubeconfig),
            }
        ]
    )
    with recording_requests() as requests:
        for i in range(6):
            assert chain.get_variable(f"id_{i}") == keys[f"AIRFLOW_VAR_ID_{i}"]
        assert chain.get_variable("not_there") is None
    assert requests == ["GET secrets/<name>"]


class _TaskInstance:
    """What KubernetesPodOperator reads of its task instance when ``execute`` is called directly."""

    def __init__(self, task_id: str) -> None:
        self.dag_id, self.task_id, self.map_index, self.try_number = "guards", task_id, -1, 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def _task_secrets(core: Any, namespace: str) -> list[str]:
    from airflow_secrets_provider.core.naming import SECRET_ROLE_LABEL

    found = core.list_namespaced_secret(namespace, label_selector=f"{SECRET_ROLE_LABEL}=task")
    return [s.metadata.name for s in found.items]


def _launch(op: Any) -> list[str]:
    context: Any = {"ti": _TaskInstance(op.task_id), "run_id": "guards", "dag": object()}
    with recording_requests() as requests:
        op.execute(context=context)
    return list(requests)


# The start-up and completion waits read the pod (and list a pending pod's events) once per
# check: how many checks a launch takes depends on timing, the same loop for both operators.
WAITING = frozenset({"GET pods/<name>", "LIST events"})


@pytest.mark.kubernetes
@pytest.mark.parametrize("cluster_presets", [True, False])
def test_a_launch_makes_only_the_secret_requests_more_than_plain_kpo(
    kube_cluster: Any,
    kube_namespace: str,
    core: Any,
    kubelet_standin: Any,
    monkeypatch: pytest.MonkeyPatch,
    cluster_presets: bool,
) -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import models as k8s

    from airflow_secrets_provider.kube.projects import ProjectSecretsStore

    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLUSTER_PRESETS", str(cluster_presets))
    ProjectSecretsStore(core, kube_namespace).set_secrets("perf", {"DB_PASSWORD": secrets.token_hex(16)})
    encoded = base64.b64encode(secrets.token_hex(16).encode()).decode()
    core.create_namespaced_secret(
        kube_namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="db-creds"), data={"password": encoded})
    )
    kubelet_standin.watch_and_run(kube_namespace)
    common: dict[str, Any] = {
        "image": "busybox:1.36",
        "cmds": ["true"],
        "namespace": kube_namespace,
        "config_file": str(kube_cluster.kubeconfig),
        "in_cluster": False,
        "get_logs": False,
        "startup_timeout_seconds": 60,
        "startup_check_interval_seconds": 1,
        "poll_interval": 1,
    }
    plain = _launch(
        KubernetesPodOperator(task_id="plain", secrets=[Secret("env", "DB_PASSWORD", "db-creds", "password")], **common)
    )
    ours = _launch(
        SecretTaskOperator(
            task_id="ours",
            project="perf",
            secrets=[with_secrets("inline", {"API_TOKEN": secrets.token_hex(16)})],
            **common,
        )
    )
    assert kubelet_standin.errors == []

    def without_polls(requests: list[str]) -> Counter[str]:
        return Counter(r for r in requests if r not in WAITING)

    extra = without_polls(ours) - without_polls(plain)
    # Read the project Secret, create the per-task one (and list the presets): no DELETE, the
    # finished pod KPO deletes takes its Secret with it (ownerReference, garbage collector).
    expected = Counter({"GET secrets/<name>": 1, "POST secrets": 1})
    if cluster_presets:
        expected["LIST configmaps"] = 1
    assert extra == expected
    assert sum(extra.values()) <= 3
    deadline = time.monotonic() + 60  # a bounded wait for the garbage collector
    while _task_secrets(core, kube_namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _task_secrets(core, kube_namespace) == []
    assert not without_polls(plain) - without_polls(ours)
    # The per-task Secret is created straight from the create's answer: no read of the pod between.
    created = ours.index("POST pods")
    assert ours[created + 1] == "POST secrets"


# ---------------------------------------------------------------------------------------------
# Key Vault stand-in: a cold fan-out authenticates once


def _cold_reader(vault: Any, **overrides: Any) -> Any:
    """A reader with a new client, in a process that has forgotten the vault's challenge."""
    from azure.keyvault.secrets._shared import http_challenge_cache

    from airflow_secrets_provider.azure.vault import AzureVaultReader

    http_challenge_cache.clear()  # the SDK remembers challenges per vault URL, process-wide
    return AzureVaultReader.from_options(vault.reader_options(max_workers=8, retry_total=0, **overrides))


@pytest.mark.azure
def test_a_cold_fan_out_requests_one_token_one_challenge_one_discovery(vault: Any) -> None:
    names = [f"fan-{i}" for i in range(24)]
    for name in names:
        vault.set_secret(name, secrets.token_hex(8))
    reader = _cold_reader(vault)
    vault.reset_counts()
    values = reader.get_secrets(vault.url, names)
    assert sorted(values) == sorted(names)
    log = vault.request_log

    def count(matches: Callable[[Any], bool]) -> int:
        return sum(1 for r in log if matches(r))

    assert count(lambda r: r.path.endswith("/oauth2/v2.0/token")) == 1
    assert count(lambda r: r.path.startswith("/secrets") and r.status == 401) == 1
    assert count(lambda r: "openid-configuration" in r.path) <= 1
    assert count(lambda r: r.path.startswith("/secrets") and r.status == 200) == len(names)


@pytest.mark.azure
def test_a_cold_fan_out_starts_once_the_token_exists_not_after_the_first_read(vault: Any) -> None:
    # The stand-in holds every authorized read until two are in its handler together. If the
    # second read only started once the first had been answered, the first would wait out the
    # (bounded) gathering alone and max_in_flight would stay at 1; no clock is read.
    names = [f"early-{secrets.token_hex(4)}-{i}" for i in range(2)]
    for name in names:
        vault.set_secret(name, secrets.token_hex(16))
    reader = _cold_reader(vault)
    vault.gather_requests(2, path_prefix="/secrets/early-", authorized_only=True)
    vault.reset_counts()

    values = reader.get_secrets(vault.url, names)

    assert sorted(values) == sorted(names)
    assert vault.max_in_flight == 2
    log = vault.request_log
    assert sum(1 for r in log if r.path.startswith("/secrets") and r.status == 401) == 1
    assert sum(1 for r in log if r.path.endswith("/oauth2/v2.0/token")) == 1


@pytest.mark.azure
def test_a_cold_fan_out_with_a_refused_credential_sends_one_request_and_names_the_vault(vault: Any) -> None:
    from airflow_secrets_provider.core.errors import SecretAccessError

    names = [f"refused-{i}" for i in range(20)]
    for name in names:
        vault.set_secret(name, secrets.token_hex(16))
    wrong_secret = secrets.token_hex(16)
    reader = _cold_reader(vault, client_secret=wrong_secret)
    vault.reset_counts()

    with pytest.raises(SecretAccessError) as info:
        reader.get_secrets(vault.url, names)

    assert vault.url in str(info.value)
    assert f"secret {names[0]!r}" in str(info.value)  # the first name: deterministic
    assert wrong_secret not in str(info.value)
    log = vault.request_log
    assert sum(1 for r in log if r.path.startswith("/secrets")) == 1  # the challenge, nothing more
    assert sum(1 for r in log if r.path.endswith("/oauth2/v2.0/token")) == 1
