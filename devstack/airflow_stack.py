"""Run the quickstart stack: real Airflow 3 services, this provider, a local Kubernetes.

``python -m devstack.airflow_stack up`` (what ``scripts/quickstart.sh`` runs) starts, in order:

1. the local Kubernetes (:func:`devstack.stack_kube.start_kubernetes`) and the namespace, project
   Secret and external Secrets the example DAGs reference;
2. Airflow's metadata DB migration (SQLite under the stack's home);
3. ``airflow scheduler`` (LocalExecutor), ``dag-processor``, ``triggerer`` and ``api-server``
   (the UI), each in its own session with its output in ``<home>/logs/<service>.log``;

waits until every component reports healthy and the example DAGs are parsed, prints the URL,
the login and how to stop, and then supervises: Ctrl-C (SIGINT) or SIGTERM stops every service
(its whole process group), the Kubernetes control plane, and finally any process still carrying
this run's tag in its environment, so nothing is left behind. ``up --detach`` runs the same
supervisor in the background and returns once it is ready; ``stop`` ends it.

Why the services' output goes to files and never to the terminal: Airflow 3.3's LocalExecutor
copies each task's output to the scheduler's stdout *without* masking (a leak audit saw backend
passwords there). The stack's scheduler adds the masking (:mod:`devstack.masked_scheduler`), and
the files stay private (0600) in case anything else unmasked ever reaches them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from devstack.airflow_api import AirflowApi, ApiError
from devstack.stack_home import (
    ADMIN_USER,
    DAGS_FOLDER,
    DEFAULT_HOME,
    EXAMPLE_NAMESPACE,
    EXTRA_DAGS_ENV,
    REPO_ROOT,
    InstallSecrets,
    StackHome,
    ensure_install_secrets,
    read_install_secrets,
    render_airflow_cfg,
    sqlite_url,
    write_private,
)

#: Start order; stopped in reverse of this except that the scheduler (which runs tasks) goes first.
SERVICES = ("dag-processor", "scheduler", "triggerer", "api-server")
STOP_ORDER = ("scheduler", "triggerer", "dag-processor", "api-server")
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
DEFAULT_PORT = 8080
#: Which DAG the banner suggests first: its log shows *** where it prints secrets.
FIRST_DAG = "example_backend_lookup"
SERVICE_STOP_TIMEOUT_S = 30.0
#: Bound on waiting for health and parsing once the services run (about 30 s is usual).
READY_TIMEOUT_S = 600.0
TAG_ENV = "ASP_STACK_TAG"


class StackError(RuntimeError):
    """The stack could not start or keep running; the message says which part and where its log is."""


class StopRequested(BaseException):
    """SIGTERM arrived: unwind and stop everything (SIGINT raises KeyboardInterrupt the same way)."""


def say(message: str) -> None:
    """The stack's own status lines: the only thing it writes to the terminal."""
    print(f"[stack {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the supervisor dies (Linux ``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def tagged_pids(tag: str) -> list[int]:
    """Processes whose environment carries ``ASP_STACK_TAG=<tag>``: everything one run started."""
    needle = f"{TAG_ENV}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def sweep(tag: str, timeout: float = 15) -> list[int]:
    """Kill whatever of this run is still alive (TERM, then KILL); return the pids that were found."""
    found = tagged_pids(tag)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in tagged_pids(tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while tagged_pids(tag) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not tagged_pids(tag):
            break
    return found


@dataclass
class Service:
    """One Airflow service process (the leader of its own process group)."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float = SERVICE_STOP_TIMEOUT_S) -> None:
        """TERM the whole group, wait for the leader, then KILL what is left of the group."""
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self.log.close()


@dataclass
class Stack:
    """A running stack, as its supervisor holds it."""

    home: StackHome
    port: int
    tag: str
    installed: InstallSecrets
    db: str = "sqlite"
    services: dict[str, Service] = field(default_factory=dict)
    kube: Any = None  # devstack.stack_kube.StackKube once started
    postgres: Any = None  # devstack.stack_postgres.PostgresServer with --db postgres

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> AirflowApi:
        return AirflowApi(self.url, ADMIN_USER, self.installed.admin_password)


def write_state(home: StackHome, **state: Any) -> None:
    write_private(home.state_file, json.dumps(state, indent=2) + "\n")


def read_state(home: StackHome) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(home.state_file.read_text())
    except (OSError, ValueError):
        return None
    return data


def service_env(stack: Stack) -> dict[str, str]:
    """The services' environment: none of the caller's Airflow settings, the stack's instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "KUBECONFIG"}
    env.update(
        {
            "AIRFLOW_HOME": str(stack.home.airflow_home),
            "AIRFLOW_CONFIG": str(stack.home.airflow_cfg),
            TAG_ENV: stack.tag,
            "ASP_EXAMPLE_NAMESPACE": EXAMPLE_NAMESPACE,
            # The connection KubernetesPodOperator uses: the stack's kubeconfig (a path, no secret).
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
                {"conn_type": "kubernetes", "extra": {"kube_config_path": str(stack.kube.kubeconfig)}}
            ),
            # For example_secrets' `env` provider: a value in the worker's environment.
            "MY_ENV_SECRET": stack.installed.examples["env/MY_ENV_SECRET"],
        }
    )
    if stack.kube.example_image:
        env["ASP_EXAMPLE_IMAGE"] = stack.kube.example_image
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def start_service(stack: Stack, name: str, env: dict[str, str]) -> Service:
    args = [airflow_bin(), name]
    if name == "scheduler":  # its copy of task output masked like the task log (see the module)
        args = [sys.executable, "-m", "devstack.masked_scheduler"]
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))}
    if name == "api-server":
        args += ["--host", "127.0.0.1", "--port", str(stack.port)]
    log = open_private_log(stack.home.service_log(name))
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=stack.home.airflow_home,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    return Service(name, process, log)


