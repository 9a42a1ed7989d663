"""The package is a real Airflow provider: `airflow providers list` shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_secrets_provider.get_provider_info import get_provider_info


@pytest.mark.airflow
def test_airflow_providers_list_shows_the_package(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "providers", "list", "--output", "json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    start = result.stdout.index("[")
    providers = {p["package_name"]: p for p in json.loads(result.stdout[start:])}
    assert "airflow-secrets-provider" in providers
    assert providers["airflow-secrets-provider"]["version"] == get_provider_info()["versions"][0]


def test_provider_info_package_name_is_the_distribution_name() -> None:
    from importlib.metadata import distribution

    info = get_provider_info()
    assert info["package-name"] == distribution("airflow-secrets-provider").metadata["Name"]
