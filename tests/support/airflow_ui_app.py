"""The real Airflow API server app (``airflow.api_fastapi.app.create_app``) in the test process.

With the Simple auth manager, users of every role it knows, and passwords in a 0600 file, so
tests get real JWTs from ``POST /auth/token`` and the real auth manager decides every request.
The plugin is the one Airflow loads from the ``airflow.plugins`` entry point (the package is
installed in the venv), mounted at ``/secrets-provider`` by Airflow itself.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
ROLES = ("viewer", "user", "op", "admin")  # each test user is named after its role


@dataclass
class AirflowUiApp:
    client: Any  # fastapi.testclient.TestClient over the whole Airflow app
    passwords: dict[str, str]
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        if user not in self._tokens:
            response = self.client.post("/auth/token", json={"username": user, "password": self.passwords[user]})
            assert response.status_code in (200, 201), response.text
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}


@pytest.fixture(scope="module")
def airflow_ui_app(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowUiApp]:
    """The Airflow app with the Simple auth manager and one user per role (module-scoped: ~5 s)."""
    from fastapi.testclient import TestClient

    passwords = {role: secrets.token_hex(12) for role in ROLES}
    password_file = tmp_path_factory.mktemp("auth") / "passwords.json"
    password_file.write_text(json.dumps(passwords), encoding="utf-8")
    password_file.chmod(0o600)
    env = {
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{role}:{role}" for role in ROLES),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from airflow.api_fastapi import app as airflow_app

        airflow_app._AuthManagerState.instance = None  # this config's auth manager, not a cached one
        app = airflow_app.create_app("core")
        with TestClient(app) as client:
            yield AirflowUiApp(client=client, passwords=passwords)
        airflow_app._AuthManagerState.instance = None


def plugin_config(patch: pytest.MonkeyPatch, kubeconfig: str | Path, namespace: str) -> None:
    """Point the Secrets page at a cluster and namespace (read per request, so per test)."""
    patch.setenv("AIRFLOW__SECRETS_PROVIDER__UI_KUBE_CONFIG", str(kubeconfig))
    patch.setenv("AIRFLOW__SECRETS_PROVIDER__UI_NAMESPACE", namespace)
    patch.delenv("AIRFLOW__SECRETS_PROVIDER__UI_CONN_ID", raising=False)
    patch.delenv("KUBECONFIG", raising=False)
    patch.delenv("AIRFLOW__SECRETS_PROVIDER__UI_CONTEXT", raising=False)
