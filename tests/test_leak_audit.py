"""The leak audit: canaries through real Airflow services, then every sink searched for them.

Runs in the session's quickstart stack (api-server, scheduler with LocalExecutor, dag-processor,
triggerer; the real single-node Kubernetes), with DAGs dropped into its ``extra`` bundle. Every
provider gets a fresh ``secrets.token_hex(16)`` canary where it reads values (inline in the DAG
file, the services' environment, a secrets file, the project's Kubernetes Secret, the Key Vault
stand-in and the service principal's Secret, the backend's Kubernetes source for a variable and a
connection). The DAG runs a task whose container prints every secret it gets, a deferrable one
(the triggerer waits for its pod), a container that prints and fails, a task that fails before
its pod (a missing key), a Python task that ``print()``s backend lookups and a Bash task that
templates them; a second file is a DAG whose input error has a value where a name belongs.

Then every sink is searched, for every canary, in clear and base64 at any alignment, inside
compressed, pickled and Fernet-encrypted values (tests/support/leak_search.py): every table of
the metadata DB, every GET of the public and UI REST API in the api-server's OpenAPI spec (lists
paged to the end, details for every object of the run), the UI's index and static assets, CLI
output, task logs on disk, every service and node log file, and every object of every listable
resource in the API server (Secrets without their ``data``). What may hold a canary is listed in
``ALLOWED`` with the reason; anything else is a leak.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from kubernetes.client import CoreV1Api
from kubernetes.client import models as k8s
from kubernetes.config import new_client_from_config

from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from devstack.airflow_api import FINISHED_RUN_STATES
from devstack.kube_cluster import create_namespace
from devstack.stack_home import EXAMPLE_NAMESPACE, EXAMPLE_PROJECT, EXTRA_BUNDLE, read_install_secrets
from tests.support.audit_dags import (
    AUDIT_DAG,
    AUDIT_PROJECT,
    BACKEND_CONNECTION,
    BACKEND_VARIABLE,
    BAD_INPUT_DAG_FILE,
    EXPECTED_STATES,
    EXTERNAL_SECRET,
    POD_CONNECTION,
    POD_VARIABLE,
    AuditSetup,
    audit_dag_source,
    bad_input_dag_source,
)
from tests.support.keyvault_standin import KeyVaultStandIn
from tests.support.leak_search import Canary, Fernetish, Findings, new_canary
from tests.support.leak_sinks import (
    HttpClient,
    crawl_api,
    fetch_ui_assets,
    run_cli,
    scan_kube,
    scan_sqlite,
    scan_tree,
)
from tests.support.stack_fixtures import AUDIT_ENV_VAR, START_TIMEOUT_S, RunningStack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(START_TIMEOUT_S + 1200)]

#: Bounded waits for conditions (a cold, busy CI machine), not time limits on the audit.
PARSE_TIMEOUT_S = 300
RUN_TIMEOUT_S = 900

#: Where a canary may be, and why. Everything else that holds one is a leak.
DAG_FILE_SINKS = {"db:dag_code", "api:GET /api/v2/dagSources/{dag_id}"}
ALLOWED: dict[str, set[str]] = {
    # An inline value is written in the DAG file; Airflow stores the file and shows it in its Code
    # view. docs/security.md says so: the only place an inline value can be.
    "inline": DAG_FILE_SINKS,
    "deferred inline": DAG_FILE_SINKS,
}
#: Airflow 3.3's LocalExecutor copies every line of task output into the scheduler's own log
#: (``subprocess_logs_to_stdout=True``); the stack's scheduler masks that copy
#: (devstack/masked_scheduler.py), so it is searched like every other sink, with no allowance.
SCHEDULER_LOG = "service-log:scheduler.log"
#: ``airflow tasks render`` prints rendered template fields as they are (Airflow's CLI, by design):
#: a Bash command templated with ``{{ var.value.x }}`` shows the value to whoever may run it.
#: SecretTaskOperator's own fields render to references only (checked: no allowance for them).
BACKEND_RENDER = "cli:airflow tasks render (backend templates)"
BACKEND_VALUES = {"backend variable", "backend connection"}
#: The DAG file of the bad-input case holds its canary (the user typed it); nothing else may.
BAD_INPUT = "bad input name"


@dataclass
class AuditResult:
    findings: Findings
    run_id: str
    states: dict[str, str]
    not_requested: dict[str, str]
    #: command -> (exit code, output with every canary blanked)
    cli: dict[str, tuple[int, str]]
    seconds: dict[str, float] = field(default_factory=dict)
    #: the external_prints task's log, through the REST API (canaries are searched, not shown)
    external_log: str = ""


def _wait(condition: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(2)


def _airflow_env(stack: RunningStack) -> dict[str, str]:
    """The environment a user's shell on the stack's machine has: the stack's config, none of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "KUBECONFIG"}
    env.update({"AIRFLOW_HOME": str(stack.home.airflow_home), "AIRFLOW_CONFIG": str(stack.home.airflow_cfg)})
    return env


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _extra_bundle_errors(stack: RunningStack) -> list[dict[str, Any]]:
    return [e for e in stack.api().import_errors() if e.get("bundle_name") == EXTRA_BUNDLE]


