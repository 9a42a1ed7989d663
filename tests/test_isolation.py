"""The isolation matrix: what project alpha can reach of project beta, in both layouts.

Against a real kube-apiserver (the ``kubernetes`` tier), each layout is set up as an admin would:
the RBAC is what ``airflow-secrets rbac ... --layout`` prints, applied as printed (the
namespace-per-project output creates the project's Namespace too), and every identity is a real
ServiceAccount whose token comes from the TokenRequest API: alpha's launcher, beta's launcher,
alpha's viewer (the default viewer Role) and a viewer with ``--raw-logs``. Beta's project Secret
is written by the management identity, beta's pending pod and per-task Secret by beta's
launcher, and beta's ``azure_vault`` service principal Secret by the admin.

Each path of :mod:`tests.support.isolation` is then tried with alpha's tokens and recorded as
``closed`` (the API server refused it) or ``open``; the test asserts the whole record equals
the expected matrix, which the docs print (docs/security.md). "A pod of alpha's gets beta's Secret" is open when
alpha may create, in the namespace holding that Secret, a pod whose reference resolves there:
Secret references are namespace-local, and the kubelet serves whatever Secret a pod bound to it
references. That last step is checked by the kubelet stand-in's reference resolution (checked
against the real kubelet in ``tests/test_pods.py``) rather than by starting containers.
Deletes and patches use server-side dry run (``dryRun=All``), which goes through
authentication, authorization and admission like the real request, so the fixtures stay intact.
Exec and logs are authorized before the API server contacts a kubelet: a 403 is a refusal; an
allowed request gets the pod's (empty) log or a 400 for exec, since these pods are never bound.

The operator tests at the end run ``SecretTaskOperator`` as beta's launcher (a kubeconfig holding
only its ServiceAccount token) in each layout: the namespace derived from the project, the
error for a task aimed at another project's namespace, and the two masking items (the
``azure_vault`` pod-mode client secret, and ``mask_external_secrets``).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import (
    ApiClient,
    CoreV1Api,
)
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider import SecretConfigError, SecretTaskOperator, with_secrets
from airflow_secrets_provider.cli import main as cli_main
from airflow_secrets_provider.core.naming import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PROJECT_LABEL,
    project_secret_name,
    task_secret_name,
)
from airflow_secrets_provider.kube.layout import configured_task_namespace, project_namespace
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from devstack.kube_cluster import KubeCluster, create_namespace
from devstack.kubelet_standin import KubeletStandIn
from tests.support.canaries import canary
from tests.support.isolation import CLOSED, EXPECTED, LAYOUTS, OPEN, PER_PROJECT, SHARED, markdown_table
from tests.support.rbac_apply import (
    Applied,
    apply_documents,
    rbac_documents,
    service_account_token,
    status_of,
    token_kubeconfig,
)
from tests.support.tiers import skip_or_fail
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = "iso-{project}"
FORMS = ("env", "envFrom", "volume", "projected")


# -- the docs state what the test measures --------------------------------------------------


def test_docs_state_the_measured_matrix() -> None:
    page = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    assert markdown_table() in page, "docs/security.md's isolation table differs from tests/support/isolation.py"


# -- one layout, set up as an admin would ----------------------------------------------------


@dataclass
class World:
    layout: str
    admin: CoreV1Api
    standin: KubeletStandIn
    alpha: str
    beta: str
    gamma: str  # a project that does not exist yet
    alpha_ns: str
    beta_ns: str
    gamma_ns: str
    users: dict[str, CoreV1Api] = field(default_factory=dict)  # alpha, beta, viewer, viewer_raw
    tokens: dict[str, str] = field(default_factory=dict)
    beta_pod: str = "beta-task"
    beta_task_secret: str = "beta-task-secrets"
    beta_azure_secret: str = "azure-sp-beta"
    alpha_pod: str = "alpha-task"


def _apply(admin: CoreV1Api, documents: list[dict[str, Any]], created_namespaces: list[str]) -> None:
    """Apply as an admin would; namespaces it creates are appended to ``created_namespaces``."""
    apply_documents(admin, documents, Applied(namespaces=created_namespaces))


def _pod(name: str, secret: str, key: str, form: str) -> dict[str, Any]:
    """A pod whose container gets ``secret`` in one of the four forms a pod can reference it."""
    container: dict[str, Any] = {"name": "base", "image": "busybox:1.36"}
    volumes: list[dict[str, Any]] = []
    if form == "env":
        container["env"] = [{"name": "STOLEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}]
    elif form == "envFrom":
        container["envFrom"] = [{"secretRef": {"name": secret}}]
    elif form == "volume":
        volumes = [{"name": "v", "secret": {"secretName": secret}}]
    else:
        volumes = [{"name": "v", "projected": {"sources": [{"secret": {"name": secret}}]}}]
    if volumes:
        container["volumeMounts"] = [{"name": "v", "mountPath": "/stolen"}]
    return {
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container], "volumes": volumes},
    }


@pytest.fixture(scope="module", params=LAYOUTS)
def world(request: pytest.FixtureRequest, kube_cluster: KubeCluster) -> Iterator[World]:
    layout: str = request.param
    suffix = secrets.token_hex(3)
    alpha, beta, gamma = f"alpha-{suffix}", f"beta-{suffix}", f"gamma-{suffix}"
    namespaces: list[str] = []
    clients: list[ApiClient] = []
    admin_client = kube_cluster.api_client()
    clients.append(admin_client)
    admin = CoreV1Api(admin_client)
    try:
        if layout == PER_PROJECT:
            ns = {p: project_namespace(p, TEMPLATE) for p in (alpha, beta, gamma)}
            common = ["--layout", PER_PROJECT, "--namespace-template", TEMPLATE]
        else:
            shared = create_namespace(admin_client, "iso-shared")
            namespaces.append(shared)
            ns = dict.fromkeys((alpha, beta, gamma), shared)
            common = ["--layout", layout, "--namespace", shared]
        beta_sp = "azure-sp-beta"
        docs = rbac_documents(
            "launcher", *common, "--project", alpha, "--service-account", f"{ns[alpha]}/alpha-launcher"
        )
        docs += rbac_documents(
            "launcher",
            *common,
            "--project",
            beta,
            "--service-account",
            f"{ns[beta]}/beta-launcher",
            "--readable-secret",
            beta_sp,
        )
        docs += rbac_documents("viewer", *common, "--project", alpha, "--service-account", f"{ns[alpha]}/alpha-viewer")
        raw = ["--layout", layout, "--namespace", ns[alpha], "--raw-logs"]
        docs += rbac_documents("viewer", *raw, "--service-account", f"{ns[alpha]}/alpha-viewer-raw")
        if layout == PER_PROJECT:  # the future project's namespace exists; its project does not yet
            docs.append(rbac_documents("viewer", *common, "--project", gamma, "--user", "nobody")[0])
        _apply(admin, docs, namespaces)
        w = World(layout, admin, KubeletStandIn(admin), alpha, beta, gamma, ns[alpha], ns[beta], ns[gamma])
        for user, (where, account) in {
            "alpha": (w.alpha_ns, "alpha-launcher"),
            "beta": (w.beta_ns, "beta-launcher"),
            "viewer": (w.alpha_ns, "alpha-viewer"),
            "viewer_raw": (w.alpha_ns, "alpha-viewer-raw"),
        }.items():
            w.tokens[user] = service_account_token(admin, where, account)
            client = kube_cluster.api_client(w.tokens[user])
            clients.append(client)
            w.users[user] = CoreV1Api(client)
        _populate(w)
        yield w
    finally:
        for name in namespaces:
            with contextlib.suppress(ApiException):
                admin.delete_namespace(name)
        for client in clients:
            client.close()


def _eventually_allowed(call: Callable[[], object], what: str) -> Any:
    """RBAC reaches the authorizer through an informer: a fresh grant may take a moment."""
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            return call()
        except ApiException as exc:
            if exc.status != 403 or time.monotonic() > deadline:
                raise AssertionError(f"{what}: HTTP {exc.status}") from None
        time.sleep(0.2)


def _populate(w: World) -> None:
    """Beta's objects, each written by whoever writes it in production; alpha's own pod."""
    ProjectSecretsStore(w.admin, w.alpha_ns).set_secrets(w.alpha, {"TOKEN": canary("alpha")})
    ProjectSecretsStore(w.admin, w.beta_ns).set_secrets(w.beta, {"TOKEN": canary("beta")})
    sp = {"tenant_id": "t", "client_id": "c", "secret": canary("beta-sp")}
    w.admin.create_namespaced_secret(w.beta_ns, {"metadata": {"name": w.beta_azure_secret}, "stringData": sp})
    beta = w.users["beta"]
    pod = _eventually_allowed(
        lambda: beta.create_namespaced_pod(w.beta_ns, _pod(w.beta_pod, project_secret_name(w.beta), "TOKEN", "env")),
        "beta's launcher creates its pod",
    )
    owner = {"apiVersion": "v1", "kind": "Pod", "name": w.beta_pod, "uid": pod.metadata.uid}
    beta.create_namespaced_secret(
        w.beta_ns,
        {"metadata": {"name": w.beta_task_secret, "ownerReferences": [owner]}, "stringData": {"X": canary("task")}},
    )
    own = _pod(w.alpha_pod, project_secret_name(w.alpha), "TOKEN", "env")
    _eventually_allowed(lambda: w.users["alpha"].create_namespaced_pod(w.alpha_ns, own), "alpha creates its pod")
    # Wait until the viewers' grants are visible too, so their 403s below are verdicts.
    _eventually_allowed(lambda: w.users["viewer"].list_namespaced_pod(w.alpha_ns), "alpha's viewer")
    _eventually_allowed(lambda: w.users["viewer_raw"].list_namespaced_pod(w.alpha_ns), "alpha's raw-log viewer")


# -- the paths ---------------------------------------------------------------------------------


def _verdict(refused: bool) -> str:
    return CLOSED if refused else OPEN


def _mount_verdict(w: World, secret: str, key: str) -> str:
    """Can any pod alpha may create get ``secret`` (beta's, in beta's namespace)? All four forms."""
    alpha = w.users["alpha"]
    verdicts = set()
    for form in FORMS:
        reached = False
        for where in dict.fromkeys((w.beta_ns, w.alpha_ns)):  # beta's namespace, then alpha's own
            name = f"steal-{form.lower()}-{secrets.token_hex(3)}"
            try:
                pod = alpha.create_namespaced_pod(where, _pod(name, secret, key, form))
            except ApiException as exc:
                assert exc.status == 403, f"{form} in {where}: HTTP {exc.status}"
                assert where != w.alpha_ns, "alpha's launcher must be able to create pods at home"
                continue
            try:
                # The reference resolves iff the kubelet would hand the Secret to the container.
                reached |= w.standin.check_references(pod) == []
            finally:
                w.admin.delete_namespaced_pod(name, where, grace_period_seconds=0)
        verdicts.add(_verdict(not reached))
    assert len(verdicts) == 1, f"the four forms disagree for {secret}: {verdicts}"
    return verdicts.pop()


def _subresource(client: CoreV1Api, method: str, namespace: str, pod: str, sub: str, query: str) -> int:
    """Call a pod subresource as the Python client's stream would, and return the HTTP status."""
    try:
        client.api_client.call_api(
            f"/api/v1/namespaces/{namespace}/pods/{pod}/{sub}?{query}",
            method,
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
    except ApiException as exc:
        return int(exc.status)
    return 200


def measure(w: World) -> dict[str, str]:
    alpha, ns = w.users["alpha"], w.beta_ns
    found: dict[str, str] = {}
    reads = [
        status_of(lambda: alpha.read_namespaced_secret(project_secret_name(w.beta), ns)),
        status_of(lambda: alpha.read_namespaced_secret(w.beta_azure_secret, ns)),
        status_of(lambda: alpha.read_namespaced_secret(w.beta_task_secret, ns)),
        status_of(lambda: alpha.list_namespaced_secret(ns)),
        status_of(lambda: alpha.list_namespaced_secret(ns, watch=True, timeout_seconds=1)),
    ]
    found["api-read"] = _verdict(all(code == 403 for code in reads))
    found["mount-project-secret"] = _mount_verdict(w, project_secret_name(w.beta), "TOKEN")
    found["mount-task-secret"] = _mount_verdict(w, w.beta_task_secret, "X")
    found["mount-azure-credentials"] = _mount_verdict(w, w.beta_azure_secret, "secret")
    deletes = [
        status_of(lambda: alpha.delete_namespaced_secret(project_secret_name(w.beta), ns, dry_run="All")),
        status_of(lambda: alpha.delete_namespaced_secret(w.beta_task_secret, ns, dry_run="All")),
    ]
    found["delete-secrets"] = _verdict(all(code == 403 for code in deletes))
    found["delete-pods"] = _verdict(
        status_of(lambda: alpha.delete_namespaced_pod(w.beta_pod, ns, dry_run="All")) == 403
    )
    planted = {
        "metadata": {
            "name": project_secret_name(w.gamma),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, PROJECT_LABEL: w.gamma},
        },
        "stringData": {"TOKEN": "planted"},
    }
    plant = status_of(lambda: alpha.create_namespaced_secret(w.gamma_ns, planted, dry_run="All"))
    assert plant in (200, 201, 403), plant
    found["plant-future-project"] = _verdict(plant == 403)
    image = {"spec": {"containers": [{"name": "base", "image": "attacker/image:latest"}]}}
    patch = status_of(lambda: alpha.patch_namespaced_pod(w.beta_pod, ns, image, dry_run="All"))
    found["patch-pod-image"] = _verdict(patch == 403)
    execs = [
        _subresource(alpha, "POST", ns, w.beta_pod, "exec", "command=env&stdout=true&container=base"),
        _subresource(alpha, "GET", ns, w.beta_pod, "exec", "command=env&stdout=true&container=base"),
    ]
    found["exec"] = _verdict(all(code == 403 for code in execs))
    found["logs"] = _verdict(status_of(lambda: alpha.read_namespaced_pod_log(w.beta_pod, ns)) == 403)
    viewer, raw = w.users["viewer"], w.users["viewer_raw"]
    viewer_logs = [
        status_of(lambda: viewer.read_namespaced_pod_log(w.beta_pod, ns)),
        status_of(lambda: viewer.read_namespaced_pod_log(w.alpha_pod, w.alpha_ns)),
    ]
    found["viewer-logs"] = _verdict(all(code == 403 for code in viewer_logs))
    found["viewer-raw-logs"] = _verdict(status_of(lambda: raw.read_namespaced_pod_log(w.beta_pod, ns)) == 403)
    return found


