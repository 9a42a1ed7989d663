"""Local stand-ins for the public images docker-compose.yml uses, built without any registry.

Why: no image registry is reachable where the tests run, yet the compose test must bring the
real compose file up. The Airflow and PostgreSQL images are replaced by TEST DOUBLES built here:

* a Debian rootfs (``scripts/rootfs.sh``, debootstrap, cached) imported as a base image;
* ``asp-standin/airflow``: that base plus a venv with Airflow, the providers the official image
  ships that the stack needs (FAB auth manager, PostgreSQL) and this provider's dependencies,
  installed from a **wheelhouse the host fills** (``pip wheel``; containers reach no index),
  laid out like the official image (``devstack/standin/airflow.Dockerfile``);
* ``asp-standin/postgres``: the same base with Debian's PostgreSQL 15 and an entrypoint that
  honours the official image's ``POSTGRES_*`` variables.

Each piece is cached under ``~/.cache/airflow-secrets-provider`` keyed by its inputs: the rootfs
tarball by its package list (rootfs.sh), the wheelhouse by its requirement list and Python, and
the two images (as one ``docker save`` tarball) by the rootfs, the wheelhouse and the stand-in
files. A warm run only loads that tarball into the test's private engine.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STANDIN_DIR = Path(__file__).resolve().parent / "standin"

#: The Airflow version of the stand-in; ./Dockerfile's default base image has the same one
#: (tests/test_compose.py checks that they agree).
AIRFLOW_VERSION = "3.3.2"


def _provider_dependencies() -> tuple[str, ...]:
    """This provider's runtime requirements, read from pyproject.toml (so they never drift)."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tuple(tomllib.load(handle)["project"]["dependencies"])


#: What the stand-in's venv holds: Airflow as the official image pins it, the providers of the
#: official image that the stack uses, this provider's own dependencies (from pyproject.toml),
#: and the build tools ./Dockerfile needs to install this provider with ``--no-build-isolation``.
STANDIN_REQUIREMENTS: tuple[str, ...] = (
    f"apache-airflow=={AIRFLOW_VERSION}",
    "apache-airflow-providers-fab",
    "apache-airflow-providers-postgres",
    "psycopg2-binary",
    *_provider_dependencies(),
    "setuptools>=77",
    "wheel",
)

#: Debian packages of the shared rootfs (both stand-ins start from it, so it is imported once).
ROOTFS_NAME = "compose-base"
ROOTFS_PACKAGES = "python3,python3-venv,ca-certificates,curl,dumb-init,postgresql-15"

BUILD_TIMEOUT_S = 30 * 60


class ImageBuildError(RuntimeError):
    """A stand-in image could not be built; the message says which step and why."""


def cache_root() -> Path:
    """The project's machine-wide cache (the same root scripts/rootfs.sh uses)."""
    configured = os.environ.get("ASP_KUBE_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "airflow-secrets-provider"


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _run(args: list[str], *, what: str, env: dict[str, str] | None = None, timeout: float = BUILD_TIMEOUT_S) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


@dataclass
class Timings:
    """Seconds spent per step, for the durations docs/development.md reports."""

    steps: dict[str, float] = field(default_factory=dict)

    def measure(self, name: str, started: float) -> None:
        self.steps[name] = round(time.monotonic() - started, 1)


def wheelhouse(timings: Timings | None = None, *, python: str = sys.executable) -> Path:
    """Wheels for :data:`STANDIN_REQUIREMENTS`, resolved and downloaded by the host's pip.

    Cached by the requirement list and the Python version/platform (the images' Python is
    Debian's 3.11, the host's too: checked by the caller's build, which installs with
    ``--no-index``). The directory holds ``requirements.txt`` for the image's install.
    """
    key = _digest("\n".join(STANDIN_REQUIREMENTS), platform.python_version(), platform.machine(), "wheelhouse-1")
    target = cache_root() / "wheelhouse" / key
    if (target / "requirements.txt").exists():
        return target
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key}-"))
    try:
        _run(
            [python, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(work), *STANDIN_REQUIREMENTS],
            what="pip wheel (stand-in wheelhouse)",
        )
        (work / "requirements.txt").write_text("\n".join(STANDIN_REQUIREMENTS) + "\n", encoding="utf-8")
        try:
            os.replace(work, target)
        except OSError:
            if not (target / "requirements.txt").exists():  # else: a concurrent run made it first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in target.parent.iterdir():  # one generation is enough (~85 MB each)
        if old.is_dir() and not old.name.startswith(".") and old.name != key:
            shutil.rmtree(old, ignore_errors=True)
    if timings is not None:
        timings.measure("wheelhouse", started)
    return target


def rootfs_tarball(timings: Timings | None = None) -> Path:
    """The Debian rootfs tarball both stand-ins start from (scripts/rootfs.sh, cached)."""
    started = time.monotonic()
    out = _run(
        ["bash", str(REPO_ROOT / "scripts" / "rootfs.sh"), "build", ROOTFS_NAME, ROOTFS_PACKAGES],
        what="scripts/rootfs.sh build",
    )
    if timings is not None:
        timings.measure("rootfs", started)
    return Path(out.strip().splitlines()[-1])


@dataclass(frozen=True)
class StandinImages:
    """Tags of the stand-in images inside one Docker engine."""

    airflow: str
    postgres: str


class Docker:
    """The ``docker`` CLI (Debian's docker.io client) bound to one engine's socket."""

    def __init__(self, docker: str, docker_host: str) -> None:
        self.docker = docker
        self.env = {**os.environ, "DOCKER_HOST": docker_host}

    def run(self, *args: str, what: str, timeout: float = BUILD_TIMEOUT_S) -> str:
        return _run([self.docker, *args], what=what, env=self.env, timeout=timeout)

    def has_image(self, ref: str) -> bool:
        result = subprocess.run(
            [self.docker, "image", "inspect", ref],
            capture_output=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )
        return result.returncode == 0


def _standin_files_digest() -> str:
    return _digest(*(p.name.encode() + p.read_bytes() for p in sorted(STANDIN_DIR.iterdir()) if p.is_file()))


def ensure_standin_images(docker: Docker, timings: Timings | None = None) -> StandinImages:
    """Make the stand-in images available in ``docker``'s engine: loaded from cache or built.

    A cold build imports the rootfs, builds both images, and saves them to the cache as one
    tarball (their shared base layer stored once); a warm call only ``docker load``s it.
    """
    timings = timings if timings is not None else Timings()
    wheels = wheelhouse(timings)
    rootfs = rootfs_tarball(timings)
    key = _digest(rootfs.name, wheels.name, _standin_files_digest(), AIRFLOW_VERSION)
    images = StandinImages(airflow=f"asp-standin/airflow:{key}", postgres=f"asp-standin/postgres:{key}")
    if docker.has_image(images.airflow) and docker.has_image(images.postgres):
        return images

    saved = cache_root() / "images" / f"standin-{key}.tar"
    if saved.exists():
        started = time.monotonic()
        docker.run("load", "--quiet", "--input", str(saved), what="docker load (stand-in images)")
        timings.measure("image load", started)
        return images

    base = f"asp-standin/debian:{rootfs.stem}"
    started = time.monotonic()
    if not docker.has_image(base):
        docker.run("import", str(rootfs), base, what="docker import (rootfs)")
    timings.measure("rootfs import", started)

    with tempfile.TemporaryDirectory(prefix="asp-standin-ctx-") as tmp:
        context = Path(tmp)
        for item in STANDIN_DIR.iterdir():
            if item.is_file():
                shutil.copy2(item, context / item.name)
        _link_tree(wheels, context / "wheelhouse")
        started = time.monotonic()
        docker.run(
            "build",
            "--file",
            str(context / "airflow.Dockerfile"),
            "--build-arg",
            f"DEBIAN_IMAGE={base}",
            "--build-arg",
            f"AIRFLOW_VERSION={AIRFLOW_VERSION}",
            "--tag",
            images.airflow,
            str(context),
            what="docker build (Airflow stand-in)",
        )
        timings.measure("airflow stand-in build", started)
        started = time.monotonic()
        docker.run(
            "build",
            "--file",
            str(context / "postgres.Dockerfile"),
            "--build-arg",
            f"DEBIAN_IMAGE={base}",
            "--tag",
            images.postgres,
            str(context),
            what="docker build (PostgreSQL stand-in)",
        )
        timings.measure("postgres stand-in build", started)

    started = time.monotonic()
    saved.parent.mkdir(parents=True, exist_ok=True)
    partial = saved.with_name(f".{saved.name}.{os.getpid()}.partial")
    docker.run("save", "--output", str(partial), images.airflow, images.postgres, what="docker save")
    os.replace(partial, saved)
    for old in saved.parent.glob("standin-*.tar"):  # one generation is enough; they are ~1 GB
        if old != saved:
            old.unlink(missing_ok=True)
    timings.measure("image save", started)
    return images


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link (or copy, across file systems) ``source``'s files into ``target``."""
    target.mkdir()
    for item in source.iterdir():
        try:
            os.link(item, target / item.name)
        except OSError:
            shutil.copy2(item, target / item.name)


def main(argv: list[str] | None = None) -> int:
    """``python -m devstack.images``: put the stand-ins into the engine ``DOCKER_HOST`` names.

    For running docker-compose.yml where no registry is reachable: prints the variables that
    point the compose file at them (append them to ``.env``).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devstack.images", description=main.__doc__)
    parser.add_argument("--docker", default=shutil.which("docker") or "docker", help="docker CLI to use")
    args = parser.parse_args(argv)
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    timings = Timings()
    try:
        images = ensure_standin_images(Docker(args.docker, host), timings)
    except ImageBuildError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    print(f"# stand-in images in {host} ({timings.steps})", file=sys.stderr)
    print(f"AIRFLOW_BASE_IMAGE={images.airflow}")
    print(f"POSTGRES_IMAGE={images.postgres}")
    print("PIP_INSTALL_ARGS=--no-index --no-build-isolation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
