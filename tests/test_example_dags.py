"""The example DAGs in dags/: they parse with no network and no secret read, and each documents itself.

Parsing happens in every Airflow process that loads DAG files (dag-processor, workers), often
with no cluster or vault reachable; a DAG file that opened a socket or looked a secret up while
being parsed would be slow, flaky and a leak risk. The guard (tests/support/parse_guard.py) makes
any such attempt an error that the DagBag records as an import error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.parse_guard import forbid_parse_time_io

DAGS = Path(__file__).resolve().parent.parent / "dags"
EXPECTED = {
    "example_secrets",
    "example_project_secrets",
    "example_project_key_subset",
    "example_external_secrets",
    "example_image_pull_secret",
    "example_pachyderm_form",
    "example_templated_secret_name",
    "example_azure_vault",
    "example_backend_lookup",
    "example_connection_to_pod",
}


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No socket may connect or resolve, and no connection, variable or project secret may be read."""
    attempts = forbid_parse_time_io(monkeypatch)
    monkeypatch.syspath_prepend(str(DAGS))  # as Airflow does for the DAG folder
    return attempts


def _dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), safe_mode=False)


def test_guard_catches_a_parse_time_lookup(guarded: list[str], tmp_path: Path) -> None:
    # The guard itself works: a DAG file that reads a variable at parse time becomes an import error.
    bad = tmp_path / "bad_dag.py"
    bad.write_text(
        "from airflow.sdk import DAG, Variable\nVariable.get('x')\nwith DAG(dag_id='bad', schedule=None) as dag:\n    pass\n"
    )
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(tmp_path), safe_mode=False)
    assert "bad" not in bag.dags
    assert list(bag.import_errors) == [str(bad)]
    assert guarded == ["Variable.get"]


def test_example_dags_parse_without_network_or_secret_reads(guarded: list[str]) -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    assert set(bag.dags) == EXPECTED
    assert guarded == []


def test_each_example_dag_documents_itself(guarded: list[str]) -> None:
    bag = _dagbag()
    for dag_id, dag in bag.dags.items():
        assert dag.doc_md and len(dag.doc_md.strip()) > 80, f"{dag_id} has no doc_md"
        assert "example" in dag.tags and "airflow-secrets-provider" in dag.tags, dag_id
        assert dag.schedule is None or str(dag.timetable.summary) == "None", f"{dag_id} must only run when triggered"


def test_example_pods_use_the_configured_image_and_pull_policy(
    guarded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The local stack points the examples at an image built on the machine (ASP_EXAMPLE_IMAGE).
    monkeypatch.setenv("ASP_EXAMPLE_IMAGE", "local/asp-job:test")
    import sys

    monkeypatch.delitem(sys.modules, "_asp_examples", raising=False)
    bag = _dagbag()
    pod_tasks = [t for dag in bag.dags.values() for t in dag.tasks if hasattr(t, "image")]
    assert pod_tasks
    for task in pod_tasks:
        assert task.image == "local/asp-job:test", task.task_id
        assert task.image_pull_policy == "IfNotPresent", task.task_id
