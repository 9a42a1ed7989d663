"""The quickstart stack's home directory: its layout, its per-install secrets, its Airflow config.

Why a module of its own: the supervisor (:mod:`devstack.airflow_stack`), the tests and a user
reading the README all need to agree on where things are (the admin password file, the logs, the
state file), and the per-install secrets must be generated exactly once and stored ``0600``.
Nothing here starts a process; everything is files and pure text.

Layout under the home (default ``<repo>/.airflow-stack``)::

    airflow/              AIRFLOW_HOME: airflow.cfg (0600, holds the Fernet/JWT/API keys), airflow.db, task logs
    secrets/              0700; every file 0600
      admin-password.json   {"admin": "<password>"}: simple auth manager's passwords file
      airflow-keys.json     Fernet key, JWT secret, API secret key
      connections.json      the backend's file source: connection ``demo_db``
      variables.json        the backend's file source: variable ``demo_api_token``
      example-values.json   the values the stack seeds into Kubernetes for the example DAGs
    logs/                 one file per service (scheduler.log, api-server.log, ...), stack.log
    kube/                 the local Kubernetes' working directory (recreated on each start)
    stack.json            state of a running stack: supervisor pid, URL, phase
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = REPO_ROOT / ".airflow-stack"
DAGS_FOLDER = REPO_ROOT / "dags"
ADMIN_USER = "admin"
#: Optional second DAG folder (a directory path): the stack serves it as DAG bundle ``extra``
#: next to the examples' ``dags-folder``. The leak audit drops its DAGs there, into a running stack.
EXTRA_DAGS_ENV = "ASP_STACK_EXTRA_DAGS"
EXTRA_BUNDLE = "extra"
EXAMPLES_BUNDLE = "dags-folder"

#: Namespace and project the example DAGs use (dags/_asp_examples.py reads the same env vars).
EXAMPLE_NAMESPACE = "ml"
EXAMPLE_PROJECT = "fraud"


@dataclass(frozen=True)
class StackHome:
    """Paths of one stack installation."""

    root: Path

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def airflow_cfg(self) -> Path:
        return self.airflow_home / "airflow.cfg"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def password_file(self) -> Path:
        return self.secrets_dir / "admin-password.json"

    @property
    def keys_file(self) -> Path:
        return self.secrets_dir / "airflow-keys.json"

    @property
    def connections_file(self) -> Path:
        return self.secrets_dir / "connections.json"

    @property
    def variables_file(self) -> Path:
        return self.secrets_dir / "variables.json"

    @property
    def db_password_file(self) -> Path:
        return self.secrets_dir / "postgres-password.json"

    @property
    def example_values_file(self) -> Path:
        return self.secrets_dir / "example-values.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def kube_dir(self) -> Path:
        return self.root / "kube"

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def stack_log(self) -> Path:
        return self.logs_dir / "stack.log"

    def service_log(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    def make_dirs(self) -> None:
        for path in (self.root, self.airflow_home):
            path.mkdir(parents=True, exist_ok=True)
        # Private: secrets/ holds the keys; logs/ holds the scheduler's (masked) copy of task output.
        for private in (self.secrets_dir, self.logs_dir):
            private.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(private, 0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (no window where it is readable)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


def _load_or_create(path: Path, make: Any) -> dict[str, Any]:
    """Read a JSON secrets file, or create it once with ``make()``: secrets are per install."""
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    data = make()
    write_private(path, json.dumps(data, indent=2) + "\n")
    return data


def _token() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class InstallSecrets:
    """What the stack generates once per install. Never printed; tests read it to hunt for leaks."""

    admin_password: str
    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    #: Password of the stack's PostgreSQL user (used only with ``--db postgres``).
    db_password: str
    #: name -> value of everything the example DAGs can reach (see :func:`example_values`).
    examples: dict[str, str]

    def values(self) -> dict[str, str]:
        """Every secret value of this install, by a descriptive name (for leak checks)."""
        return {
            "admin password": self.admin_password,
            "fernet key": self.fernet_key,
            "jwt secret": self.jwt_secret,
            "api secret key": self.api_secret_key,
            "postgres password": self.db_password,
            **self.examples,
        }


def example_values() -> dict[str, str]:
    """Fresh values for every secret the example DAGs use; names are ``where/key``."""
    names = [
        "conn/demo_db/password",
        "var/demo_api_token",
        f"project/{EXAMPLE_PROJECT}/AWS_KEY",
        f"project/{EXAMPLE_PROJECT}/DB_PASSWORD",
        f"project/{EXAMPLE_PROJECT}/AIRFLOW_VAR_FEATURE_STORE_TOKEN",
        "secret/warehouse-creds/password",
        "secret/tls-certs/tls.key",
        "secret/clearml/access",
        "secret/dev-secret/secret1",
        "secret/prod-secret/secret1",
        "secret/registry-creds/password",
        "env/MY_ENV_SECRET",
    ]
    return {name: _token() for name in names}


def ensure_install_secrets(home: StackHome) -> InstallSecrets:
    """Generate the install's secrets on first use (files 0600), then always return the same ones."""
    home.make_dirs()
    password = _load_or_create(home.password_file, lambda: {ADMIN_USER: secrets.token_urlsafe(18)})
    keys = _load_or_create(
        home.keys_file,
        lambda: {
            "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "jwt_secret": secrets.token_urlsafe(32),
            "api_secret_key": secrets.token_urlsafe(32),
        },
    )
    examples = _load_or_create(home.example_values_file, example_values)
    db = _load_or_create(home.db_password_file, lambda: {"password": secrets.token_urlsafe(24)})
    # The backend's file source: one connection, one variable (re-written: same values each time).
    write_private(
        home.connections_file,
        json.dumps(
            {
                "demo_db": {
                    "conn_type": "postgres",
                    "host": "db.example.internal",
                    "port": 5432,
                    "login": "app",
                    "password": examples["conn/demo_db/password"],
                    "schema": "app",
                }
            },
            indent=2,
        )
        + "\n",
    )
    write_private(home.variables_file, json.dumps({"demo_api_token": examples["var/demo_api_token"]}, indent=2) + "\n")
    return InstallSecrets(
        admin_password=password[ADMIN_USER],
        fernet_key=keys["fernet_key"],
        jwt_secret=keys["jwt_secret"],
        api_secret_key=keys["api_secret_key"],
        db_password=db["password"],
        examples=examples,
    )