@pytest.fixture(scope="module")
def audit(airflow_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditResult]:
    stack = airflow_stack
    assert stack.extra_dags is not None and stack.extra_env, "the session stack serves an extra DAG bundle"
    assert stack.runs_containers, "the quickstart stack runs on the real node"
    values = {
        "inline": new_canary(),
        "deferred inline": new_canary(),
        "env": stack.extra_env[AUDIT_ENV_VAR],
        "file": new_canary(),
        "project": new_canary(),
        "vault": new_canary(),
        "vault service principal": new_canary(),
        "backend variable": new_canary(),
        "backend connection": new_canary(),
        "external env": new_canary(),
        "external pachyderm": new_canary(),
        "external file": new_canary(),
        "airflow-kind connection password": new_canary(),
        "airflow-kind connection extra": new_canary(),
        "airflow-kind variable": new_canary(),
        BAD_INPUT: new_canary(),
    }
    findings = Findings([Canary(name, value) for name, value in values.items()])
    seconds: dict[str, float] = {}
    started = time.monotonic()

    work = tmp_path_factory.mktemp("leak-audit")
    secrets_file = work / "secrets.txt"
    secrets_file.write_text(f"FILE_TOKEN={values['file']}\n")
    kubeconfig = stack.home.kube_dir / "kubeconfig"
    api_client = new_client_from_config(config_file=str(kubeconfig))
    core = CoreV1Api(api_client)
    namespace = create_namespace(api_client, "leak-audit")
    backend_store = ProjectSecretsStore(core, EXAMPLE_NAMESPACE)
    backend_keys = {
        f"AIRFLOW_VAR_{BACKEND_VARIABLE.upper()}": values["backend variable"],
        f"AIRFLOW_CONN_{BACKEND_CONNECTION.upper()}": json.dumps(
            {
                "conn_type": "postgres",
                "host": "db.example.internal",
                "login": "app",
                "password": values["backend connection"],
            }
        ),
        # Read by the airflow kind (the task's own Connection.get / Variable.get, this backend).
        f"AIRFLOW_CONN_{POD_CONNECTION.upper()}": json.dumps(
            {
                "conn_type": "postgres",
                "host": "pod-db.example.internal",
                "login": "app",
                "password": values["airflow-kind connection password"],
                "extra": json.dumps({"api_key": values["airflow-kind connection extra"]}),
            }
        ),
        f"AIRFLOW_VAR_{POD_VARIABLE.upper()}": values["airflow-kind variable"],
    }
    vault = KeyVaultStandIn(client_secret=values["vault service principal"]).start()
    dag_files = [stack.extra_dags / "asp_leak_audit.py", stack.extra_dags / BAD_INPUT_DAG_FILE]
    api = stack.api()
    db_path = stack.home.airflow_home / "airflow.db"
    try:
        vault.set_secret("vault-token", values["vault"])
        ProjectSecretsStore(core, namespace).set_secrets(AUDIT_PROJECT, {"PROJECT_TOKEN": values["project"]})
        core.create_namespaced_secret(
            namespace,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name="azure-sp"),
                string_data={
                    "tenant_id": vault.tenant_id,
                    "client_id": vault.client_id,
                    "secret": values["vault service principal"],
                },
            ),
        )
        # Externally managed: the pod references it; default settings mask its values.
        core.create_namespaced_secret(
            namespace,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name=EXTERNAL_SECRET),
                string_data={
                    "env": values["external env"],
                    "pachyderm": values["external pachyderm"],
                    "token": values["external file"],
                },
            ),
        )
        backend_store.set_secrets(EXAMPLE_PROJECT, backend_keys)
        setup = AuditSetup(
            namespace=namespace,
            env_var=AUDIT_ENV_VAR,
            secrets_file=str(secrets_file),
            vault_url=vault.url,
            vault_options={
                "connection_verify": vault.ca_file,
                "verify_challenge_resource": False,
                "authority": vault.authority,
                "disable_instance_discovery": True,
            },
            inline_value=values["inline"],
            deferred_inline_value=values["deferred inline"],
        )
        dag_files[0].write_text(audit_dag_source(setup))
        dag_files[1].write_text(bad_input_dag_source(namespace, values[BAD_INPUT]))

        _wait(lambda: AUDIT_DAG in api.dag_ids() and _extra_bundle_errors(stack), "the audit DAGs", PARSE_TIMEOUT_S)
        seconds["parse"] = time.monotonic() - started
        run_id = api.trigger(AUDIT_DAG)
        fernet = Fernetish(Fernet(read_install_secrets(stack.home).fernet_key.encode()).decrypt)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while api.run_state(AUDIT_DAG, run_id) not in FINISHED_RUN_STATES:
            # A trigger's row (its kwargs, Fernet-encrypted) lives only while its task is deferred.
            scan_sqlite(findings, db_path, fernet, only={"trigger"}, suffix=" (while the run ran)")
            assert time.monotonic() < deadline, f"run {run_id} not finished after {RUN_TIMEOUT_S} s"
            time.sleep(2)
        tis = api.task_instances(AUDIT_DAG, run_id)
        states = {ti["task_id"]: ti["state"] for ti in tis}
        tries = list(range(1, max(ti["try_number"] for ti in tis) + 1))
        seconds["run"] = time.monotonic() - started - seconds["parse"]

        # ---- the metadata DB
        mark = time.monotonic()
        scan_sqlite(findings, db_path, fernet)
        seconds["db"] = time.monotonic() - mark

        # ---- every GET of the public and UI REST API
        mark = time.monotonic()
        client = HttpClient(stack.url, api.token())
        status, spec_body = client.get("/openapi.json")
        assert status == 200, "the api-server serves its OpenAPI spec"
        spec = json.loads(spec_body)
        findings.figures["api GET paths in spec"] = sum(
            1 for p, item in spec["paths"].items() if "get" in item and p.startswith(("/api/v2/", "/ui/"))
        )
        seeds: dict[str, list[Any]] = {
            "dag_id": [AUDIT_DAG],
            "dag_run_id": [run_id],
            "run_id": [run_id],
            "task_id": sorted(states),
            "try_number": tries,
            "task_try_number": tries,
            "map_index": [-1],
            "section": ["core"],
            "option": ["dags_folder"],
            "start_date": ["2000-01-01T00:00:00Z"],
            "interval": [1],
        }
        not_requested = crawl_api(
            findings,
            client,
            spec,
            seeds,
            skip={"/api/v2/auth/logout": "ends the session of the crawler's token; serves no data"},
        )
        external_log = ""
        for ti in tis:  # the log endpoint also streams NDJSON (what the UI reads)
            task_id, try_number = ti["task_id"], max(1, ti["try_number"])
            run = urllib.parse.quote(run_id, safe="")
            path = f"/api/v2/dags/{AUDIT_DAG}/dagRuns/{run}/taskInstances/{task_id}/logs/{try_number}"
            _, body = client.get(path, accept="application/x-ndjson")
            findings.search(
                "api:GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number} (ndjson)",
                path,
                body,
            )
            findings.figures["api requests"] += 1
            if task_id == "external_prints":
                external_log = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        fetch_ui_assets(findings, client)
        seconds["api"] = time.monotonic() - mark

        # ---- files: task logs, service logs, the node's logs
        scan_tree(findings, "task-log-file", stack.home.airflow_home / "logs")
        scan_tree(findings, "service-log", stack.home.logs_dir)
        for log in sorted(stack.home.kube_dir.glob("*.log")):
            findings.search(f"node-log:{log.name}", str(log), log.read_bytes())
            findings.figures["files"] += 1

        # ---- every object in the API server
        mark = time.monotonic()
        scan_kube(findings, api_client)
        seconds["kubernetes"] = time.monotonic() - mark

        # ---- CLI output
        mark = time.monotonic()
        env = _airflow_env(stack)
        airflow, cli = _bin("airflow"), _bin("airflow-secrets")
        kube_args = ["--kubeconfig", str(kubeconfig), "-n", namespace]
        render = [airflow, "tasks", "render", "--bundle-name", EXTRA_BUNDLE, AUDIT_DAG]
        commands = {
            "airflow dags list-import-errors": [airflow, "dags", "list-import-errors", "-o", "json"],
            "airflow tasks render (every provider)": [*render, "every_provider_prints", run_id],
            "airflow tasks render (backend templates)": [*render, "backend_templates", run_id],
            "airflow tasks render (airflow kind)": [*render, "airflow_kind_prints", run_id],
            "airflow-secrets keys": [cli, "keys", AUDIT_PROJECT, *kube_args],
            "airflow-secrets keys -o json": [cli, "keys", AUDIT_PROJECT, "-o", "json", *kube_args],
            "airflow-secrets projects": [cli, "projects", *kube_args],
            "airflow-secrets history": [cli, "history", AUDIT_PROJECT, *kube_args],
            "airflow-secrets render (audit DAG)": [cli, "render", str(dag_files[0])],
            "airflow-secrets render (bad input DAG)": [cli, "render", str(dag_files[1])],
        }
        cli = {name: run_cli(findings, name, args, env) for name, args in commands.items()}
        seconds["cli"] = time.monotonic() - mark
        seconds["total"] = time.monotonic() - started
        result = AuditResult(findings, run_id, states, not_requested, cli, seconds, external_log)
        _report(result)
        yield result
    finally:
        vault.stop()
        for path in dag_files:
            path.unlink(missing_ok=True)
        backend_store.delete_keys(EXAMPLE_PROJECT, list(backend_keys))
        core.delete_namespace(namespace)
        # Leave the stack as the other stack tests expect it: no import error, no audit DAG.
        _wait(lambda: not _extra_bundle_errors(stack), "the bad-input DAG's import error to go", PARSE_TIMEOUT_S)
        if AUDIT_DAG in api.dag_ids():
            api.delete(f"/api/v2/dags/{AUDIT_DAG}")
        api_client.close()


