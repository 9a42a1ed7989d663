"""Debian's PostgreSQL 15 as the stack's metadata DB (``scripts/quickstart.sh --db postgres``).

Why optional: SQLite held up with the four services and LocalExecutor, so it stays the default;
PostgreSQL is what production runs, and this starts one that belongs to the stack alone: its own
data directory, its own socket directory, a free loopback port, a password generated per install.

PostgreSQL refuses to run as root. When the stack runs as root, the server runs as Debian's
``postgres`` user, and since that user may not be able to reach the stack's home (a 0700 temp
directory, say), the data directory is then a ``postgres``-owned directory under ``/var/tmp``
whose path is remembered in ``<home>/postgres.path``. Otherwise it is ``<home>/postgres``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devstack.stack_home import StackHome, write_private

PG_VERSION = "15"
DB_NAME = "airflow"
DB_USER = "airflow"
RUN_AS = "postgres"  # Debian's postgresql package creates this user


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be installed or started; the message says which step failed."""


def pg_bin() -> Path:
    """Debian's PostgreSQL binaries (installs ``postgresql-15`` from apt when missing)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/{PG_VERSION}/bin/initdb")) or sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb")
    )
    if not found:
        _apt_install(f"postgresql-{PG_VERSION}")
        found = sorted(glob.glob(f"/usr/lib/postgresql/{PG_VERSION}/bin/initdb"))
    if not found:
        raise PostgresUnavailable(f"no initdb after installing postgresql-{PG_VERSION}")
    return Path(found[-1]).parent


def _apt_install(package: str) -> None:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["update"], ["install", "-y", "--no-install-recommends", package]):
        result = subprocess.run(
            [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=300", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"apt-get {' '.join(args)} failed: {result.stderr[-1000:]}")


@dataclass
class PostgresServer:
    """A running server of the stack: how Airflow reaches it, and how to stop it."""

    data_dir: Path
    port: int
    password: str
    bin_dir: Path
    log_file: Path

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    def stop(self) -> None:
        _run_as_owner(
            [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"],
            check=False,
        )


def _as_root() -> bool:
    return os.geteuid() == 0


def _run_as_owner(args: list[str], *, check: bool = True, env: dict[str, str] | None = None) -> str:
    """Run a PostgreSQL tool as the user the server runs as (``postgres`` when we are root)."""
    cmd = ["runuser", "-u", RUN_AS, "--", *args] if _as_root() else args
    result = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd="/"
    )
    if check and result.returncode != 0:
        raise PostgresUnavailable(f"{Path(args[0]).name} failed (exit {result.returncode}): {result.stderr[-1500:]}")
    return result.stdout


def data_dir_for(home: StackHome) -> Path:
    """Where this install's cluster lives (created on first use; see the module docstring)."""
    if not _as_root():
        return home.root / "postgres"
    pointer = home.root / "postgres.path"
    if pointer.exists():
        return Path(pointer.read_text().strip())
    owner = pwd.getpwnam(RUN_AS)
    base = Path(tempfile.mkdtemp(prefix="asp-stack-postgres-", dir="/var/tmp"))
    os.chown(base, owner.pw_uid, owner.pw_gid)
    os.chmod(base, 0o700)
    pointer.write_text(f"{base / 'data'}\n")
    return base / "data"


def remove_data(home: StackHome) -> None:
    """Delete the install's PostgreSQL cluster (the stack must be stopped)."""
    data = data_dir_for(home)
    shutil.rmtree(data.parent if _as_root() else data, ignore_errors=True)
    (home.root / "postgres.path").unlink(missing_ok=True)


def start_postgres(home: StackHome, password: str, port: int) -> PostgresServer:
    """Initialise (first time) and start the stack's cluster on 127.0.0.1:``port``; create the DB."""
    bin_dir = pg_bin()
    data = data_dir_for(home)
    log_file = home.service_log("postgres")
    server = PostgresServer(data_dir=data, port=port, password=password, bin_dir=bin_dir, log_file=log_file)
    if not (data / "PG_VERSION").exists():
        _initdb(server)
    # The server's log goes next to its data (owned by the server's user), copied on stop is not needed:
    # it holds no secret values, only connection and checkpoint messages.
    _run_as_owner(
        [
            str(bin_dir / "pg_ctl"),
            "start",
            "-D",
            str(data),
            "-w",
            "-t",
            "120",
            "-l",
            str(data.parent / "postgres.log") if _as_root() else str(log_file),
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {data}",
        ]
    )
    try:
        exists = _run_as_owner(
            [
                str(bin_dir / "psql"),
                "-h",
                str(data),
                "-p",
                str(port),
                "-U",
                DB_USER,
                "-d",
                "postgres",
                "-Atc",
                f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'",
            ],
        )
        if exists.strip() != "1":
            _run_as_owner([str(bin_dir / "createdb"), "-h", str(data), "-p", str(port), "-U", DB_USER, DB_NAME])
    except BaseException:
        server.stop()
        raise
    return server


def _initdb(server: PostgresServer) -> None:
    """``initdb`` with a superuser ``airflow``: password over TCP, peer/trust on the private socket."""
    data = server.data_dir
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    pwfile = data.parent / ".pwfile"
    write_private(pwfile, server.password + "\n")
    if _as_root():
        owner = pwd.getpwnam(RUN_AS)
        for path in (data, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    try:
        _run_as_owner(
            [
                str(server.bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",  # the socket lives in the 0700 data directory
                "--encoding=UTF8",
                "--no-instructions",
            ]
        )
    finally:
        pwfile.unlink(missing_ok=True)
