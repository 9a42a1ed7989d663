"""A private image registry on loopback: Debian's ``docker-registry`` (distribution 2.8) with
htpasswd authentication, so a test can prove that a pod's ``imagePullSecrets`` really reach the
kubelet's image pull.

Why not ``apt-get install docker-registry``: the package registers a system service that would
start a machine-wide registry on port 5000. The ``.deb`` is fetched with ``apt-get download``
and unpacked into the cache instead (keyed by its version); only this module runs it, with its
own config, port and storage, and stops it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import TracebackType

CACHE_ROOT = Path.home() / ".cache" / "airflow-secrets-provider"
PACKAGE = "docker-registry"


def candidate_version() -> str:
    out = subprocess.run(["apt-cache", "policy", PACKAGE], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                return version
    raise RuntimeError(f"apt knows no candidate version of {PACKAGE}")


def registry_binary() -> Path:
    """The ``docker-registry`` binary, unpacked from Debian's package once per version."""
    version = candidate_version()
    root = CACHE_ROOT / f"{PACKAGE}-{version.replace(':', '_')}"
    binary = root / "usr" / "bin" / PACKAGE
    if binary.is_file():
        return binary
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["apt-get", "download", f"{PACKAGE}={version}"], cwd=tmp, check=True, capture_output=True, text=True
        )
        (deb,) = Path(tmp).glob("*.deb")
        staging = Path(tmp) / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.move(str(staging), root)
    return binary


def bcrypt_hash(password: str) -> str:
    """An htpasswd bcrypt hash (the only kind distribution accepts), from the C library."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRegistry:
    """A registry at ``127.0.0.1:PORT`` that only ``username``/``password`` may use.

    Loopback registries are "insecure" (plain HTTP) by Docker's default, so no TLS is needed.
    """

    def __init__(self, workdir: Path, username: str, password: str) -> None:
        self.workdir = workdir
        self.username = username
        self.password = password
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRegistry:
        binary = registry_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "htpasswd").write_text(f"{self.username}:{bcrypt_hash(self.password)}\n")
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.workdir / 'data'}\n"
            f"http:\n  addr: {self.host}\n"
            f"auth:\n  htpasswd:\n    realm: asp-test\n    path: {self.workdir / 'htpasswd'}\n"
        )
        log = (self.workdir / "registry.log").open("wb")
        self._proc = subprocess.Popen(
            [str(binary), "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    return self
                raise
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the registry did not start (log: {self.workdir / 'registry.log'})") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> PrivateRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