def _report(result: AuditResult) -> None:
    """What was searched, for the figures in docs/security.md (shown with ``-s`` or in the captured output)."""
    findings = result.findings
    kinds = Counter(sink.split(":", 1)[0] for sink in findings.searched)
    print("\nLEAK AUDIT")
    print(f"  sinks searched: {len(findings.searched)} ({dict(sorted(kinds.items()))})")
    print(f"  items searched: {sum(findings.searched.values())}; figures: {dict(sorted(findings.figures.items()))}")
    print(f"  API paths not requested: {result.not_requested}")
    print(f"  task states: {result.states}; cli exit codes: { {k: v[0] for k, v in result.cli.items()} }")
    print(f"  seconds: { {k: round(v) for k, v in result.seconds.items()} }")
    for hit in findings.hits:
        print(f"  HIT {hit.canary} in {hit.sink} at {hit.where}: {hit.context!r}")


# ------------------------------------------------------------------------------------------ tests


def test_the_audit_ran_every_case(audit: AuditResult) -> None:
    assert audit.states == EXPECTED_STATES


def test_every_sink_kind_was_searched(audit: AuditResult) -> None:
    searched = audit.findings.searched
    kinds = {sink.split(":", 1)[0] for sink in searched}
    assert kinds >= {"db", "api", "ui", "task-log-file", "service-log", "node-log", "k8s", "cli"}
    for table in DECODED_TABLES:
        assert searched[f"db:{table}"] > 0, f"table {table} had no row to search"
    for resource in ("v1/pods", "v1/events", "v1/secrets", "v1/serviceaccounts"):
        assert searched[f"k8s:{resource}"] > 0, resource
    assert "k8s:v1/configmaps" in searched  # listed (Kubernetes 1.20 keeps none unless a preset is applied)
    # Every GET path of the spec was requested, or is listed with the reason it could not be.
    requested = {sink.removeprefix("api:GET ") for sink in searched if sink.startswith("api:GET ")}
    requested = {path for path in requested if not path.endswith("(ndjson)")}
    assert audit.findings.figures["api GET paths in spec"] == len(requested) + len(audit.not_requested)
    assert audit.findings.figures["api status 200"] > 100
    assert searched["db:trigger (while the run ran)"] > 0, "the deferred task's trigger row was searched"
    assert searched["ui:assets"] > 1  # the index page and the assets it loads
    assert any(sink.startswith("task-log-file:") for sink in searched)


