"""End to end: the README's command 1 starts a working stack, every example DAG runs, nothing leaks.

The stack is started as the README does (``scripts/quickstart.sh``, detached, its own home and a
free port; see tests/support/stack_fixtures.py), every runnable example DAG is triggered through
Airflow's REST API with a JWT from ``/auth/token``, and each task's log (as the API serves it to
the UI) is checked: ``***`` where the DAG prints secrets, never a value of this install.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from devstack.airflow_api import AirflowApi
from devstack.stack_home import StackHome
from tests.support.stack_fixtures import (
    QUICKSTART,
    REPO,
    START_TIMEOUT_S,
    RunningStack,
    free_port,
    processes_mentioning,
)

pytestmark = [pytest.mark.stack, pytest.mark.timeout(START_TIMEOUT_S + 300)]

#: DAG id -> {task id: the proof lines its container prints, as (name, install-value name)}.
POD_PROOFS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "example_project_secrets": {
        "train": [("AWS_KEY", "project/fraud/AWS_KEY"), ("DB_PASSWORD", "project/fraud/DB_PASSWORD")]
    },
    "example_project_key_subset": {"evaluate": [("DB_PASSWORD", "project/fraud/DB_PASSWORD")]},
    "example_external_secrets": {
        "load_warehouse": [
            ("WAREHOUSE_PASSWORD", "secret/warehouse-creds/password"),
            ("/etc/tls/tls.key", "secret/tls-certs/tls.key"),
        ]
    },
    "example_image_pull_secret": {"private_image": []},
    "example_pachyderm_form": {
        "pipeline_step": [
            ("CLEARML_API_ACCESS_KEY", "secret/clearml/access"),
            ("/pfs/secrets/tls/tls.key", "secret/tls-certs/tls.key"),
        ]
    },
    "example_templated_secret_name": {"deploy": [("APP_SECRET", "secret/dev-secret/secret1")]},
    "example_secrets": {"train": [], "report": []},
    "example_connection_to_pod": {
        "use_connection": [("DB_PASSWORD", "conn/demo_db/password"), ("API_TOKEN", "var/demo_api_token")]
    },
}

#: DAG id -> {task id: env vars its container prints in clear on purpose: the log must show ***}.
MASKED_PRINTS: dict[str, dict[str, list[str]]] = {
    "example_connection_to_pod": {"use_connection": ["DB_PASSWORD", "API_TOKEN"]},
}


def _logs(api: AirflowApi, dag_id: str, run_id: str) -> dict[str, tuple[str, str]]:
    """task id -> (state, log text) of every task that ran."""
    logs = {}
    for ti in api.task_instances(dag_id, run_id):
        text = api.task_log(dag_id, run_id, ti["task_id"], ti["try_number"]) if ti["try_number"] else ""
        logs[ti["task_id"]] = (ti["state"], text)
    return logs


def _assert_no_value(stack: RunningStack, text: str, where: str) -> None:
    leaked = [name for name, value in stack.secret_values().items() if value in text]
    assert not leaked, f"{where} shows the value of {leaked}"


def test_quickstart_prints_where_things_are_and_no_secret(airflow_stack: RunningStack) -> None:
    out = airflow_stack.output
    assert f"Airflow is running: {airflow_stack.url}" in out
    assert str(airflow_stack.home.password_file) in out
    assert "example_backend_lookup" in out
    assert f"scripts/quickstart.sh stop --home {airflow_stack.home.root}" in out
    _assert_no_value(airflow_stack, out, "quickstart.sh's output")
    _assert_no_value(airflow_stack, airflow_stack.home.stack_log.read_text(), "stack.log")


def test_stack_secrets_are_private_files(airflow_stack: RunningStack) -> None:
    home = airflow_stack.home
    for path in (home.password_file, home.keys_file, home.connections_file, home.variables_file, home.airflow_cfg):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in (home.secrets_dir, home.logs_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(home.service_log("scheduler").stat().st_mode) == 0o600


def test_api_requires_a_token(airflow_stack: RunningStack) -> None:
    wrong = AirflowApi(airflow_stack.url, "admin", "not-the-password")
    with pytest.raises(Exception, match="401"):
        wrong.token()
    api = airflow_stack.api()
    assert api.health()["scheduler"]["status"] == "healthy"
    assert api.import_errors() == []


def test_backend_lookup_dag_masks_what_it_prints(airflow_stack: RunningStack) -> None:
    api = airflow_stack.api()
    run_id = api.trigger("example_backend_lookup")
    assert api.wait_for_run("example_backend_lookup", run_id) == "success"
    state, log = _logs(api, "example_backend_lookup", run_id)["read_through_backend"]
    assert state == "success"
    # Each printed value came from a different backend source and shows as ***.
    assert "password=***" in log  # connection from the file source
    assert "variable demo_api_token: ***" in log  # variable from the file source
    assert "variable feature_store_token: ***" in log  # variable from the project's Kubernetes Secret
    _assert_no_value(airflow_stack, log, "the task log")


@pytest.mark.parametrize("dag_id", sorted(POD_PROOFS))
def test_pod_example_dag_succeeds_without_leaking(airflow_stack: RunningStack, dag_id: str) -> None:
    api = airflow_stack.api()
    run_id = api.trigger(dag_id)
    assert api.wait_for_run(dag_id, run_id) == "success"
    logs = _logs(api, dag_id, run_id)
    assert set(logs) == set(POD_PROOFS[dag_id])
    values = airflow_stack.secret_values()
    for task_id, (state, log) in logs.items():
        assert state == "success", task_id
        _assert_no_value(airflow_stack, log, f"{dag_id}.{task_id}'s log")
        # Containers really ran on the node's kubelet (the task succeeds only if the pod did): each
        # prints proof it received every secret (hash prefix and length, never the value), which
        # reaches the task log through the API server (even when the container exits at once:
        # operators/pod_logs.py re-reads a log the follower missed).
        assert airflow_stack.runs_containers, "the quickstart stack runs on the real node"
        for name, value_name in POD_PROOFS[dag_id][task_id]:
            digest = hashlib.sha256(values[value_name].encode()).hexdigest()[:12]
            line = f"{name} received: sha256 {digest} length {len(values[value_name])}"
            assert line in log, (task_id, name, "wrong or missing proof")
        for name in MASKED_PRINTS.get(dag_id, {}).get(task_id, []):
            assert f"{name} value: ***" in log, (task_id, name, "not masked in the task log")
    if dag_id == "example_project_key_subset":
        assert "AWS_KEY not received" in logs["evaluate"][1]


def test_azure_vault_example_is_skipped_with_a_clear_message(airflow_stack: RunningStack) -> None:
    api = airflow_stack.api()
    run_id = api.trigger("example_azure_vault")
    assert api.wait_for_run("example_azure_vault", run_id) == "success"
    logs = _logs(api, "example_azure_vault", run_id)
    assert logs["vault_configured"][0] == "skipped"
    assert "No Azure Key Vault configured: set ASP_AZURE_VAULT_NAME" in logs["vault_configured"][1]
    assert logs["use_vault_secret"][0] == "skipped"


def test_foreground_stack_stops_on_ctrl_c_and_leaves_nothing(tmp_path: Path) -> None:
    # README command 1 as typed: foreground; Ctrl-C (SIGINT) must stop every process it started.
    port = free_port()
    proc = subprocess.Popen(
        ["bash", str(QUICKSTART), "--home", str(tmp_path), "--port", str(port)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C goes to the process group: we signal the group
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        for line in proc.stdout:
            lines.append(line)
            if "Airflow is running:" in line or time.monotonic() > deadline:
                break
        assert any("Airflow is running:" in line for line in lines), "".join(lines)[-3000:]
        for line in proc.stdout:  # the rest of the banner
            lines.append(line)
            if "stop " in line:
                break
        state = StackHome(tmp_path).state_file.read_text()
        stack = RunningStack(home=StackHome(tmp_path), port=port, output="".join(lines), state=json.loads(state))
        assert stack.api().health()["scheduler"]["status"] == "healthy"
        assert "Ctrl-C" in stack.output
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = "".join(lines) + rest
    assert proc.returncode == 0, output[-3000:]
    assert "stopped; nothing of this run is left running" in output
    _assert_no_value(stack, output, "the terminal")
    assert stack.leftovers() == []


def test_postgres_option_runs_a_dag_and_stops_clean(tmp_path: Path) -> None:
    # The documented closer-to-production option: Debian's PostgreSQL 15 of the stack's own.
    from devstack.stack_postgres import data_dir_for, remove_data

    port = free_port()
    home = StackHome(tmp_path)
    result = subprocess.run(
        ["bash", str(QUICKSTART), "--detach", "--db", "postgres", "--home", str(tmp_path), "--port", str(port)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    state = json.loads(home.state_file.read_text()) if home.state_file.exists() else {"tag": "not-started"}
    stack = RunningStack(home=home, port=port, output=result.stdout, state=state)
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert "postgresql+psycopg2://airflow:" in home.airflow_cfg.read_text()
        assert "PostgreSQL is up on 127.0.0.1:" in home.stack_log.read_text()
        api = stack.api()
        assert api.health()["metadatabase"]["status"] == "healthy"
        run_id = api.trigger("example_backend_lookup")
        assert api.wait_for_run("example_backend_lookup", run_id) == "success"
        _assert_no_value(stack, result.stdout + home.stack_log.read_text(), "the terminal and stack.log")
    finally:
        stopped = subprocess.run(
            ["bash", str(QUICKSTART), "stop", "--home", str(tmp_path)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        data_dir = data_dir_for(home)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stack.leftovers() == []
    assert processes_mentioning(str(data_dir)) == []  # the PostgreSQL server is gone too
    remove_data(home)
