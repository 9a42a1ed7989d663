"""The package is a real Airflow provider: `airflow providers list` and `airflow providers secrets` show it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_secrets_provider.get_provider_info import get_provider_info


def airflow_json(tmp_path: Path, *args: str) -> list[dict[str, str]]:
    """Run the real `airflow` CLI with a throwaway AIRFLOW_HOME and parse its JSON output."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    parsed: list[dict[str, str]] = json.loads(result.stdout[result.stdout.index("[") :])
    return parsed


@pytest.mark.airflow
def test_airflow_providers_list_shows_the_package(tmp_path: Path) -> None:
    providers = {p["package_name"]: p for p in airflow_json(tmp_path, "providers", "list")}
    assert "airflow-secrets-provider" in providers
    assert providers["airflow-secrets-provider"]["version"] == get_provider_info()["versions"][0]


def test_provider_info_package_name_is_the_distribution_name() -> None:
    from importlib.metadata import distribution

    info = get_provider_info()
    assert info["package-name"] == distribution("airflow-secrets-provider").metadata["Name"]


@pytest.mark.airflow
def test_airflow_providers_secrets_lists_the_backend(tmp_path: Path) -> None:
    backends = {b["secrets_backend_class_name"] for b in airflow_json(tmp_path, "providers", "secrets")}
    assert "airflow_secrets_provider.secrets.backend.ChainedSecretsBackend" in backends
