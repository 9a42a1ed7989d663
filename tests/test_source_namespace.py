"""Where the backend's ``kubernetes`` source reads a project's Secret, under both layouts.

Under namespace-per-project (``[secrets_provider] project_namespace`` set) a source with only a
``project`` reads the project's namespace, as the operator, ``airflow-secrets render`` and the
CLI's project commands do; an explicit ``namespace`` wins; in the shared layout (and for
``secret`` / ``label_selector`` sources) it reads the pod's own namespace, as before.

The pure resolution runs without a cluster; the ``kubernetes`` tests read real Secrets on the
real kube-apiserver, with a same-named Secret (another canary) planted where the source would
read if it ignored the layout: the namespace of "the pod's own" service account, which outside a
pod is a file this test writes (``hooks.in_cluster.NAMESPACE_FILE`` pointed at it).
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.cli import main
from airflow_secrets_provider.core.errors import SecretConfigError, SecretsProviderError
from airflow_secrets_provider.core.naming import project_secret_name
from airflow_secrets_provider.kube import in_cluster
from airflow_secrets_provider.kube.layout import configured_task_namespace
from airflow_secrets_provider.secrets import ChainedSecretsBackend
from airflow_secrets_provider.secrets.kubernetes_source import KubernetesSource, source_namespace
from devstack.kube_cluster import KubeCluster, create_namespace

ENV = "AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE"
OPTION = "[secrets_provider] project_namespace"


@pytest.fixture
def own_namespace_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stands in for the pod's service-account namespace file (no pod here); empty until written."""
    path = tmp_path / "serviceaccount-namespace"
    monkeypatch.setattr(in_cluster, "NAMESPACE_FILE", str(path))
    return path


# -- the pure resolution -------------------------------------------------------------------------


def test_an_explicit_namespace_wins_over_the_layout() -> None:
    assert source_namespace("fraud", "central", "ml-{project}") == "central"
    assert source_namespace(None, "central", "ml-{project}") == "central"


def test_a_project_reads_its_namespace_under_namespace_per_project() -> None:
    assert source_namespace("fraud", None, "ml-{project}") == "ml-fraud"
    assert source_namespace("fraud", None, "{project}") == "fraud"


def test_shared_layout_and_non_project_sources_leave_it_to_the_pod() -> None:
    assert source_namespace("fraud", None, None) is None  # shared layout: the pod's own, as before
    assert source_namespace(None, None, "ml-{project}") is None  # secret / label_selector sources


def test_the_derivation_is_the_operators(monkeypatch: pytest.MonkeyPatch) -> None:
    for template in ("{project}", "ml-{project}", "{project}-secrets"):
        monkeypatch.setenv(ENV, template)
        assert source_namespace("fraud", None, template) == configured_task_namespace("fraud", None)


@pytest.mark.parametrize(
    "template", ["ml", "{project}-{project}", "ML_{project}", "{{ x }}{project}", "a" * 60 + "{project}"]
)
def test_a_template_rendering_no_valid_namespace_names_the_option(template: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        source_namespace("fraud", None, template)
    assert info.value.field == OPTION


def test_the_error_never_quotes_a_value_typed_into_the_template() -> None:
    value = secrets.token_hex(16)
    with pytest.raises(SecretConfigError) as info:
        source_namespace("fraud", None, f"{{project}}={value}")
    assert info.value.field == OPTION
    assert value not in str(info.value)


# -- the source: lazy, and what it reads ---------------------------------------------------------


def test_construction_reads_no_layout(monkeypatch: pytest.MonkeyPatch, own_namespace_file: Path) -> None:
    """A bad template does not fail construction (Airflow builds backends in every process,
    while loading its configuration): it fails the first lookup, naming the option."""
    monkeypatch.setenv(ENV, "no-placeholder")
    source = KubernetesSource.from_config({"kind": "kubernetes", "project": "fraud"}, "sources[0]")
    assert "hook" not in vars(source)
    with pytest.raises(SecretConfigError) as info:
        _ = source.namespace
    assert info.value.field == OPTION
    monkeypatch.setenv(ENV, "ml-{project}")  # fixed: nothing was kept from the failed attempt
    assert source.namespace == "ml-fraud"


def test_secret_and_selector_sources_ignore_the_layout(
    monkeypatch: pytest.MonkeyPatch, own_namespace_file: Path
) -> None:
    monkeypatch.setenv(ENV, "ml-{project}")
    own_namespace_file.write_text("airflow\n")
    for option in ({"secret": "shared-conns"}, {"label_selector": "team=data"}):
        source = KubernetesSource.from_config({"kind": "kubernetes", **option}, "sources[0]")
        assert source.namespace == "airflow"


def test_a_lookup_while_airflow_loads_its_configuration_is_a_clear_failure(
    monkeypatch: pytest.MonkeyPatch, own_namespace_file: Path
) -> None:
    """``*_secret`` options can be looked up while ``airflow.configuration`` is still importing
    (its ``conf`` not yet bound): the layout is unknown then, so the source does not guess."""
    own_namespace_file.write_text("airflow\n")
    monkeypatch.setitem(sys.modules, "airflow.configuration", types.ModuleType("airflow.configuration"))
    source = KubernetesSource.from_config({"kind": "kubernetes", "project": "fraud"}, "sources[0]")
    with pytest.raises(SecretsProviderError) as info:
        _ = source.namespace
    assert OPTION in str(info.value) and "give this source a namespace" in str(info.value)


# -- airflow-secrets render shows the project's namespace ----------------------------------------


def _dag_file(tmp_path: Path, namespace: str | None) -> Path:
    path = tmp_path / f"ns_dag_{secrets.token_hex(4)}.py"
    path.write_text(
        "import pendulum\n"
        "from airflow.sdk import DAG\n"
        "from airflow_secrets_provider import SecretTaskOperator\n"
        "with DAG('ns_dag', schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:\n"
        f"    SecretTaskOperator(task_id='t', image='i', project='fraud', namespace={namespace!r})\n"
    )
    return path


def _rendered_pod(capsys: pytest.CaptureFixture[str], dag_file: Path) -> dict:
    assert main(["render", str(dag_file), "-o", "json"]) == 0
    (document,) = json.loads(capsys.readouterr().out)
    return document["pod"]


def test_render_shows_the_projects_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))  # render reaches no cluster
    monkeypatch.setenv(ENV, "ml-{project}")
    pod = _rendered_pod(capsys, _dag_file(tmp_path, None))
    assert pod["metadata"]["namespace"] == "ml-fraud"
    assert pod["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"] == project_secret_name("fraud")
    assert _rendered_pod(capsys, _dag_file(tmp_path, "ml-fraud"))["metadata"]["namespace"] == "ml-fraud"
    # Aimed at another namespace: refused in the preview as at run time, naming the field.
    assert main(["render", str(_dag_file(tmp_path, "ml-churn"))]) != 0
    assert "namespace:" in capsys.readouterr().err
    monkeypatch.delenv(ENV)  # shared layout: the task's own namespace, as before
    assert _rendered_pod(capsys, _dag_file(tmp_path, "team-a"))["metadata"]["namespace"] == "team-a"