#: Tables whose values are JSON, compressed, pickled or encrypted: each must have had rows.
DECODED_TABLES = (
    "serialized_dag",
    "dag_code",
    "xcom",
    "rendered_task_instance_fields",
    "log",
    "import_error",
    "task_instance",
    "dag_run",
)


def test_the_cli_commands_ran(audit: AuditResult) -> None:
    codes = {name: code for name, (code, _) in audit.cli.items()}
    outputs = {name: output[-2000:] for name, (_, output) in audit.cli.items()}
    assert "asp_leak_audit_bad_input" in audit.cli["airflow dags list-import-errors"][1]
    for name in (
        "airflow tasks render (every provider)",
        "airflow tasks render (backend templates)",
        "airflow tasks render (airflow kind)",
        "airflow-secrets keys",
        "airflow-secrets keys -o json",
        "airflow-secrets projects",
        "airflow-secrets history",
        "airflow-secrets render (audit DAG)",
    ):
        assert codes[name] == 0, (name, outputs[name])
    assert codes["airflow-secrets render (bad input DAG)"] == 1, outputs["airflow-secrets render (bad input DAG)"]
    assert "PROJECT_TOKEN" in audit.cli["airflow-secrets keys"][1]


def _leaks(audit: AuditResult, canary: str, allowed: set[str]) -> list[str]:
    return [f"{h.sink} ({h.where}): {h.context}" for h in audit.findings.hits_of(canary) if h.sink not in allowed]


