"""A local control plane whose owner is SIGKILLed stops by itself (``scripts/kube-node.sh``'s watchdog).

Why: a test run killed from outside (a CI timeout, ``kill -9``, an operator stopping a job's
process group) runs no cleanup code, so only the watchdog that ``start`` leaves behind can take the
control plane down. Each test starts one exactly as the session fixtures do
(:func:`devstack.kube_cluster.start_local_cluster` in the owning Python process, here a child),
SIGKILLs the child's whole process group, and then waits (bounded; nothing is asserted about
speed) until every process of the control plane is gone, its ports are free and its directory
and mounts are removed.

The three ways the owner goes: killed and reaped at once; killed but not reaped (a zombie, which
``kill -0`` still finds); killed while ``start`` is still running, before the API server is up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import kubernetes.client
import kubernetes.config
import pytest

from devstack.kube_cluster import REPO_ROOT, SCRIPT, START_TIMEOUT_S, ClusterUnavailable, build_binaries
from tests.support.tiers import skip_or_fail
from tests.support.waiting import wait_for

pytestmark = pytest.mark.kubernetes

#: The owner: starts a control plane through devstack, as the ``kube_cluster`` fixture does,
#: says where it is, and then waits to be killed; once told to (a file appears), it begins its
#: teardown as the fixture does, ``cluster.stop()``.
OWNER = """
import json, sys, time
from pathlib import Path
from devstack.kube_cluster import start_local_cluster
cluster = start_local_cluster(Path(sys.argv[1]), node=False)
Path(sys.argv[2]).write_text(json.dumps({"server": cluster.server}))
stop_now = Path(sys.argv[2] + ".stop")
while not stop_now.exists():
    time.sleep(0.1)
cluster.stop()
time.sleep(3600)
"""

#: A process that names a path inside the node's directory (so `stop` must end it) and shrugs off
#: the first SIGTERM: it holds the owner's `stop` in its 10 s wait, a window to kill the owner in.
SLOW_TO_STOP = """
import signal, sys, time
from pathlib import Path
terms = []
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0) if terms else terms.append(1))
Path(sys.argv[2]).write_text("up")
while True:
    time.sleep(0.1)
"""

#: Bounds waits for a condition; generous because the machine is shared (no speed assertion).
GONE_TIMEOUT_S = 120


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (after the command name, which may hold spaces)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def _running(pid: int, start_time: str) -> bool:
    """PID is still that same process, and not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X", "x") and fields[19] == start_time


def _processes_naming(path: Path) -> dict[int, str]:
    """pid -> command line of every live process whose arguments name a path inside ``path``."""
    found: dict[int, str] = {}
    needle = f"{path}/".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = _stat_fields(int(entry.name))
        if needle in cmdline and fields is not None and fields[0] not in ("Z", "X", "x"):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def _listening_ports() -> set[int]:
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A":  # LISTEN
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def _can_bind(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no listener
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _mounts_under(path: Path) -> list[str]:
    prefix = f"{path}/"
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4] == str(path) or line.split()[4].startswith(prefix)
    ]


@dataclass
class Owned:
    """What the killed owner's control plane consisted of, recorded before the kill."""

    workdir: Path
    processes: dict[int, tuple[str, str]] = field(default_factory=dict)  # pid -> (start time, what)
    ports: set[int] = field(default_factory=set)

    def record(self) -> None:
        for pidfile in self.workdir.glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text().split()[0])
                if (since := _start_time(pid)) is not None:
                    self.processes[pid] = (since, pidfile.stem)
        for pid, cmdline in _processes_naming(self.workdir).items():
            if (since := _start_time(pid)) is not None:
                self.processes.setdefault(pid, (since, cmdline[:80]))
            for arg in cmdline.split():
                for flag in ("--secure-port=", "--listen-client-urls=", "--listen-peer-urls="):
                    if arg.startswith(flag):
                        value = arg[len(flag) :]
                        port = int(value) if value.isdigit() else urlparse(value).port
                        if port:  # kube-controller-manager has --secure-port=0 (none)
                            self.ports.add(port)

    def alive(self) -> list[str]:
        return [f"{what} (pid {pid})" for pid, (since, what) in self.processes.items() if _running(pid, since)]

    def all_gone(self) -> bool:
        return not self.alive() and not _processes_naming(self.workdir) and not self.workdir.exists()

    def force_stop(self) -> None:
        """Cleanup by hand, whatever the test's outcome: the script's stop, then SIGKILL."""
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(self.workdir)],
            check=False,
            timeout=180,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        for pid, (since, _) in self.processes.items():
            if _running(pid, since):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _owner(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Owned, Path]]:
    """A child Python process that owns a control plane in ``tmp_path/kube-cp``; never leaks it."""
    try:
        build_binaries()  # a cache hit once built; the tier rule applies if it cannot be built
    except ClusterUnavailable as exc:
        skip_or_fail(f"no Kubernetes API server: {exc}")
    workdir = tmp_path / "kube-cp"
    ready_file = tmp_path / "owner-ready.json"
    owned = Owned(workdir)
    with (tmp_path / "owner.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", OWNER, str(workdir), str(ready_file)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group, killed as a whole below
        )
    try:
        yield child, owned, ready_file
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        owned.record()  # anything that appeared since
        owned.force_stop()