# -- against the real kube-apiserver -------------------------------------------------------------

PREFIX = "asp-bk"
TEMPLATE = PREFIX + "-{project}"


@dataclass
class Planted:
    """A project whose Secret exists twice: in its namespace, and (a decoy) in the pod's own."""

    project: str
    project_ns: str
    own_ns: str
    in_project_ns: str  # the canary AIRFLOW_VAR_REGION holds in the project's namespace
    in_own_ns: str  # ... and in the decoy
    kubeconfig: str


def _secret(name: str, data: dict[str, str]) -> kubernetes.client.V1Secret:
    return kubernetes.client.V1Secret(metadata=kubernetes.client.V1ObjectMeta(name=name), string_data=data)


@pytest.fixture
def planted(kube_cluster: KubeCluster, kube_namespace: str, own_namespace_file: Path) -> Iterator[Planted]:
    with kube_cluster.api_client() as client:
        core = kubernetes.client.CoreV1Api(client)
        project_ns = create_namespace(client, PREFIX)  # asp-bk-<8 hex>: the template with project <8 hex>
        try:
            project = project_ns.removeprefix(f"{PREFIX}-")
            name = project_secret_name(project)
            world = Planted(
                project,
                project_ns,
                kube_namespace,
                secrets.token_hex(16),
                secrets.token_hex(16),
                str(kube_cluster.kubeconfig),
            )
            core.create_namespaced_secret(
                project_ns, _secret(name, {"AIRFLOW_VAR_REGION": world.in_project_ns, "AIRFLOW_VAR_ONLY_PROJECT": "p"})
            )
            core.create_namespaced_secret(
                kube_namespace, _secret(name, {"AIRFLOW_VAR_REGION": world.in_own_ns, "AIRFLOW_VAR_ONLY_OWN": "o"})
            )
            own_namespace_file.write_text(kube_namespace + "\n")
            yield world
        finally:
            try:
                core.delete_namespace(project_ns)
            except ApiException as exc:
                if exc.status != 404:
                    raise


def _backend(world: Planted, **options: str) -> ChainedSecretsBackend:
    source = {"kind": "kubernetes", "project": world.project, "kube_config": world.kubeconfig, **options}
    return ChainedSecretsBackend(sources=[source], cache_ttl_seconds=0, negative_cache_ttl_seconds=0)


@pytest.mark.kubernetes
def test_a_project_source_reads_the_projects_namespace(
    planted: Planted, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV, TEMPLATE)
    chain = _backend(planted)
    assert chain.get_variable("region") == planted.in_project_ns
    assert chain.get_variable("only_own") is None
    # The CLI's project commands read the same Secret (same layout function).
    assert main(["keys", planted.project, "--kubeconfig", planted.kubeconfig, "-o", "json"]) == 0
    out = capsys.readouterr().out
    assert "AIRFLOW_VAR_ONLY_PROJECT" in out and "AIRFLOW_VAR_ONLY_OWN" not in out


@pytest.mark.kubernetes
def test_an_explicit_namespace_wins(planted: Planted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TEMPLATE)
    assert _backend(planted, namespace=planted.own_ns).get_variable("region") == planted.in_own_ns


@pytest.mark.kubernetes
def test_the_shared_layout_reads_the_pods_own_namespace(planted: Planted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert _backend(planted).get_variable("region") == planted.in_own_ns


@pytest.mark.kubernetes
def test_a_bad_template_fails_the_lookup_naming_the_option(
    planted: Planted, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV, PREFIX + "-{project}-{project}")
    caplog.set_level(logging.WARNING)
    assert _backend(planted).get_variable("region") is None  # not the decoy: the source fails
    assert OPTION in caplog.text and "exactly once" in caplog.text
    assert planted.in_project_ns not in caplog.text and planted.in_own_ns not in caplog.text
    monkeypatch.setenv(ENV, "Upper-{project}")
    source = KubernetesSource.from_config(
        {"kind": "kubernetes", "project": planted.project, "kube_config": planted.kubeconfig}, "sources[0]"
    )
    with pytest.raises(SecretConfigError) as info:
        source.data()
    assert info.value.field == OPTION
