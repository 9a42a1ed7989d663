"""First runs are code paths too: the branches only a fresh machine takes, forced here.

A developer's machine and CI already have every Debian package, a warm build cache and a
``.venv``, so the install branches of the scripts never run there. Each test below builds the
fresh machine's situation instead: a ``PATH`` on which the tools the script would install are
missing, stand-ins for ``apt-get`` (and ``apt-cache``, ``python3``, ``pip``) that print to stdout
the way the real ones do, and an empty cache directory. The stand-ins record how they were
called, so each test also shows that the branch did what a real install needs.

The promise under test: scripts whose stdout is data (``rootfs.sh build|key``,
``kube-node.sh build|path``) print only that data, whatever they install on the way. Before the
fix, ``apt_install`` let apt's output through to stdout, and ``node-images.sh`` failed with
"scripts/rootfs.sh printed no tarball" on every machine that lacked ``debootstrap``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
SYSTEM_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

APT_NOISE = "Reading package lists... Done\nBuilding dependency tree... Done\n"

# A stand-in apt-get: prints what apt prints (to stdout, as apt does), fails the first install
# until `update` has run (a fresh machine's stale or missing lists), and "installs" a package by
# copying its stand-in program from $STANDIN_PACKAGES/<package> into $STANDIN_INSTALL_DIR.
STANDIN_APT_GET = r"""#!/bin/bash
printf '%s\n' "$*" >>"$STANDIN_LOG"
printf 'Reading package lists... Done\nBuilding dependency tree... Done\n'
args=()
for a in "$@"; do case $a in -o|-y|--no-install-recommends) ;; DPkg::*) ;; *) args+=("$a") ;; esac; done
case ${args[0]} in
update) touch "$STANDIN_STATE/updated"; printf 'Hit:1 http://deb.example bookworm InRelease\n' ;;
install)
    if [ ! -e "$STANDIN_STATE/updated" ]; then
        printf 'E: Unable to locate package %s\n' "${args[1]}"
        exit 100
    fi
    for pkg in "${args[@]:1}"; do
        printf 'Setting up %s ...\n' "$pkg"
        for prog in "$STANDIN_PACKAGES/$pkg"/*; do
            if [ -e "$prog" ]; then install -m 0755 "$prog" "$STANDIN_INSTALL_DIR/"; fi
        done
    done ;;
*) exit 1 ;;
esac
"""

# A stand-in debootstrap: makes the root filesystem debootstrap would, in miniature.
STANDIN_DEBOOTSTRAP = r"""#!/bin/bash
printf 'I: Retrieving InRelease\n'
target=${@: -2:1}
mkdir -p "$target/etc" "$target/var/lib/apt/lists"
printf 'stand-in rootfs\n' >"$target/etc/debian_version"
"""


def path_without(tmp_path: Path, missing: set[str]) -> str:
    """A PATH holding every system program except ``missing``: the fresh machine's PATH.

    Programs live side by side in /usr/bin, so leaving one out takes a directory of links to all
    the others rather than a PATH edit.
    """
    farm = tmp_path / "system-bin"
    farm.mkdir()
    for directory in SYSTEM_BIN_DIRS:
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = farm / entry.name
            if entry.name in missing or target.exists() or target.is_symlink():
                continue
            if os.access(entry.path, os.X_OK) and not entry.is_dir():
                target.symlink_to(entry.path)
    return str(farm)


class FreshMachine:
    """Stand-ins and state for one test's fresh machine."""

    def __init__(self, tmp_path: Path, missing: set[str]) -> None:
        self.standins = tmp_path / "standins"  # first on PATH: apt-get and friends
        self.installed = tmp_path / "installed"  # where the stand-in apt-get "installs" to
        self.packages = tmp_path / "packages"  # package name -> the programs it provides
        self.state = tmp_path / "apt-state"
        self.log = tmp_path / "apt-get.log"
        self.cache = tmp_path / "cache"  # empty: a machine that never built anything
        for directory in (self.standins, self.installed, self.packages, self.state):
            directory.mkdir()
        self.log.touch()
        self.add_program(self.standins, "apt-get", STANDIN_APT_GET)
        self.system_path = path_without(tmp_path, missing | {"apt-get"})

    @staticmethod
    def add_program(directory: Path, name: str, text: str) -> None:
        program = directory / name
        program.write_text(text)
        program.chmod(0o755)

    def provide(self, package: str, program: str, text: str) -> None:
        """``apt-get install package`` puts ``program`` on PATH."""
        directory = self.packages / package
        directory.mkdir(exist_ok=True)
        self.add_program(directory, program, text)

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.standins}:{self.installed}:{self.system_path}",
            "HOME": os.environ.get("HOME", "/root"),
            "STANDIN_LOG": str(self.log),
            "STANDIN_STATE": str(self.state),
            "STANDIN_PACKAGES": str(self.packages),
            "STANDIN_INSTALL_DIR": str(self.installed),
            "ASP_KUBE_CACHE": str(self.cache),
            "LC_ALL": "C",
        }
        env.update(extra)
        return env

    def apt_calls(self) -> list[str]:
        return self.log.read_text().splitlines()


def run(command: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the scripts' as_root runs apt-get through sudo when not root; stand-ins need root")


@pytest.mark.usefixtures("as_root")
def test_rootfs_build_installs_debootstrap_and_prints_only_the_tarball(tmp_path: Path) -> None:
    machine = FreshMachine(tmp_path, missing={"debootstrap"})
    machine.provide("debootstrap", "debootstrap", STANDIN_DEBOOTSTRAP)
    env = machine.env(ASP_DEBIAN_SUITE="bookworm", ASP_DEBIAN_MIRROR="http://deb.example/debian")

    result = run(["bash", str(SCRIPTS / "rootfs.sh"), "build", "firstrun", "python3"], env)

    assert result.returncode == 0, result.stderr
    # The whole stdout is the one path, with none of apt's lines before it.
    tarball = Path(result.stdout.removesuffix("\n"))
    assert result.stdout == f"{tarball}\n"
    assert tarball.parent == machine.cache / "rootfs" and tarball.is_file()
    with tarfile.open(tarball) as archive:
        assert "./etc/debian_version" in archive.getnames()
    # The fresh machine's path was taken: install failed on stale lists, update, install again.
    calls = machine.apt_calls()
    assert [c.split()[-1] for c in calls if "install" in c] == ["debootstrap", "debootstrap"]
    assert any(c.endswith("update") for c in calls)
    # apt's output still reaches the user, on stderr.
    assert "Setting up debootstrap" in result.stderr and "Setting up" not in result.stdout


@pytest.mark.usefixtures("as_root")
def test_node_images_gets_the_tarball_on_a_machine_without_debootstrap(tmp_path: Path) -> None:
    """The caller that failed on a fresh machine: node-images.sh captures rootfs.sh's stdout."""
    machine = FreshMachine(tmp_path, missing={"debootstrap", "docker"})
    machine.provide("debootstrap", "debootstrap", STANDIN_DEBOOTSTRAP)
    imports = tmp_path / "docker-imports.log"
    # The engine's client, standing in: no image is present, and every import is recorded.
    fake_docker = tmp_path / "docker"
    fake_docker.write_text(
        f'#!/bin/bash\ncase $1 in image) exit 1 ;; import) printf "%s\\n" "$*" >>{imports}; echo sha256:0 ;; esac\n'
    )
    fake_docker.chmod(0o755)
    docker_env = tmp_path / "docker.env"
    docker_env.write_text(f"DOCKER_HOST=unix://{tmp_path}/docker.sock\nDOCKER={fake_docker}\n")
    env = machine.env(ASP_DEBIAN_SUITE="bookworm", ASP_DEBIAN_MIRROR="http://deb.example/debian")

    result = run(["bash", str(SCRIPTS / "node-images.sh"), str(docker_env)], env)

    assert result.returncode == 0, result.stderr
    assignments = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(assignments) == {"PAUSE_IMAGE", "JOB_IMAGE"}
    imported = imports.read_text()
    assert str(machine.cache / "rootfs") in imported and assignments["JOB_IMAGE"] in imported


def _kube_recipe() -> str:
    """The recipe line kube-node.sh writes next to a build (version + the patches' digest)."""
    script = (SCRIPTS / "kube-node.sh").read_text()
    version = re.search(r"^readonly RECIPE_VERSION=(\d+)", script, re.MULTILINE)
    assert version, "kube-node.sh no longer declares RECIPE_VERSION"
    patches = b"".join(p.read_bytes() for p in sorted((SCRIPTS / "patches" / "kubernetes").glob("*.patch")))
    return f"{version.group(1)} {hashlib.sha256(patches).hexdigest()[:16]}"


@pytest.mark.usefixtures("as_root")
def test_kube_node_build_installs_missing_tools_and_prints_only_the_bin_dir(tmp_path: Path) -> None:
    """``build`` on a machine without etcd, go, dpkg-dev...: apt's output stays off stdout.

    The binaries themselves are already in the (temporary) cache, so the test pays no Go build;
    the branch under test is the install in front of the cache lookup.
    """
    build_tools = {"etcd", "go", "dpkg-source", "patch", "openssl", "curl"}
    machine = FreshMachine(tmp_path, missing=build_tools | {"apt-cache"})
    for package, program in {
        "etcd-server": "etcd",
        "golang-go": "go",
        "dpkg-dev": "dpkg-source",
        "patch": "patch",
        "openssl": "openssl",
        "curl": "curl",
    }.items():
        machine.provide(package, program, "#!/bin/sh\nexit 0\n")
    version = "1.20.5+really1.20.2-1.1"
    machine.add_program(
        machine.standins, "apt-cache", f"#!/bin/sh\nprintf 'Package: kubernetes\\nVersion: {version}\\n'\n"
    )
    bin_dir = machine.cache / f"kubernetes-{version}" / "bin"
    bin_dir.mkdir(parents=True)
    for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"):
        machine.add_program(bin_dir, binary, "#!/bin/sh\n")
    (bin_dir.parent / "recipe").write_text(_kube_recipe() + "\n")

    build = run(["bash", str(SCRIPTS / "kube-node.sh"), "build"], machine.env())

    assert build.returncode == 0, build.stderr
    assert build.stdout == f"{bin_dir}\n"
    installed = [c for c in machine.apt_calls() if " install " in f" {c} "]
    assert installed, "the missing build tools were not installed"
    assert {"etcd-server", "golang-go", "dpkg-dev"} <= set(installed[-1].split())
    for program in ("etcd", "go", "dpkg-source"):
        assert (machine.installed / program).exists()

    # `path` on the same machine: the bin dir alone, nothing installed again.
    calls_before = len(machine.apt_calls())
    path = run(["bash", str(SCRIPTS / "kube-node.sh"), "path"], machine.env())
    assert path.returncode == 0, path.stderr
    assert path.stdout == f"{bin_dir}\n"
    assert len(machine.apt_calls()) == calls_before


# A stand-in interpreter for setup.sh: a Python without ensurepip (Debian's python3 without
# python3-venv) until the stand-in apt-get installs python3-venv, whose `-m venv DIR` makes a venv
# with a stand-in pip that records what it was asked to install.
STANDIN_PYTHON = r"""#!/bin/bash
case "$*" in
*'import sys; sys.exit'*) exit 0 ;;
*'import ensurepip'*) [ -e "$STANDIN_INSTALL_DIR/ensurepip" ] ;;
'-m venv '*)
    dir=$3
    mkdir -p "$dir/bin"
    printf 'export PATH="%s/bin:$PATH"\n' "$(cd "$dir" && pwd)" >"$dir/bin/activate"
    cat >"$dir/bin/pip" <<'PIP'
#!/bin/bash
printf '%s\n' "$*" >>"$STANDIN_PIP_LOG"
case $1 in show) exit 1 ;; esac
PIP
    chmod +x "$dir/bin/pip" ;;
*) exit 2 ;;
esac
"""


@pytest.mark.usefixtures("as_root")
def test_setup_creates_the_venv_on_a_machine_without_python3_venv(tmp_path: Path) -> None:
    machine = FreshMachine(tmp_path, missing=set())
    machine.provide("python3-venv", "ensurepip", "#!/bin/sh\n")
    python = tmp_path / "python3"
    python.write_text(STANDIN_PYTHON)
    python.chmod(0o755)
    checkout = tmp_path / "checkout"  # a clean clone: no .venv
    (checkout / "scripts").mkdir(parents=True)
    for name in ("setup.sh", "lib.sh"):
        shutil.copy(SCRIPTS / name, checkout / "scripts" / name)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'stand-in'\n")
    pip_log = tmp_path / "pip.log"
    env = machine.env(PYTHON=str(python), STANDIN_PIP_LOG=str(pip_log))

    first = run(["bash", "scripts/setup.sh"], env, cwd=checkout)

    assert first.returncode == 0, first.stderr
    assert any(c.split()[-1] == "python3-venv" for c in machine.apt_calls() if "install" in c)
    assert (checkout / ".venv" / "bin" / "activate").is_file()
    assert (checkout / ".venv" / ".installed").is_file()
    assert "install --quiet -e .[dev]" in pip_log.read_text()

    # A second run finds everything in place: no apt, no pip install.
    pip_log.write_text("")
    (checkout / ".venv" / "bin" / "pip").write_text(
        '#!/bin/bash\nprintf "%s\\n" "$*" >>"$STANDIN_PIP_LOG"\ncase $1 in show) exit 0 ;; esac\n'
    )
    calls_before = len(machine.apt_calls())
    os.utime(checkout / ".venv" / ".installed")  # newer than pyproject.toml
    second = run(["bash", "scripts/setup.sh"], env, cwd=checkout)
    assert second.returncode == 0, second.stderr
    assert len(machine.apt_calls()) == calls_before
    assert "install" not in pip_log.read_text().replace("show", "")
