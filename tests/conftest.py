"""Test configuration shared by every tier.

Airflow reads ``AIRFLOW_HOME`` and its config when first imported, so the environment is set
here, before any test module imports it: a throw-away home per test session, no example DAGs.

Tier rule: a test whose real component (API server, Chromium, ...) cannot start may skip
locally with the reason, but under CI (``CI=true``) or with ``ASP_REQUIRE_ALL_TIERS=1`` the
same condition fails the test, so a green CI means every tier ran.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="asp-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")

pytest_plugins = [
    p for p in ("tests.support.kube_fixtures",) if (Path(__file__).parent / "support" / "kube_fixtures.py").exists()
]


def all_tiers_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("ASP_REQUIRE_ALL_TIERS") == "1"


def tier_unavailable(reason: str) -> None:
    """Skip locally, fail under CI: a tier that cannot start is never silently green."""
    if all_tiers_required():
        pytest.fail(f"required test tier unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME
