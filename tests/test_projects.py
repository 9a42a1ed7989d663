"""Project secrets (projects.py) on a real API server; the retry rules are in test_kube_retry.py.

The ``kubernetes`` tests run ``ProjectSecretsStore`` against the real kube-apiserver (fresh
namespace per test). Faults are injected by wrapping the real ``CoreV1Api``: the wrapper raises
before delegating, so everything that does happen, happens on the server.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3.exceptions
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.core.errors import SecretConfigError, SecretNotFoundError
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL, project_secret_name
from airflow_secrets_provider.core.values import SecretValues
from airflow_secrets_provider.kube.projects import MAX_SECRET_BYTES, ProjectSecretsStore
from airflow_secrets_provider.kube.retry import (
    KubernetesAccessError,
    KubernetesApiError,
    KubernetesInvalidError,
    KubernetesUnavailableError,
    KubeTarget,
    RetryPolicy,
    call_kube,
)
from devstack.kube_cluster import KubeCluster
from tests.support.canaries import canary
from tests.support.kube_api import RecordingPolicy, api_error

SENTINEL = canary("sentinel")  # must never show up in a message or returned structure


# -- fixtures for the store ------------------------------------------------------------------


class FaultyApi:
    """The real ``CoreV1Api`` behind a counter: injected faults are raised before delegating.

    ``faults[method]`` is a list consumed in order; ``None`` entries let a call through.
    ``statuses`` counts the HTTP errors the *server* answered, as (method, status, reason).
    """

    def __init__(self, api: CoreV1Api, faults: dict[str, list[BaseException | None]] | None = None) -> None:
        self._api = api
        self.faults = {name: list(items) for name, items in (faults or {}).items()}
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[tuple[str, int, str]] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._api, name)
        if not callable(target) or name.startswith("_"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
                queue = self.faults.get(name) or []
                fault = queue.pop(0) if queue else None
            if fault is not None:
                raise fault
            try:
                return target(*args, **kwargs)
            except ApiException as exc:
                reason = json.loads(exc.body).get("reason", "") if exc.body else ""
                with self._lock:
                    self.statuses[(name, int(exc.status), reason)] += 1
                raise

        return call

    def conflicts(self) -> int:
        return sum(n for (_, status, _), n in self.statuses.items() if status == 409)

    def writes(self) -> int:
        return sum(
            self.calls[m]
            for m in (
                "create_namespaced_secret",
                "replace_namespaced_secret",
                "delete_namespaced_secret",
                "patch_namespaced_secret",
            )
        )


FAST = RetryPolicy(base_delay=0.005, max_delay=0.05)


@pytest.fixture
def store(core: CoreV1Api, kube_namespace: str) -> ProjectSecretsStore:
    return ProjectSecretsStore(core, kube_namespace, retry_policy=FAST)


def _raw(core: CoreV1Api, namespace: str, project: str) -> dict[str, str]:
    secret = core.read_namespaced_secret(project_secret_name(project), namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def _version(core: CoreV1Api, namespace: str, project: str) -> str:
    return core.read_namespaced_secret(project_secret_name(project), namespace).metadata.resource_version


# -- the store against the API server ---------------------------------------------------------


@pytest.mark.kubernetes
def test_set_merges_and_lists_keys_only(store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str) -> None:
    assert store.list_keys("proj") == [] and not store.has_secret("proj")
    first = store.set_secrets("proj", {"B_KEY": SENTINEL, "A_KEY": "alpha"})
    second = store.set_secrets("proj", {"C_KEY": "gamma", "B_KEY": "beta"})
    assert first == ["A_KEY", "B_KEY"]
    assert second == ["A_KEY", "B_KEY", "C_KEY"]
    assert store.list_keys("proj") == ["A_KEY", "B_KEY", "C_KEY"] and store.has_secret("proj")
    assert _raw(core, kube_namespace, "proj") == {"A_KEY": "alpha", "B_KEY": "beta", "C_KEY": "gamma"}
    values = store.read_values("proj")
    assert isinstance(values, SecretValues) and dict(values) == {"A_KEY": "alpha", "B_KEY": "beta", "C_KEY": "gamma"}
    assert dict(store.read_values("proj", ["C_KEY"])) == {"C_KEY": "gamma"}
    assert dict(store.read_values("proj", [])) == dict(values)  # [] means all keys (MLRun)
    for shown in (repr(values), str(values), repr(store), repr(first), repr(second)):
        assert "alpha" not in shown and "gamma" not in shown and SENTINEL not in shown


@pytest.mark.kubernetes
def test_secret_shape_and_labels(store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str) -> None:
    store.set_secrets("proj", {"K": "v"})
    secret = core.read_namespaced_secret("airflow-project-secrets-proj", kube_namespace)
    assert secret.type == "Opaque"
    assert secret.metadata.labels == {MANAGED_BY_LABEL: MANAGED_BY_VALUE, PROJECT_LABEL: "proj"}
    assert secret.data == {"K": base64.b64encode(b"v").decode()} and secret.string_data is None
    found = core.list_namespaced_secret(
        kube_namespace, label_selector=f"{PROJECT_LABEL}=proj,{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
    )
    assert [s.metadata.name for s in found.items] == ["airflow-project-secrets-proj"]


@pytest.mark.kubernetes
def test_unchanged_values_are_not_rewritten(core: CoreV1Api, kube_namespace: str) -> None:
    api = FaultyApi(core)
    store = ProjectSecretsStore(api, kube_namespace, retry_policy=FAST)  # type: ignore[arg-type]
    store.set_secrets("proj", {"K": "v"})
    version = _version(core, kube_namespace, "proj")
    store.set_secrets("proj", {"K": "v"})
    assert _version(core, kube_namespace, "proj") == version and api.writes() == 1


@pytest.mark.kubernetes
def test_annotations_and_extra_labels_survive_an_update(
    store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str
) -> None:
    store.set_secrets("proj", {"K": "v"})
    core.patch_namespaced_secret(
        project_secret_name("proj"),
        kube_namespace,
        {"metadata": {"labels": {"team": "ml"}, "annotations": {"note": "keep"}}},
    )
    store.set_secrets("proj", {"L": "w"})
    secret = core.read_namespaced_secret(project_secret_name("proj"), kube_namespace)
    assert secret.metadata.labels["team"] == "ml" and secret.metadata.annotations["note"] == "keep"


@pytest.mark.kubernetes
def test_delete_keys(store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str) -> None:
    store.set_secrets("proj", {"A": "1", "B": "2", "C": "3"})
    assert store.delete_keys("proj", ["A", "C"]) == ["B"]
    assert _raw(core, kube_namespace, "proj") == {"B": "2"}
    assert store.delete_keys("proj", ["B"]) == []
    assert not store.has_secret("proj")  # the last key takes the Secret with it


@pytest.mark.kubernetes
def test_delete_missing_key_names_project_and_key_and_changes_nothing(
    store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str
) -> None:
    store.set_secrets("proj", {"A": SENTINEL, "B": "2"})
    version = _version(core, kube_namespace, "proj")
    with pytest.raises(SecretNotFoundError) as info:
        store.delete_keys("proj", ["A", "NOPE"])
    assert info.value.key == "NOPE" and "'proj'" in str(info.value) and "'NOPE'" in str(info.value)
    assert SENTINEL not in str(info.value)
    assert _version(core, kube_namespace, "proj") == version
    assert store.list_keys("proj") == ["A", "B"]
    with pytest.raises(SecretNotFoundError, match="'X'"):
        store.delete_keys("no-such-project", ["X"])


@pytest.mark.kubernetes
def test_delete_project(store: ProjectSecretsStore, kube_namespace: str) -> None:
    store.set_secrets("proj", {"A": "1"})
    store.set_secrets("other", {"A": "1"})
    assert store.delete_project("proj") is True
    assert store.list_keys("proj") == [] and not store.has_secret("proj")
    assert store.delete_project("proj") is False
    assert store.list_keys("other") == ["A"]


@pytest.mark.kubernetes
def test_read_values_missing_key(store: ProjectSecretsStore) -> None:
    store.set_secrets("proj", {"A": SENTINEL})
    with pytest.raises(SecretNotFoundError) as info:
        store.read_values("proj", ["A", "MISSING"])
    assert info.value.key == "MISSING" and "'proj'" in str(info.value) and SENTINEL not in str(info.value)
    with pytest.raises(SecretNotFoundError, match="'A'"):
        store.read_values("empty", ["A"])
    assert dict(store.read_values("empty")) == {}


@pytest.mark.kubernetes
def test_set_from_file(store: ProjectSecretsStore, tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text(f"# comment\n\nAWS_KEY = {SENTINEL}\nDB_PASSWORD=p=ss=word \n", encoding="utf-8")
    assert store.set_secrets_from_file("proj", path) == ["AWS_KEY", "DB_PASSWORD"]
    assert dict(store.read_values("proj")) == {"AWS_KEY": SENTINEL, "DB_PASSWORD": "p=ss=word"}


@pytest.mark.kubernetes
def test_malformed_file_writes_nothing(store: ProjectSecretsStore, tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text(f"GOOD=1\n{SENTINEL}\n", encoding="utf-8")
    with pytest.raises(SecretConfigError) as info:
        store.set_secrets_from_file("proj", path)
    assert "line 2" in str(info.value) and SENTINEL not in str(info.value)
    with pytest.raises(SecretConfigError, match="not found"):
        store.set_secrets_from_file("proj", tmp_path / "missing.env")
    (tmp_path / "empty.env").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(SecretConfigError, match="no KEY=VALUE"):
        store.set_secrets_from_file("proj", tmp_path / "empty.env")
    assert not store.has_secret("proj")


@pytest.mark.kubernetes
@pytest.mark.parametrize(
    ("project", "values", "field"),
    [
        # A key with whitespace may be a line typed whole: described in the field, not quoted.
        (
            "proj",
            {"GOOD": "1", "bad key": SENTINEL},
            "values[<a key of 7 characters (not shown: it contains whitespace and may hold a value)>]",
        ),
        ("proj", {"GOOD": "1", "..": SENTINEL}, "values['..']"),
        (
            "proj",
            {"GOOD": "1", "{{ k }}": SENTINEL},
            "values[<a key of 7 characters (not shown: it contains whitespace and may hold a value)>]",
        ),
        ("proj", {"GOOD": "1", "NUM": 42}, "values['NUM']"),
        ("proj", {}, "values"),
        ("Bad_Project", {"GOOD": "1"}, "project"),
    ],
)
def test_bad_input_is_all_or_nothing_and_makes_no_call(
    core: CoreV1Api, kube_namespace: str, project: str, values: dict[str, Any], field: str
) -> None:
    ProjectSecretsStore(core, kube_namespace).set_secrets("proj", {"GOOD": "0"})
    version = _version(core, kube_namespace, "proj")
    api = FaultyApi(core)
    store = ProjectSecretsStore(api, kube_namespace)  # type: ignore[arg-type]
    with pytest.raises(SecretConfigError) as info:
        store.set_secrets(project, values)
    assert info.value.field == field
    assert SENTINEL not in str(info.value) and "42" not in str(info.value)
    assert sum(api.calls.values()) == 0  # validation precedes every API call
    assert _version(core, kube_namespace, "proj") == version and _raw(core, kube_namespace, "proj") == {"GOOD": "0"}


@pytest.mark.kubernetes
def test_size_limit_is_checked_before_writing(core: CoreV1Api, kube_namespace: str) -> None:
    api = FaultyApi(core)
    store = ProjectSecretsStore(api, kube_namespace, retry_policy=FAST)  # type: ignore[arg-type]
    half = MAX_SECRET_BYTES // 2
    store.set_secrets("proj", {"A": "x" * half})
    version = _version(core, kube_namespace, "proj")
    writes = api.writes()
    with pytest.raises(SecretConfigError) as info:
        store.set_secrets("proj", {"B": "y" * (half + 1)})
    text = str(info.value)
    assert "'proj'" in text and f"{MAX_SECRET_BYTES + 1} bytes" in text and "1 MiB" in text
    assert "yyyy" not in text and len(text) < 400
    assert api.writes() == writes and _version(core, kube_namespace, "proj") == version
    # Exactly at the limit is what the server accepts: our check is the server's, not stricter.
    assert store.set_secrets("proj", {"B": "y" * half}) == ["A", "B"]


@pytest.mark.kubernetes
def test_the_server_enforces_the_same_limit(core: CoreV1Api, kube_namespace: str) -> None:
    """Pins MAX_SECRET_BYTES to the server's rule (decoded value bytes), and our 422 message."""
    over = {"k": base64.b64encode(b"x" * (MAX_SECRET_BYTES + 1)).decode()}
    body = {"metadata": {"name": "too-big"}, "data": over}
    target = KubeTarget("Secret", "too-big", kube_namespace)
    with pytest.raises(KubernetesInvalidError) as info:
        call_kube(lambda: core.create_namespaced_secret(kube_namespace, body), "create", target)
    assert str(info.value) == (
        f"Kubernetes API: create Secret 'too-big' in namespace {kube_namespace!r} failed: "
        "HTTP 422 Invalid: invalid field(s): data (FieldValueTooLong)"
    )