def test_no_value_reaches_any_sink(audit: AuditResult) -> None:
    leaks = {}
    for canary in audit.findings.canaries:
        if canary.name != BAD_INPUT:
            allowed = ALLOWED.get(canary.name, set()) | ({BACKEND_RENDER} if canary.name in BACKEND_VALUES else set())
            leaks[canary.name] = _leaks(audit, canary.name, allowed)
    assert {name: hits for name, hits in leaks.items() if hits} == {}


def test_inline_values_are_only_in_the_dag_file_airflow_shows(audit: AuditResult) -> None:
    # The documented exception is real (so the allowance hides no broken search), and it is all.
    assert audit.findings.sinks_holding("inline") == DAG_FILE_SINKS
    assert audit.findings.sinks_holding("deferred inline") == DAG_FILE_SINKS


def test_scheduler_log_copy_of_task_output_is_masked(audit: AuditResult, airflow_stack: RunningStack) -> None:
    # LocalExecutor writes each line a task prints to the scheduler's log too; unpatched, that copy
    # held every value in clear. The lines are there (so the search above was not vacuous), masked.
    assert not [h for h in audit.findings.hits if h.sink == SCHEDULER_LOG]
    log = airflow_stack.home.service_log("scheduler").read_text(errors="replace")
    assert "variable: ***" in log and "connection password: ***" in log


def test_only_airflows_own_render_shows_a_templated_lookup(audit: AuditResult) -> None:
    # The documented CLI exception is exactly the Bash task's templated lookups, nothing else.
    assert {h.canary for h in audit.findings.hits if h.sink == BACKEND_RENDER} == BACKEND_VALUES
    assert not [h for h in audit.findings.hits if h.sink == "cli:airflow tasks render (every provider)"]
    assert not [h for h in audit.findings.hits if h.sink == "cli:airflow tasks render (airflow kind)"]


def test_connections_and_variables_of_the_airflow_kind_reach_only_the_pod(
    audit: AuditResult, airflow_stack: RunningStack
) -> None:
    # Issue 21: what with_secrets("airflow", ...) read is in no sink (the per-task Secret's data is
    # not searched: that is where it belongs), and the container's prints of it are masked.
    names = ("airflow-kind connection password", "airflow-kind connection extra", "airflow-kind variable")
    assert {name: _leaks(audit, name, set()) for name in names} == {name: [] for name in names}
    log = airflow_stack.home.service_log("scheduler").read_text(errors="replace")
    for env in ("POD_DB_PASSWORD", "POD_W_EXTRA_API_KEY", "POD_SETTING"):
        assert f"{env} = ***" in log, env


def test_task_logs_show_stars_where_values_were_printed(audit: AuditResult) -> None:
    log_sinks = ("task-log-file:", "api:GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs")
    # (The bad-input case's dag-processor log is test_bad_input_name_is_described_not_quoted's.)
    hits = [h for h in audit.findings.hits if h.sink.startswith(log_sinks) and h.canary != BAD_INPUT]
    assert hits == []
    task_logs = [s for s in audit.findings.searched if s.startswith("task-log-file:") and AUDIT_DAG in s]
    assert len(task_logs) >= len(EXPECTED_STATES)


def test_a_container_printing_external_secrets_shows_stars_with_default_settings(audit: AuditResult) -> None:
    """``mask_external_secrets`` is not set anywhere: its default ("auto") masks what the pod prints."""
    assert audit.states["external_prints"] == "success"
    external = {"external env", "external pachyderm", "external file"}
    assert [h for h in audit.findings.hits if h.canary in external] == []
    # The lines are in the task log (so the search was not vacuous), masked.
    logs = audit.external_log
    for name in ("EXTERNAL_ENV = ***", "PACHYDERM_ENV = ***", "/etc/external/token = ***"):
        assert name in logs, logs[-2000:]


def test_bad_input_name_is_described_not_quoted(audit: AuditResult) -> None:
    # mount_secret items key 'DB_PASSWORD=<value>': every message must describe it, not quote it.
    assert _leaks(audit, BAD_INPUT, set()) == []