def open_private_log(path: Path) -> IO[bytes]:
    """Service logs are 0600: Airflow copies task output into the scheduler's (masked by the stack, see above)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def migrate_db(stack: Stack, env: dict[str, str]) -> None:
    log_path = stack.home.service_log("db-migrate")
    with open_private_log(log_path) as log:
        result = subprocess.run(
            [airflow_bin(), "db", "migrate"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    if result.returncode != 0:
        raise StackError(f"airflow db migrate failed (exit {result.returncode}); see {log_path}")


def expected_dag_ids(folder: Path = DAGS_FOLDER) -> set[str]:
    """The DAG ids the example files declare (``dag_id="..."``), to know when parsing is done."""
    ids: set[str] = set()
    for path in folder.glob("*.py"):
        if not path.name.startswith("_"):
            ids.update(re.findall(r'dag_id="([A-Za-z0-9_.-]+)"', path.read_text(encoding="utf-8")))
    return ids


def check_services(stack: Stack) -> None:
    for service in stack.services.values():
        code = service.exited()
        if code is not None:
            raise StackError(f"{service.name} exited (code {code}); see {stack.home.service_log(service.name)}")


def wait_until_ready(stack: Stack) -> list[str]:
    """Wait for every component to be healthy and every example DAG parsed; return import errors."""
    api = stack.api()
    say("waiting for the API server, scheduler, dag-processor and triggerer to report healthy")
    deadline = time.monotonic() + READY_TIMEOUT_S
    health: dict[str, Any] = {}
    while True:
        check_services(stack)
        with contextlib.suppress(OSError, ValueError, ApiError):  # not up yet, or up but not ready
            health = api.health()
            if all(health.get(c, {}).get("status") == "healthy" for c in HEALTH_COMPONENTS):
                break
        if time.monotonic() > deadline:
            unhealthy = [c for c in HEALTH_COMPONENTS if health.get(c, {}).get("status") != "healthy"]
            raise StackError(f"not healthy after {READY_TIMEOUT_S:.0f} s: {unhealthy}; see {stack.home.logs_dir}/")
        time.sleep(1)
    expected = expected_dag_ids()
    say(f"waiting for the {len(expected)} example DAGs to be parsed")
    while True:
        check_services(stack)
        if time.monotonic() > deadline:
            raise StackError(f"example DAGs not parsed after {READY_TIMEOUT_S:.0f} s; see dag-processor.log")
        with contextlib.suppress(OSError, ValueError, ApiError):
            errors = api.import_errors()
            if errors:
                return [str(e.get("filename")) for e in errors]
            if expected <= set(api.dag_ids()):
                return []
        time.sleep(1)


def banner(stack: Stack, *, detached: bool = False) -> str:
    home = stack.home
    stop = "scripts/quickstart.sh stop" + (f" --home {home.root}" if home.root != DEFAULT_HOME else "")
    return "\n".join(
        [
            "",
            f"Airflow is running: {stack.url}",
            f"  login      user '{ADMIN_USER}', password in {home.password_file} (JSON, mode 0600)",
            f"  first DAG  {FIRST_DAG}: press Trigger on its page, then open its task's log: the secrets it prints show as ***",
            "             the other example_* DAGs run pods on the local Kubernetes (dags/ says what each shows)",
            f"  logs       {home.logs_dir}/ (the services' output; private, mode 0600)",
            f"  stop       {stop}" if detached else f"  stop       Ctrl-C here (or {stop} from another terminal)",
            "",
        ]
    )


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopRequested


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Cleanup runs to the end: a second Ctrl-C must not leave half the stack running."""
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def stop_stack(stack: Stack) -> None:
    with signals_ignored():
        write_state(stack.home, pid=os.getpid(), tag=stack.tag, port=stack.port, url=stack.url, phase="stopping")
        for name in STOP_ORDER:
            if name in stack.services:
                say(f"stopping {name}")
                stack.services[name].stop()
        if stack.postgres is not None:
            say("stopping PostgreSQL")
            stack.postgres.stop()
        if stack.kube is not None:
            say("stopping Kubernetes")
            stack.kube.stop()
        else:
            from devstack.stack_kube import stop_leftover_cluster

            stop_leftover_cluster(stack.home.kube_dir)
        leftovers = sweep(stack.tag)
        if leftovers:
            say(f"ended {len(leftovers)} leftover process(es) of this run")
        stack.home.state_file.unlink(missing_ok=True)
        say("stopped; nothing of this run is left running")