@pytest.mark.kubernetes
def test_isolation_matrix(world: World) -> None:
    """Every path measured with real tokens equals the matrix the docs print, per layout."""
    found = measure(world)
    assert found == EXPECTED[world.layout]


@pytest.mark.kubernetes
def test_the_refusals_are_verdicts_not_a_broken_role(world: World) -> None:
    """Controls: each identity can do, to its own project, what it is refused for the other."""
    alpha, ns = world.users["alpha"], world.alpha_ns
    assert status_of(lambda: alpha.read_namespaced_secret(project_secret_name(world.alpha), ns)) == 200
    assert world.standin.check_references(alpha.read_namespaced_pod(world.alpha_pod, ns)) == []
    assert status_of(lambda: alpha.delete_namespaced_pod(world.alpha_pod, ns, dry_run="All")) == 200
    image = {"spec": {"containers": [{"name": "base", "image": "busybox:1.37"}]}}
    assert status_of(lambda: alpha.patch_namespaced_pod(world.alpha_pod, ns, image, dry_run="All")) == 200
    # Allowed (the pod, never bound to a node, then has no log and no container to exec into).
    assert status_of(lambda: alpha.read_namespaced_pod_log(world.alpha_pod, ns)) == 200
    assert _subresource(alpha, "POST", ns, world.alpha_pod, "exec", "command=env&stdout=true") == 400
    assert _subresource(alpha, "GET", ns, world.alpha_pod, "exec", "command=env&stdout=true") == 400
    assert status_of(lambda: world.users["viewer_raw"].read_namespaced_pod_log(world.alpha_pod, ns)) == 200
    assert status_of(lambda: world.users["viewer"].list_namespaced_pod(ns)) == 200
    beta = world.users["beta"]
    assert status_of(lambda: beta.read_namespaced_secret(world.beta_azure_secret, world.beta_ns)) == 200


