"""Pytest plugin: the quickstart stack, started the way the README starts it, once per session.

``airflow_stack`` runs ``scripts/quickstart.sh --detach`` with its own home and a free port,
waits for it to be ready, and stops it with ``scripts/quickstart.sh stop`` at the end of the
session, failing the teardown if anything it started is still running. The e2e and browser tests
share it: starting the stack costs about half a minute, and every test triggers its own runs.

The session stack also serves a second, initially empty DAG folder (bundle ``extra``,
:attr:`RunningStack.extra_dags`) and carries one environment variable the leak audit's ``env``
provider reads (:data:`AUDIT_ENV_VAR`, a fresh ``secrets.token_hex(16)`` per session): tests
that need DAGs of their own drop them into the running stack instead of starting another.

A stack that cannot start skips its tests with the reason locally and fails them under CI.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.airflow_api import AirflowApi
from devstack.airflow_stack import tagged_pids
from devstack.stack_home import ADMIN_USER, EXTRA_DAGS_ENV, StackHome, read_install_secrets
from tests.support.tiers import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "scripts" / "quickstart.sh"
#: Bounded waits for conditions, generous for a cold CI machine (the kube build runs before pytest).
START_TIMEOUT_S = 900
STOP_TIMEOUT_S = 300
#: In the services' environment: the value the leak audit's ``env`` provider reads.
AUDIT_ENV_VAR = "ASP_AUDIT_ENV_SECRET"


def free_port() -> int:
    """A free loopback port below the ephemeral range (outgoing connections cannot take it meanwhile)."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-30000")


def port_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text: str) -> list[str]:
    """``pid cmdline`` of live processes whose command line mentions ``text`` (e.g. the stack's home)."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
            found.append(f"{entry.name} {shown}")
    return found


@dataclass
class RunningStack:
    """A stack started by the tests: where it lives and how to reach it."""

    home: StackHome
    port: int
    #: What ``quickstart.sh`` printed to the terminal (stdout and stderr).
    output: str
    state: dict[str, Any]
    #: The second DAG folder the stack serves (bundle ``extra``), if it was started with one.
    extra_dags: Path | None = None
    #: Environment variables given to the stack's services beyond what the stack sets itself.
    extra_env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tag(self) -> str:
        return str(self.state["tag"])

    @property
    def runs_containers(self) -> bool:
        return bool(self.state.get("runs_containers"))

    def password(self) -> str:
        return str(json.loads(self.home.password_file.read_text())[ADMIN_USER])

    def secret_values(self) -> dict[str, str]:
        """Every secret value of this install, by name."""
        return read_install_secrets(self.home).values()

    def api(self) -> AirflowApi:
        return AirflowApi(self.url, ADMIN_USER, self.password())

    def leftovers(self) -> list[str]:
        """Anything of this stack still running: tagged processes, processes in its home, its port."""
        found = [f"{pid} (tagged)" for pid in tagged_pids(self.tag)]
        found += processes_mentioning(str(self.home.root))
        if port_listening(self.port):
            found.append(f"port {self.port} still listening")
        return found


def start_stack(
    root: Path, port: int, *, extra_dags: Path | None = None, extra_env: dict[str, str] | None = None
) -> RunningStack:
    """``scripts/quickstart.sh --detach --home ROOT --port PORT``, as a user would run it.

    ``extra_dags`` becomes the stack's second DAG bundle; ``extra_env`` reaches every service.
    """
    args = ["bash", str(QUICKSTART), "--detach", "--home", str(root), "--port", str(port)]
    env = {**os.environ, **(extra_env or {})}
    if extra_dags is not None:
        env[EXTRA_DAGS_ENV] = str(extra_dags)
    result = subprocess.run(
        args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT_S, cwd=REPO, env=env
    )
    home = StackHome(root)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        stop_stack(home)
        raise RuntimeError(f"quickstart.sh --detach failed (exit {result.returncode}):\n{output[-3000:]}")
    state = json.loads(home.state_file.read_text())
    return RunningStack(
        home=home, port=port, output=output, state=state, extra_dags=extra_dags, extra_env=dict(extra_env or {})
    )


def stop_stack(home: StackHome) -> str:
    result = subprocess.run(
        ["bash", str(QUICKSTART), "stop", "--home", str(home.root)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT_S,
        cwd=REPO,
    )
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The quickstart stack for the whole session; stopped (and checked empty) at the end."""
    root = tmp_path_factory.mktemp("stack")
    extra_dags = tmp_path_factory.mktemp("extra-dags")
    try:
        stack = start_stack(root, free_port(), extra_dags=extra_dags, extra_env={AUDIT_ENV_VAR: secrets.token_hex(16)})
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        skip_or_fail(f"the quickstart stack did not start: {exc}")
    try:
        yield stack
    finally:
        output = stop_stack(stack.home)
        leftovers = stack.leftovers()
        assert not leftovers, f"quickstart.sh stop left processes behind: {leftovers}\n{output}"