def free_loopback_port() -> int:
    """A free port below the ephemeral range, so no outgoing connection takes it meanwhile."""
    rng = secrets.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        if port_is_free(port):
            return port
    raise StackError("no free loopback port in 20000-30000")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def refuse_second_stack(home: StackHome) -> None:
    state = read_state(home)
    if state and _alive(int(state.get("pid", 0))):
        raise StackError(
            f"a stack is already running from {home.root} (pid {state['pid']}, {state.get('url')}); "
            "stop it first: scripts/quickstart.sh stop"
        )


def run_foreground(home: StackHome, port: int, db: str = "sqlite") -> int:
    """Start everything, supervise until Ctrl-C/SIGTERM or a service dies, then stop everything."""
    refuse_second_stack(home)
    if not port_is_free(port):
        raise StackError(f"port {port} on 127.0.0.1 is in use; choose another with --port")
    signal.signal(signal.SIGTERM, _raise_stop)
    # Ctrl-C must stop the stack even when started from a shell that ignores SIGINT (`cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    tag = secrets.token_hex(8)
    os.environ[TAG_ENV] = tag  # inherited by the Kubernetes scripts and every service: the sweep finds them
    installed = ensure_install_secrets(home)
    stack = Stack(home=home, port=port, tag=tag, installed=installed, db=db)
    write_state(home, pid=os.getpid(), tag=tag, port=port, url=stack.url, phase="starting")
    code = 0
    try:
        from kubernetes.client import CoreV1Api

        from devstack.stack_kube import seed_examples, start_kubernetes

        say("starting the local Kubernetes (the first run on a machine builds it: about 10 minutes)")
        kube_log_path = stack.home.service_log("kubernetes")
        with (
            open(os.open(kube_log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as kube_log,
            contextlib.redirect_stderr(kube_log),
        ):
            stack.kube = start_kubernetes(home.kube_dir)
        seed_examples(CoreV1Api(stack.kube.api_client), installed.examples)
        say(f"Kubernetes is up (namespace {EXAMPLE_NAMESPACE}: project secrets and example Secrets created)")
        db_url = sqlite_url(home)
        if db == "postgres":
            from devstack.stack_postgres import PostgresUnavailable, start_postgres

            say("starting PostgreSQL (Debian's, its own data directory and loopback port)")
            try:
                stack.postgres = start_postgres(home, installed.db_password, free_loopback_port())
            except PostgresUnavailable as exc:
                raise StackError(str(exc)) from None
            db_url = stack.postgres.sqlalchemy_url
            say(f"PostgreSQL is up on 127.0.0.1:{stack.postgres.port} (data in {stack.postgres.data_dir})")
        extra = os.environ.get(EXTRA_DAGS_ENV)
        cfg = render_airflow_cfg(home, port, installed, stack.kube.kubeconfig, db_url, Path(extra) if extra else None)
        write_private(home.airflow_cfg, cfg)
        env = service_env(stack)
        say(f"migrating the metadata DB ({'PostgreSQL' if db == 'postgres' else 'SQLite'})")
        migrate_db(stack, env)
        for name in SERVICES:
            stack.services[name] = start_service(stack, name, env)
        say(f"started {', '.join(SERVICES)} (LocalExecutor); output in {home.logs_dir}/")
        errors = wait_until_ready(stack)
        if errors:
            say(f"WARNING: DAG import errors in {errors}; see the UI's DAG import errors")
        write_state(
            home,
            pid=os.getpid(),
            tag=tag,
            port=port,
            url=stack.url,
            phase="ready",
            runs_containers=stack.kube.runs_containers,
        )
        print(banner(stack), flush=True)
        while True:
            check_services(stack)
            time.sleep(2)
    except (KeyboardInterrupt, StopRequested):
        say("stop requested")
    except StackError as exc:
        say(f"ERROR: {exc}")
        code = 1
    finally:
        stop_stack(stack)
    return code


def start_detached(home: StackHome, port: int, db: str = "sqlite") -> int:
    """Run the supervisor in the background (its output in stack.log); return once it is ready."""
    refuse_second_stack(home)
    home.make_dirs()
    home.state_file.unlink(missing_ok=True)
    with open_private_log(home.stack_log) as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devstack.airflow_stack",
                "up",
                "--home",
                str(home.root),
                "--port",
                str(port),
                "--db",
                db,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
    say(f"starting in the background (pid {child.pid}); progress in {home.stack_log}")
    while child.poll() is None:
        state = read_state(home)
        if state and state.get("pid") == child.pid and state.get("phase") == "ready":
            installed = read_install_secrets(home)
            print(
                banner(Stack(home=home, port=port, tag=str(state["tag"]), installed=installed), detached=True),
                flush=True,
            )
            return 0
        time.sleep(1)
    say(f"the stack failed to start (exit {child.returncode}); last lines of {home.stack_log}:")
    lines = home.stack_log.read_text(errors="replace").splitlines()[-15:]
    print("\n".join(lines), flush=True)
    return 1


def stop_detached(home: StackHome, timeout: float = 180) -> int:
    """Stop a stack started from ``home`` and wait until every process of it is gone."""
    state = read_state(home)
    if state is None:
        say(f"no stack is running from {home.root}")
        return 0
    pid, tag = int(state["pid"]), str(state["tag"])
    if _alive(pid):
        say(f"stopping the stack (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    leftovers = sweep(tag)
    if leftovers:
        say(f"ended {len(leftovers)} leftover process(es)")
    from devstack.stack_kube import stop_leftover_cluster

    stop_leftover_cluster(home.kube_dir)
    home.state_file.unlink(missing_ok=True)
    say("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.airflow_stack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack (foreground unless --detach)")
    up.add_argument("--port", type=int, default=int(os.environ.get("ASP_STACK_PORT", DEFAULT_PORT)))
    up.add_argument("--detach", action="store_true", help="run in the background; stop with the stop command")
    up.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default=os.environ.get("ASP_STACK_DB", "sqlite"),
        help="metadata DB: SQLite (default) or a PostgreSQL 15 of the stack's own",
    )
    for command in (up, sub.add_parser("stop", help="stop a detached stack"), sub.add_parser("status")):
        command.add_argument("--home", type=Path, default=Path(os.environ.get("ASP_STACK_HOME", DEFAULT_HOME)))
    args = parser.parse_args(argv)
    home = StackHome(args.home.resolve())
    try:
        if args.command == "stop":
            return stop_detached(home)
        if args.command == "status":
            state = read_state(home)
            alive = bool(state) and _alive(int(state.get("pid", 0)))  # type: ignore[union-attr]
            print(json.dumps({**(state or {}), "running": alive}, indent=2))
            return 0 if alive else 3
        if args.detach:
            return start_detached(home, args.port, args.db)
        return run_foreground(home, args.port, args.db)
    except StackError as exc:
        say(f"ERROR: {exc}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