# -- the operator, run as beta's launcher ------------------------------------------------------


@pytest.fixture
def beta_kubeconfig(world: World, kube_cluster: KubeCluster, tmp_path: Path) -> str:
    """A kubeconfig holding beta's launcher token only (TLS verified with the cluster's CA)."""
    return token_kubeconfig(kube_cluster, world.tokens["beta"], tmp_path / "beta-kubeconfig")


@pytest.fixture
def layout_config(world: World, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The deployment's ``[secrets_provider] project_namespace`` for this layout (None: shared)."""
    if world.layout == PER_PROJECT:
        monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", TEMPLATE)
        return None  # tasks name no namespace: it is derived from the project
    monkeypatch.delenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", raising=False)
    return world.beta_ns


def _beta_task(world: World, kubeconfig: str, namespace: str | None, **kwargs: Any) -> SecretTaskOperator:
    return SecretTaskOperator(
        task_id=f"t-{secrets.token_hex(3)}",
        image="busybox:1.36",
        project=world.beta,
        namespace=namespace,  # type: ignore[arg-type]
        config_file=kubeconfig,
        in_cluster=False,
        get_logs=False,
        reattach_on_restart=False,
        **kwargs,
    )


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_the_operator_runs_as_betas_launcher_in_betas_namespace(
    world: World, beta_kubeconfig: str, layout_config: str | None
) -> None:
    """With the generated RBAC only: keys checked, pod and per-task Secret created where beta lives."""
    op = _beta_task(world, beta_kubeconfig, layout_config, secrets=[with_secrets("inline", {"A": canary("inline")})])
    op.prepare_secrets()
    request = op.build_pod_request_obj()
    assert request.metadata.namespace == world.beta_ns
    pod = op.get_or_create_pod(request, context={})  # type: ignore[arg-type]
    op.pod = pod
    try:
        names = [s.metadata.name for s in world.admin.list_namespaced_secret(world.beta_ns).items]
        assert task_secret_name(pod.metadata.name) in names
    finally:
        op.on_kill()  # as beta: deletes the pod and its per-task Secret
    assert (
        status_of(lambda: world.admin.read_namespaced_secret(task_secret_name(pod.metadata.name), world.beta_ns)) == 404
    )


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_a_task_aimed_at_another_projects_namespace_fails_before_anything_is_created(
    world: World, beta_kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if world.layout != PER_PROJECT:
        # Shared layout: nothing to derive; the launcher's missing rights in alpha's namespace are
        # the matrix's business. The per-project layout adds the early, named error.
        monkeypatch.delenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", raising=False)
        assert configured_task_namespace(world.beta, world.alpha_ns) is None
        return
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", TEMPLATE)
    pods_before = world.admin.list_namespaced_pod(world.alpha_ns).items
    op = _beta_task(world, beta_kubeconfig, world.alpha_ns)
    with pytest.raises(SecretConfigError) as info:
        op.prepare_secrets()
    assert info.value.field == "namespace"
    assert f"project {world.beta!r} runs in namespace {world.beta_ns!r}" in str(info.value)
    assert world.admin.list_namespaced_pod(world.alpha_ns).items == pods_before


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_pod_mode_service_principal_secret_is_masked(
    world: World, beta_kubeconfig: str, layout_config: str | None
) -> None:
    """The worker reads the SP Secret to check it; the client secret the pod gets is now masked."""
    from airflow.sdk._shared.secrets_masker import redact

    sp_secret = world.admin.read_namespaced_secret(world.beta_azure_secret, world.beta_ns)
    client_secret = base64.b64decode(sp_secret.data["secret"]).decode()
    assert redact(client_secret) == client_secret  # nothing registered yet
    source = {"name": "team-vault", "k8s_secret": world.beta_azure_secret, "secrets": ["db"], "resolve_in": "pod"}
    op = _beta_task(world, beta_kubeconfig, layout_config, secrets=[with_secrets("azure_vault", source)])
    op.prepare_secrets()
    assert redact(f"AZURE_CLIENT_SECRET={client_secret}") == "AZURE_CLIENT_SECRET=***"
    assert redact("c") == "c"  # the ids are not secrets (and too short to mask anyway)


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_mask_external_secrets_is_auto_by_default_and_true_needs_get(
    world: World,
    beta_kubeconfig: str,
    layout_config: str | None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``"auto"`` by default: readable external Secrets are masked, a refused one is a warning by name.

    ``True`` fails the task on a refused read; ``False`` never reads (nothing masked).
    """
    from airflow.sdk._shared.secrets_masker import redact

    sp_secret = world.admin.read_namespaced_secret(world.beta_azure_secret, world.beta_ns)
    client_secret = base64.b64decode(sp_secret.data["secret"]).decode()
    unreadable_value = canary("unreadable")
    unreadable = f"ext-{secrets.token_hex(3)}"
    world.admin.create_namespaced_secret(
        world.beta_ns, {"metadata": {"name": unreadable}, "stringData": {"k": unreadable_value}}
    )

    def task(**kwargs: Any) -> SecretTaskOperator:
        op = _beta_task(world, beta_kubeconfig, layout_config, attach_project_secrets=False, **kwargs)
        return op.set_env_from_secret("EXTERNAL", world.beta_azure_secret, "secret")

    monkeypatch.delenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", raising=False)
    task(mask_external_secrets=False).prepare_secrets()
    assert redact(client_secret) == client_secret  # off: not read, not masked
    # The default ("auto"): the readable one is masked; the unreadable one is one warning naming
    # it and the RBAC flag, and the task goes on.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        task().mount_secret(unreadable, "/etc/ext").prepare_secrets()
    assert redact(f"x {client_secret} y") == "x *** y"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and unreadable in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert f"airflow-secrets rbac launcher --readable-secret {unreadable}" in warnings[0]
    assert redact(unreadable_value) == unreadable_value  # it could not be read: not masked
    assert unreadable_value not in caplog.text

    # True (here through Airflow's config): a Secret the launcher may not read fails the task by name.
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", "True")
    refused = task().mount_secret(unreadable, "/etc/ext")
    with pytest.raises(SecretConfigError) as info:
        refused.prepare_secrets()
    assert info.value.field == "mask_external_secrets"
    assert f"--readable-secret {unreadable}" in str(info.value)
    assert unreadable_value not in str(info.value)
    # Explicitly off wins over the config.
    task(mask_external_secrets=False).mount_secret(unreadable, "/etc/ext").prepare_secrets()


# -- on the real kubelet -------------------------------------------------------------------------

PRINT_SHA = "import hashlib, os; print('SHA', hashlib.sha256(os.environ.get('TOKEN', '').encode()).hexdigest())"


@pytest.mark.pods
def test_on_the_real_kubelet_only_the_shared_namespace_hands_betas_secret_to_alphas_pod(
    kube_node: KubeCluster, node_namespace: str
) -> None:
    """The matrix's "alpha's pods get beta's project Secret", with containers that really run.

    Shared namespace: a pod created with alpha's launcher token receives beta's value (its
    container prints the SHA-256 of what it got). One namespace per project: the same pod is
    refused in beta's namespace, and in alpha's own the kubelet finds no such Secret.
    """
    import hashlib

    if not kube_node.user_tokens:
        skip_or_fail("needs the local node (a KUBECONFIG cluster has no known ordinary users)")
    assert kube_node.job_image
    suffix = secrets.token_hex(3)
    alpha, beta = f"alpha-{suffix}", f"beta-{suffix}"
    value = canary("beta-real")
    created: list[str] = []
    with kube_node.api_client() as admin_client:
        admin = CoreV1Api(admin_client)

        def pod(name: str) -> dict[str, Any]:
            body = _pod(name, project_secret_name(beta), "TOKEN", "envFrom")
            container = body["spec"]["containers"][0]
            container.update(
                image=kube_node.job_image, imagePullPolicy="IfNotPresent", command=["python3", "-c", PRINT_SHA]
            )
            return body

        try:
            # Shared namespace: both projects in node_namespace, alpha with the printed Role.
            shared = node_namespace
            docs = rbac_documents(
                "launcher",
                "--layout",
                SHARED,
                "--namespace",
                shared,
                "--project",
                alpha,
                "--service-account",
                f"{shared}/alpha-launcher",
            )
            _apply(admin, docs, created)
            ProjectSecretsStore(admin, shared).set_secrets(beta, {"TOKEN": value})
            with kube_node.api_client(service_account_token(admin, shared, "alpha-launcher")) as alpha_client:
                as_alpha = CoreV1Api(alpha_client)
                _eventually_allowed(lambda: as_alpha.create_namespaced_pod(shared, pod("steal")), "alpha's pod")
            wait_for(
                lambda: admin.read_namespaced_pod("steal", shared).status.phase in ("Succeeded", "Failed"), "the pod"
            )
            log = admin.read_namespaced_pod_log("steal", shared, _preload_content=False).data.decode()
            assert f"SHA {hashlib.sha256(value.encode()).hexdigest()}" in log

            # One namespace per project: beta's Secret in beta's namespace, alpha's Role in alpha's.
            docs = rbac_documents(
                "launcher",
                "--project",
                alpha,
                "--namespace-template",
                TEMPLATE,
                "--service-account",
                f"{project_namespace(alpha, TEMPLATE)}/alpha-launcher",
            )
            docs += [
                rbac_documents("viewer", "--project", beta, "--namespace-template", TEMPLATE, "--user", "nobody")[0]
            ]
            _apply(admin, docs, created)
            alpha_ns, beta_ns = project_namespace(alpha, TEMPLATE), project_namespace(beta, TEMPLATE)
            ProjectSecretsStore(admin, beta_ns).set_secrets(beta, {"TOKEN": value})
            with kube_node.api_client(service_account_token(admin, alpha_ns, "alpha-launcher")) as alpha_client:
                as_alpha = CoreV1Api(alpha_client)
                _eventually_allowed(lambda: as_alpha.create_namespaced_pod(alpha_ns, pod("steal")), "alpha's pod")
                assert status_of(lambda: as_alpha.create_namespaced_pod(beta_ns, pod("steal"))) == 403

            def waiting_message() -> str:
                statuses = admin.read_namespaced_pod("steal", alpha_ns).status.container_statuses or []
                waiting = statuses[0].state.waiting if statuses else None
                return (waiting.message or "") if waiting else ""

            message = wait_for(waiting_message, "the kubelet's verdict on alpha's pod")
            assert message == f'secret "{project_secret_name(beta)}" not found'
            assert admin.read_namespaced_pod("steal", alpha_ns).status.phase == "Pending"
        finally:
            for name in created:
                with contextlib.suppress(ApiException):
                    admin.delete_namespace(name)


def build_masking_dag(
    dag_id: str, kubeconfig: str, namespace: str, job_image: str, sp_secret: str, external: str
) -> Any:
    """One task whose container prints its ``azure_vault`` pod-mode client secret and an external value."""
    import pendulum
    from airflow.sdk import DAG

    from tests.test_pods import report_operator

    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        vault = {"name": "team-vault", "k8s_secret": sp_secret, "secrets": ["db"], "resolve_in": "pod"}
        report_operator(
            "printer",
            kubeconfig=kubeconfig,
            namespace=namespace,
            job_image=job_image,
            spec={"print": ["AZURE_CLIENT_SECRET", "EXTERNAL"]},
            on_finish_action="delete_pod",
            secrets=[with_secrets("azure_vault", vault)],
            mask_external_secrets=True,
        ).set_env_from_secret("EXTERNAL", external, "token")
    return dag


@pytest.mark.pods
@pytest.mark.airflow
def test_a_container_printing_the_client_secret_and_an_external_value_shows_stars(
    kube_node: KubeCluster, node_namespace: str, airflow_db: None, dags_folder: Path
) -> None:
    """The audit's path: a supervised ``airflow tasks test`` streams the container's output."""
    import re

    from tests.test_pods import airflow_tasks_test

    client_secret, external_value = canary("sp-real"), canary("external-real")
    with kube_node.api_client() as admin_client:
        admin = CoreV1Api(admin_client)
        sp = {"tenant_id": "tenant", "client_id": "client", "secret": client_secret}
        admin.create_namespaced_secret(node_namespace, {"metadata": {"name": "azure-sp"}, "stringData": sp})
        admin.create_namespaced_secret(
            node_namespace, {"metadata": {"name": "ext"}, "stringData": {"token": external_value}}
        )
    assert kube_node.job_image
    dag_id = f"masking_{node_namespace}".replace("-", "_")
    kwargs = {
        "kubeconfig": str(kube_node.kubeconfig),
        "namespace": node_namespace,
        "job_image": kube_node.job_image,
        "sp_secret": "azure-sp",
        "external": "ext",
    }
    args = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    (dags_folder / f"{dag_id}.py").write_text(
        f"# airflow DAG file written by the tests\nfrom tests.test_isolation import build_masking_dag\n\n"
        f"dag = build_masking_dag({dag_id!r}, {args})\n",
        encoding="utf-8",
    )
    proc = airflow_tasks_test(dag_id, {})
    output, _ = proc.communicate(timeout=600)
    assert client_secret not in output and external_value not in output
    assert proc.returncode == 0, output[-3000:]
    streamed = [match[1] for line in output.splitlines() if (match := re.search(r"value: (\S+)", line))]
    assert streamed == ["***", "***"], "the container's two lines must reach the task log, masked"


@pytest.mark.kubernetes
def test_cli_project_commands_find_the_projects_namespace(
    world: World, beta_kubeconfig: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keys PROJECT`` without ``-n`` uses the project's namespace; an ``-n`` naming another is refused."""
    import json

    if world.layout != PER_PROJECT:
        monkeypatch.delenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", raising=False)
        assert cli_main(["keys", world.beta, "-n", world.beta_ns, "--kubeconfig", beta_kubeconfig, "-o", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["namespace"] == world.beta_ns
        return
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__PROJECT_NAMESPACE", TEMPLATE)
    assert cli_main(["keys", world.beta, "--kubeconfig", beta_kubeconfig, "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["namespace"] == world.beta_ns and [k["key"] for k in listed["keys"]] == ["TOKEN"]
    assert cli_main(["keys", world.beta, "-n", world.alpha_ns, "--kubeconfig", beta_kubeconfig]) == 1
    err = capsys.readouterr().err
    assert f"project {world.beta!r} runs in namespace {world.beta_ns!r}" in err
