"""The airflow-secrets command: output carries names and references, never values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from airflow_secrets_provider.cli import main
from tests.support.canaries import canary

EXAMPLE_DAG = Path(__file__).resolve().parent.parent / "dags" / "example_secrets.py"


def test_render_prints_example_pods_without_inline_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLE_DAG), "--output", "json"]) == 0
    out = capsys.readouterr().out
    documents = json.loads(out)
    assert {d["task_id"] for d in documents} == {"train", "report"}
    train = next(d for d in documents if d["task_id"] == "train")
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in train["pod"]["spec"]["containers"][0]["env"]}
    assert env["SECRET_ENV_VAR_1"] == {"name": "dev-secret", "key": "secret1"}  # rendered with the DAG's params
    assert env["AWS_KEY"]["name"] == "airflow-project-secrets-fraud"
    assert "12345" not in out  # the inline value of the example DAG


def test_rbac_launcher_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["rbac", "launcher", "--namespace", "ml", "--project", "fraud", "--service-account", "ml/airflow-worker"]
    )
    assert code == 0
    namespace, role, binding = yaml.safe_load_all(capsys.readouterr().out)  # namespace-per-project
    assert namespace["kind"] == "Namespace" and namespace["metadata"]["name"] == "ml"
    assert role["kind"] == "Role" and binding["kind"] == "RoleBinding"
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert {"resourceNames": ["airflow-project-secrets-fraud"], "verbs": ["get"]}.items() <= secret_rules[0].items()
    assert binding["subjects"][0]["name"] == "airflow-worker"


def test_errors_name_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rbac", "launcher", "--namespace", "ml", "--user", "alice"]) == 2
    assert "project: is required" in capsys.readouterr().err


def test_render_errors_are_one_line_and_never_quote_the_dag_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err

    broken = tmp_path / "broken.py"
    value = canary("render")
    broken.write_text(f'TOKEN = "{value}"\nthis is not python "{value}"\n')
    assert main(["render", str(broken)]) == 1  # a failure, not a usage error
    err = capsys.readouterr().err
    assert "line 2: SyntaxError" in err and value not in err and "Traceback" not in err

    failing = tmp_path / "failing.py"
    failing.write_text(f'raise RuntimeError("{value}")\n')
    assert main(["render", str(failing)]) == 1
    err = capsys.readouterr().err
    assert "line 1: RuntimeError" in err and value not in err


def test_render_rejects_an_unknown_task_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLE_DAG), "--task", "no_such_task"]) == 2
    captured = capsys.readouterr()
    assert "'no_such_task'" in captured.err and captured.out == ""