def _wait_until_serving(child: subprocess.Popen[bytes], ready_file: Path, tmp_path: Path) -> str:
    def ready() -> str | None:
        if ready_file.exists():
            return str(json.loads(ready_file.read_text())["server"])
        if child.poll() is not None:
            pytest.fail(f"the owner exited ({child.returncode}):\n{(tmp_path / 'owner.log').read_text()[-3000:]}")
        return None

    server = wait_for(ready, "the owner's control plane to start", timeout=START_TIMEOUT_S)
    client = kubernetes.config.new_client_from_config(config_file=str(tmp_path / "kube-cp" / "kubeconfig"))
    with client:
        kubernetes.client.VersionApi(client).get_code(_request_timeout=10)
    return str(server)


def _assert_everything_went(owned: Owned) -> None:
    wait_for(owned.all_gone, f"the control plane in {owned.workdir} to stop by itself", timeout=GONE_TIMEOUT_S)
    assert owned.alive() == []
    assert _processes_naming(owned.workdir) == {}
    assert not owned.workdir.exists()
    assert _mounts_under(owned.workdir) == []
    listening = _listening_ports()
    for port in owned.ports:
        assert port not in listening, f"port {port} still has a listener"
        assert _can_bind(port), f"port {port} cannot be bound"


@pytest.mark.parametrize("reap", [True, False], ids=["owner-reaped", "owner-left-a-zombie"])
def test_control_plane_stops_when_its_owner_is_sigkilled(tmp_path: Path, reap: bool) -> None:
    with _owner(tmp_path) as (child, owned, ready_file):
        server = _wait_until_serving(child, ready_file, tmp_path)
        owned.record()
        kinds = {what for _, what in owned.processes.values()}
        assert {"etcd", "kube-apiserver", "kube-controller-manager", "watchdog"} <= kinds
        assert urlparse(server).port in owned.ports and len(owned.ports) == 3  # API server, etcd x2
        assert owned.ports <= _listening_ports()

        os.killpg(child.pid, signal.SIGKILL)
        if reap:
            child.wait()
        # else: the owner stays a zombie (its parent, this test, has not waited for it yet).
        _assert_everything_went(owned)
        assert child.wait() == -signal.SIGKILL


def test_control_plane_stops_when_its_owner_is_sigkilled_during_its_stop(tmp_path: Path) -> None:
    """Killed during its teardown, the owner takes the `stop` it runs down with it; the watchdog,
    which a stop ends only last, finishes the job."""
    with _owner(tmp_path) as (child, owned, ready_file):
        _wait_until_serving(child, ready_file, tmp_path)
        workdir = owned.workdir
        up = tmp_path / "slow-up"
        slow = subprocess.Popen(
            [sys.executable, "-c", SLOW_TO_STOP, f"{workdir}/slow-to-stop", str(up)], start_new_session=True
        )
        try:
            wait_for(up.exists, "the slow-to-stop process to be up", timeout=60)
            owned.record()
            assert slow.pid in owned.processes
            control_plane = {
                pid: since for pid, (since, what) in owned.processes.items() if what.startswith(("etcd", "kube-"))
            }
            assert len(control_plane) == 3

            Path(f"{ready_file}.stop").touch()
            # The owner's stop has ended the control plane and now waits for the slow process.
            wait_for(
                lambda: not any(_running(pid, since) for pid, since in control_plane.items()),
                "the owner's stop to end the control plane",
                timeout=GONE_TIMEOUT_S,
            )
            assert workdir.exists() and _running(slow.pid, owned.processes[slow.pid][0])
            os.killpg(child.pid, signal.SIGKILL)  # the owner and the `kube-node.sh stop` it runs
            child.wait()
            _assert_everything_went(owned)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(slow.pid, signal.SIGKILL)
            slow.wait()


def test_control_plane_stops_when_its_owner_is_sigkilled_during_start(tmp_path: Path) -> None:
    with _owner(tmp_path) as (child, owned, _):
        workdir = owned.workdir
        # etcd runs and kube-apiserver is starting: `start` is half way, no cluster.env yet.
        wait_for(
            lambda: (workdir / "kube-apiserver.pid").exists() or child.poll() is not None,
            "the owner's start to reach kube-apiserver",
            timeout=START_TIMEOUT_S,
        )
        assert child.poll() is None, (tmp_path / "owner.log").read_text()[-3000:]
        owned.record()
        assert not (workdir / "cluster.env").exists(), "start finished before the owner was killed"
        kinds = {what for _, what in owned.processes.values()}
        assert {"etcd", "watchdog"} <= kinds

        os.killpg(child.pid, signal.SIGKILL)  # the owner and the `start` script it runs
        child.wait()
        time.sleep(0.5)  # let anything `start` had just forked show up in the record
        owned.record()
        _assert_everything_went(owned)
