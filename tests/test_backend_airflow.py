"""ChainedSecretsBackend inside real Airflow: configured through env vars, as a deployment would.

One migrated SQLite metadata DB (``airflow db migrate`` in a subprocess, temp ``AIRFLOW_HOME``)
and one Key Vault stand-in serve the module. The backend chains a ``file`` source and an
``azure_vault`` source pointing at the stand-in; nothing is stored in Airflow's DB. Each Airflow
command runs in its own process, with ``AIRFLOW__SECRETS__BACKEND`` / ``..._BACKEND_KWARGS``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.canaries import canary
from tests.support.keyvault_standin import KeyVaultStandIn
from tests.support.tiers import skip_or_fail

pytestmark = pytest.mark.airflow

DAG_FILE = Path(__file__).parent / "dags" / "asp_backend_chain.py"
DAG_ID = "asp_backend_chain"

# Values long enough for the masker (>= 5 characters) and unique, so a leak is unambiguous.
KV_CONN_PASSWORD = canary("kv-conn-password")
KV_VAR = canary("kv-variable")
KV_JSON_TOKEN = canary("json-leaf-token")
FILE_CONN_PASSWORD = canary("file-conn-pw")
FILE_VAR = canary("file-variable")
ALL_VALUES = (KV_CONN_PASSWORD, KV_VAR, KV_JSON_TOKEN, FILE_CONN_PASSWORD, FILE_VAR)


@dataclass
class AirflowEnv:
    home: Path
    env: dict[str, str]
    output: Path
    vault: KeyVaultStandIn

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return self.run(str(Path(sys.executable).with_name("airflow")), *args, timeout=timeout)

    def run(self, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), env=self.env, cwd=self.home, capture_output=True, text=True, timeout=timeout, check=False
        )

    def records(self) -> list[dict[str, object]]:
        if not self.output.exists():
            return []
        return [json.loads(line) for line in self.output.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowEnv]:
    if shutil.which("airflow", path=str(Path(sys.executable).parent)) is None:
        skip_or_fail("the airflow CLI is not installed next to this Python")
    home = tmp_path_factory.mktemp("airflow-backend-home")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    (home / "connections.json").write_text(
        json.dumps({"file_conn": {"conn_type": "http", "host": "file.example", "password": FILE_CONN_PASSWORD}})
    )
    (home / "variables.env").write_text(f"# plain KEY=VALUE\nfile_var={FILE_VAR}\n")

    with KeyVaultStandIn() as vault:
        vault.set_secret("airflow-connections-kv-conn", f"postgres://app:{KV_CONN_PASSWORD}@kv.example:5432/app")
        vault.set_secret("airflow-variables-kv-var", KV_VAR)
        vault.set_secret("airflow-variables-kv-json", json.dumps({"token": KV_JSON_TOKEN, "region": "westeurope"}))
        kwargs = {
            "sources": [
                {
                    "kind": "file",
                    "connections_file": str(home / "connections.json"),
                    "variables_file": str(home / "variables.env"),
                },
                vault.backend_source(retry_total=1),
            ],
            "cache_ttl_seconds": 300,
            "negative_cache_ttl_seconds": 60,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AZURE_", "ASP_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__SECRETS__BACKEND": "airflow_secrets_provider.secrets.ChainedSecretsBackend",
                "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(kwargs),
                "ASP_BACKEND_TEST_OUTPUT": str(home / "task-output.jsonl"),
            }
        )
        setup = AirflowEnv(home, env, home / "task-output.jsonl", vault)
        migrated = setup.airflow("db", "migrate", timeout=300)
        if migrated.returncode != 0:
            pytest.fail(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")
        yield setup


def assert_no_value(text: str) -> None:
    for value in ALL_VALUES:
        assert value not in text, f"a secret value (length {len(value)}) appears in Airflow's output"


def test_dag_test_resolves_hooks_variables_and_templates(airflow_env: AirflowEnv) -> None:
    airflow_env.output.unlink(missing_ok=True)
    result = airflow_env.run(sys.executable, str(airflow_env.home / "dags" / DAG_FILE.name), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    by_task = {str(r["task"]): r for r in airflow_env.records()}
    assert set(by_task) == {"lookups", "templated", "log_values"}, result.stdout[-3000:] + result.stderr[-3000:]
    assert by_task["lookups"] == {
        "task": "lookups",
        "kv_conn_password": KV_CONN_PASSWORD,
        "file_conn_password": FILE_CONN_PASSWORD,
        "kv_var": KV_VAR,
        "file_var": FILE_VAR,
        "kv_json_token": KV_JSON_TOKEN,
    }
    assert by_task["templated"] == {"task": "templated", "conn_password": KV_CONN_PASSWORD, "var_value": KV_VAR}


def test_tasks_test_output_shows_only_masks(airflow_env: AirflowEnv) -> None:
    airflow_env.output.unlink(missing_ok=True)
    result = airflow_env.airflow("tasks", "test", DAG_ID, "log_values", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert airflow_env.records() == [{"task": "log_values", "done": True}]
    for marker in ("PRINTED_VAR", "PRINTED_FILE_VAR", "PRINTED_LEAF", "PRINTED_CONN", "PRINTED_FILE_CONN"):
        assert f"{marker}=***" in output, f"{marker} was not printed masked:\n{output[-3000:]}"
    assert_no_value(output)


def test_cli_connections_get_finds_a_backend_only_connection(airflow_env: AirflowEnv) -> None:
    result = airflow_env.airflow("connections", "get", "kv_conn", "--output", "json")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    start = result.stdout.index("[")
    (conn,) = json.loads(result.stdout[start:])
    assert (conn["conn_id"], conn["conn_type"], conn["host"]) == ("kv_conn", "postgres", "kv.example")

    listed = airflow_env.airflow("connections", "list", "--output", "json")
    assert listed.returncode == 0, (listed.stdout + listed.stderr)[-3000:]
    stored = json.loads(listed.stdout[listed.stdout.index("[") :]) if "[" in listed.stdout else []
    assert "kv_conn" not in {c["conn_id"] for c in stored}  # held only by the backend, not in the metadata DB