def read_install_secrets(home: StackHome) -> InstallSecrets:
    """The secrets of an existing install, read without writing anything."""
    password = json.loads(home.password_file.read_text(encoding="utf-8"))
    keys = json.loads(home.keys_file.read_text(encoding="utf-8"))
    return InstallSecrets(
        admin_password=password[ADMIN_USER],
        fernet_key=keys["fernet_key"],
        jwt_secret=keys["jwt_secret"],
        api_secret_key=keys["api_secret_key"],
        db_password=json.loads(home.db_password_file.read_text(encoding="utf-8"))["password"],
        examples=json.loads(home.example_values_file.read_text(encoding="utf-8")),
    )


def backend_kwargs(home: StackHome, kubeconfig: Path, namespace: str = EXAMPLE_NAMESPACE) -> dict[str, Any]:
    """``ChainedSecretsBackend`` sources: the local files first, then the project's Kubernetes Secret."""
    return {
        "sources": [
            {
                "kind": "file",
                "connections_file": str(home.connections_file),
                "variables_file": str(home.variables_file),
            },
            {"kind": "kubernetes", "namespace": namespace, "project": EXAMPLE_PROJECT, "kube_config": str(kubeconfig)},
        ]
    }


def sqlite_url(home: StackHome) -> str:
    return f"sqlite:///{home.airflow_home / 'airflow.db'}"


def dag_bundles(extra_dags: Path | None) -> list[dict[str, Any]]:
    """``[dag_processor] dag_bundle_config_list``: the examples, plus ``extra_dags`` when given.

    The extra bundle is listed every 5 s (the examples every 30 s), so a file dropped into a
    running stack is parsed within seconds.
    """
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles: list[dict[str, Any]] = [{"name": EXAMPLES_BUNDLE, "classpath": local, "kwargs": {}}]
    if extra_dags is not None:
        bundles.append(
            {"name": EXTRA_BUNDLE, "classpath": local, "kwargs": {"path": str(extra_dags), "refresh_interval": 5}}
        )
    return bundles


def render_airflow_cfg(
    home: StackHome, port: int, keys: InstallSecrets, kubeconfig: Path, db_url: str, extra_dags: Path | None = None
) -> str:
    """The stack's ``airflow.cfg``: LocalExecutor, the metadata DB, simple auth manager, the chained backend.

    Airflow fills every option not named here with its default. Keys live in this file (0600)
    rather than in the services' environment, so ``ps e`` shows none of them.
    """
    base_url = f"http://127.0.0.1:{port}"
    sections: dict[str, dict[str, str]] = {
        "core": {
            "dags_folder": str(DAGS_FOLDER),
            "executor": "LocalExecutor",
            "load_examples": "False",
            "dags_are_paused_at_creation": "False",
            "parallelism": "4",
            "fernet_key": keys.fernet_key,
            "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "simple_auth_manager_users": f"{ADMIN_USER}:admin",
            "simple_auth_manager_passwords_file": str(home.password_file),
            "execution_api_server_url": f"{base_url}/execution/",
        },
        "database": {"sql_alchemy_conn": db_url},
        "api": {
            "host": "127.0.0.1",
            "port": str(port),
            "base_url": base_url,
            "workers": "1",
            "secret_key": keys.api_secret_key,
            "expose_config": "False",
        },
        "api_auth": {"jwt_secret": keys.jwt_secret},
        "dag_processor": {
            "refresh_interval": "30",
            "parsing_processes": "1",
            "dag_bundle_config_list": json.dumps(dag_bundles(extra_dags)),
        },
        "logging": {"base_log_folder": str(home.airflow_home / "logs")},
        "secrets": {
            "backend": "airflow_secrets_provider.secrets.ChainedSecretsBackend",
            "backend_kwargs": json.dumps(backend_kwargs(home, kubeconfig)),
        },
    }
    lines = ["# Written by devstack/airflow_stack.py on every start; edits are overwritten."]
    for section, options in sections.items():
        lines.append(f"\n[{section}]")
        lines.extend(f"{key} = {value}" for key, value in options.items())
    return "\n".join(lines) + "\n"