@pytest.mark.kubernetes
def test_real_422_message_names_fields_not_values(core: CoreV1Api, kube_namespace: str) -> None:
    body = {"metadata": {"name": "bad", "labels": {"x": f"{SENTINEL} !"}}, "data": {"k": "dg=="}}
    with pytest.raises(KubernetesInvalidError) as info:
        call_kube(
            lambda: core.create_namespaced_secret(kube_namespace, body),
            "create",
            KubeTarget("Secret", "bad", kube_namespace),
        )
    assert "metadata.labels (FieldValueInvalid)" in str(info.value)
    assert SENTINEL not in str(info.value)


@pytest.mark.kubernetes
def test_foreign_secret_with_the_project_name_is_left_alone(
    store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str
) -> None:
    core.create_namespaced_secret(
        kube_namespace, {"metadata": {"name": project_secret_name("proj")}, "stringData": {"K": "v"}}
    )
    with pytest.raises(SecretConfigError, match="not an Opaque Secret managed by this provider"):
        store.set_secrets("proj", {"L": "w"})
    with pytest.raises(SecretConfigError, match="managed by this provider"):
        store.delete_project("proj")
    assert _raw(core, kube_namespace, "proj") == {"K": "v"}


class GatedApi(FaultyApi):
    """Holds calls at barriers so that the races the test is about happen on every run.

    Every writer's first create waits until all writers got there (so all of them read "no
    Secret" first and race to create it), and each losing creator's next replace waits until
    all losers got there (so all of them write against the same ``resourceVersion``). The
    gates only order the calls; the 409s are the API server's.
    """

    def __init__(self, api: CoreV1Api, creators: threading.Barrier, updaters: threading.Barrier) -> None:
        super().__init__(api)
        self._creators, self._updaters = creators, updaters
        self._lost_create = False

    def __getattr__(self, name: str) -> Any:
        call = super().__getattr__(name)
        if name == "create_namespaced_secret" and not self.calls[name]:
            return self._gated(call, self._creators, lost_create=True)
        if name == "replace_namespaced_secret" and self._lost_create and not self.calls[name]:
            return self._gated(call, self._updaters, lost_create=False)
        return call

    def _gated(self, call: Callable[..., Any], barrier: threading.Barrier, *, lost_create: bool) -> Callable[..., Any]:
        def gated(*args: Any, **kwargs: Any) -> Any:
            barrier.wait(timeout=60)
            try:
                return call(*args, **kwargs)
            except ApiException as exc:
                if lost_create and exc.status == 409:
                    self._lost_create = True
                raise

        return gated


