"""The README's quickstart job works: scripts/demo.py runs the example DAG end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_quickstart_demo_runs_the_example_dag(tmp_path: Path, kube_cluster: object) -> None:
    # kube_cluster: the binaries are built and the tier rule applies; the demo starts its own cluster.
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")], env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout
    assert result.returncode == 0, (output[-3000:], result.stderr[-3000:])
    assert "task states:                 {'report': 'success', 'train': 'success'}" in output
    assert "secret values in pod specs:  none" in output
    assert "per-task Secrets left over:  none" in output
    assert "'MY_SECRET': 'train-" in output  # the inline value travels by reference
