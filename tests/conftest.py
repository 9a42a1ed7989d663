"""Test configuration shared by every tier.

Airflow reads ``AIRFLOW_HOME`` and its config when first imported, so the environment is set
here, before any test module imports it: a throw-away home per test session, no example DAGs.

The tier rule (skip locally, fail under CI) lives in tests/support/tiers.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="asp-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")  # tests write their DAG files here
(_HOME / "dags").mkdir()
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")

pytest_plugins = [
    *(
        p
        for p in ("tests.support.kube_fixtures", "tests.support.stack_fixtures")
        if (Path(__file__).parent / "support" / f"{p.rsplit('.', 1)[1]}.py").exists()
    ),
    "tests.support.keyvault_fixtures",
    "tests.support.airflow_ui_app",
    "tests.support.browser",
]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The throw-away Airflow home goes with the session (kept with ASP_KEEP_AIRFLOW_HOME=1 to debug)."""
    if os.environ.get("ASP_KEEP_AIRFLOW_HOME") != "1":
        shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def fresh_log_maskers() -> None:
    """Every test starts with Airflow's maskers empty, as a fresh task process does.

    Both copies (the task SDK's and core's) are process-wide: without this, a value one test
    registered would still be masked in the next, and a test that checks a value is *not*
    masked would pass or fail depending on the order tests run in.
    """
    from airflow._shared.secrets_masker import reset_secrets_masker as reset_core_masker
    from airflow.sdk._shared.secrets_masker import reset_secrets_masker

    reset_secrets_masker()
    reset_core_masker()


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def dags_folder(airflow_home: Path) -> Path:
    return airflow_home / "dags"


def run_dag_from_module(dags_folder: Path, builder: str, **kwargs: object) -> object:
    """Run ``builder(**kwargs)``'s DAG through ``dag.test()``.

    ``dag.test()`` only runs DAGs its DAG processor can find in the dags folder, so a DAG file
    that calls the same builder is written there first. ``builder`` is ``"module:function"``.
    """
    import importlib

    module_name, function = builder.split(":")
    dag = getattr(importlib.import_module(module_name), function)(**kwargs)
    args = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    (dags_folder / f"{dag.dag_id}.py").write_text(
        # The comment is for Airflow's safe-mode scan, which only parses files mentioning "airflow" and "dag".
        f"# airflow DAG file written by the tests\nfrom {module_name} import {function}\n\ndag = {function}({args})\n",
        encoding="utf-8",
    )
    return dag.test()


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> None:
    """A migrated metadata DB (SQLite) in the session's AIRFLOW_HOME, for dag.test() runs."""
    import subprocess
    import sys

    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed: {result.stderr[-3000:]}")