@pytest.mark.kubernetes
def test_concurrent_writers_lose_no_update(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    """8 writers (own client each, as separate processes would be) set distinct keys at once.

    Every key must be there at the end, and the API server must really have answered 409 (to
    racing creators: AlreadyExists; to stale writers: Conflict), or the retry was not tested.
    """
    writers, rounds = 8, 3
    start_round = threading.Barrier(writers)
    creators, updaters = threading.Barrier(writers), threading.Barrier(writers - 1)
    clients = [kube_cluster.api_client() for _ in range(writers)]
    apis = [GatedApi(CoreV1Api(client), creators, updaters) for client in clients]
    errors: list[BaseException] = []

    def write(index: int) -> None:
        store = ProjectSecretsStore(apis[index], kube_namespace)  # type: ignore[arg-type]  # default retry policy
        try:
            for r in range(rounds):
                start_round.wait(timeout=60)
                store.set_secrets("proj", {f"W{index}_R{r}": f"value-{index}-{r}"})
        except BaseException as exc:
            errors.append(exc)
            for barrier in (start_round, creators, updaters):
                barrier.abort()

    started = time.monotonic()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    for client in clients:
        client.close()
    assert not errors, errors
    with kube_cluster.api_client() as admin:
        values = _raw(CoreV1Api(admin), kube_namespace, "proj")
    assert values == {f"W{i}_R{r}": f"value-{i}-{r}" for i in range(writers) for r in range(rounds)}
    statuses: Counter[tuple[str, int, str]] = Counter()
    for api in apis:
        statuses.update(api.statuses)
    already_exists = statuses[("create_namespaced_secret", 409, "AlreadyExists")]
    conflicts = statuses[("replace_namespaced_secret", 409, "Conflict")]
    print(
        f"\nconcurrency: {writers} writers x {rounds} rounds in {elapsed:.2f}s; "
        f"409 AlreadyExists={already_exists}, 409 Conflict={conflicts}, all={dict(statuses)}",
        file=sys.stderr,
    )
    assert already_exists == writers - 1, statuses  # one creator won, the others merged
    assert conflicts >= writers - 2, statuses  # one stale writer won, the others redid their step
    assert set(statuses) <= {
        ("read_namespaced_secret", 404, "NotFound"),  # each writer's first read
        ("create_namespaced_secret", 409, "AlreadyExists"),
        ("replace_namespaced_secret", 409, "Conflict"),
    }


@pytest.mark.kubernetes
def test_transient_errors_are_retried(core: CoreV1Api, kube_namespace: str) -> None:
    ProjectSecretsStore(core, kube_namespace).set_secrets("proj", {"A": "1"})
    rec = RecordingPolicy(base_delay=0.01)
    api = FaultyApi(
        core,
        {
            "read_namespaced_secret": [api_error(500), ConnectionResetError(104, "reset"), None, None],
            "replace_namespaced_secret": [
                api_error(503),
                api_error(409),
                urllib3.exceptions.ProtocolError("aborted"),
            ],
        },
    )
    store = ProjectSecretsStore(api, kube_namespace, retry_policy=rec.policy)  # type: ignore[arg-type]
    assert store.set_secrets("proj", {"B": "2"}) == ["A", "B"]
    assert _raw(core, kube_namespace, "proj") == {"A": "1", "B": "2"}
    # read: 500, reset, ok | replace: 503, then 409 -> whole step again | read: ok | replace: reset, ok
    assert api.calls["read_namespaced_secret"] == 4
    assert api.calls["replace_namespaced_secret"] == 4
    assert len(rec.sleeps) == 5


@pytest.mark.kubernetes
def test_create_race_is_merged(core: CoreV1Api, kube_namespace: str) -> None:
    """Another writer creates the Secret between our read (404) and our create: merge, not fail."""

    class Racer(FaultyApi):
        def __getattr__(self, name: str) -> Any:
            if name == "create_namespaced_secret" and not self.calls[name]:
                ProjectSecretsStore(core, kube_namespace).set_secrets("proj", {"THEIRS": "1"})
            return super().__getattr__(name)

    api = Racer(core)
    store = ProjectSecretsStore(api, kube_namespace, retry_policy=FAST)  # type: ignore[arg-type]
    assert store.set_secrets("proj", {"OURS": "2"}) == ["OURS", "THEIRS"]
    assert api.statuses == Counter(
        {("read_namespaced_secret", 404, "NotFound"): 1, ("create_namespaced_secret", 409, "AlreadyExists"): 1}
    )
    assert _raw(core, kube_namespace, "proj") == {"OURS": "2", "THEIRS": "1"}


@pytest.mark.kubernetes
@pytest.mark.parametrize(
    ("method", "status", "cls"),
    [
        ("replace_namespaced_secret", 403, KubernetesAccessError),
        ("replace_namespaced_secret", 422, KubernetesInvalidError),
        ("read_namespaced_secret", 403, KubernetesAccessError),
    ],
)
def test_permanent_errors_fail_at_once_and_change_nothing(
    core: CoreV1Api, kube_namespace: str, method: str, status: int, cls: type[KubernetesApiError]
) -> None:
    ProjectSecretsStore(core, kube_namespace).set_secrets("proj", {"A": "1"})
    version = _version(core, kube_namespace, "proj")
    rec = RecordingPolicy()
    api = FaultyApi(core, {method: [api_error(status)]})
    store = ProjectSecretsStore(api, kube_namespace, retry_policy=rec.policy)  # type: ignore[arg-type]
    with pytest.raises(cls) as info:
        store.set_secrets("proj", {"B": SENTINEL})
    assert api.calls[method] == 1 and rec.sleeps == []
    text = str(info.value)
    assert f"Secret 'airflow-project-secrets-proj' in namespace {kube_namespace!r}" in text
    assert f"HTTP {status}" in text and SENTINEL not in text
    assert _version(core, kube_namespace, "proj") == version


@pytest.mark.kubernetes
def test_unavailable_server_gives_up_with_a_clear_error(core: CoreV1Api, kube_namespace: str) -> None:
    rec = RecordingPolicy(max_attempts=3)
    api = FaultyApi(core, {"read_namespaced_secret": [api_error(503)] * 3})
    store = ProjectSecretsStore(api, kube_namespace, retry_policy=rec.policy)  # type: ignore[arg-type]
    with pytest.raises(KubernetesUnavailableError) as info:
        store.list_keys("proj")
    assert api.calls["read_namespaced_secret"] == 3
    assert "read Secret 'airflow-project-secrets-proj'" in str(info.value) and "gave up after 3 attempts" in str(
        info.value
    )


@pytest.mark.kubernetes
def test_debug_logging_of_the_kubernetes_client_never_shows_secret_data(
    store: ProjectSecretsStore, core: CoreV1Api, caplog: pytest.LogCaptureFixture
) -> None:
    # The official client logs whole response bodies at DEBUG; a Secret's are base64 data.
    encoded = base64.b64encode(SENTINEL.encode()).decode()
    with caplog.at_level(logging.DEBUG, logger="kubernetes.client.rest"):
        store.set_secrets("dbg", {"TOKEN": SENTINEL})
        assert store.list_keys("dbg") == ["TOKEN"]
        assert dict(store.read_values("dbg")) == {"TOKEN": SENTINEL}
        core.list_namespaced_secret(store.namespace)  # the client used directly, as KPO would
        core.list_namespaced_pod(store.namespace)
    bodies = [r.getMessage() for r in caplog.records if r.name == "kubernetes.client.rest"]
    assert any("withheld" in body for body in bodies), bodies
    assert any('"PodList"' in body for body in bodies)  # other responses stay as they were
    assert not any(SENTINEL in body or encoded in body for body in bodies)


@pytest.mark.kubernetes
def test_a_secret_deleted_between_read_and_write_is_created_again(
    store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_secrets("racy", {"A_KEY": "alpha"})
    real_replace = core.replace_namespaced_secret
    raced: list[str] = []

    def delete_first(name: str, namespace: str, body: object, **kwargs: object) -> object:
        if not raced:  # another writer deletes the project right after our read
            raced.append(name)
            core.delete_namespaced_secret(name, namespace)
        return real_replace(name, namespace, body, **kwargs)

    monkeypatch.setattr(store._hook.core_v1_client, "replace_namespaced_secret", delete_first)
    assert store.set_secrets("racy", {"B_KEY": "beta"}) == ["B_KEY"]  # redone on what exists now
    assert raced and _raw(core, kube_namespace, "racy") == {"B_KEY": "beta"}


@pytest.mark.kubernetes
def test_an_immutable_project_secret_gets_a_clear_error(
    store: ProjectSecretsStore, core: CoreV1Api, kube_namespace: str
) -> None:
    store.set_secrets("frozen", {"A_KEY": "alpha"})
    core.patch_namespaced_secret(project_secret_name("frozen"), kube_namespace, {"immutable": True})
    with pytest.raises(SecretConfigError, match="immutable") as info:
        store.set_secrets("frozen", {"A_KEY": canary("changed")})
    assert canary("changed") not in str(info.value)
    assert store.set_secrets("frozen", {"A_KEY": "alpha"}) == ["A_KEY"]  # no change: nothing to refuse
    assert store.delete_project("frozen") and store.list_keys("frozen") == []


@pytest.mark.kubernetes
def test_a_secrets_file_accepts_the_keys_the_dict_form_accepts(store: ProjectSecretsStore, tmp_path: Path) -> None:
    path = tmp_path / "secrets.txt"
    path.write_text("db-password=file-pw\ntls.crt=cert\n")
    assert store.set_secrets_from_file("files", path) == ["db-password", "tls.crt"]
