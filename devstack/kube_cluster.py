"""A real Kubernetes API for tests: a local control plane, or the cluster ``KUBECONFIG`` names.

Why: our code talks to Kubernetes through the real ``kubernetes`` client, and the behaviour we
depend on (RBAC 403s, ``Status`` errors, ownerReferences garbage collection, server-side
validation) only exists in a real API server. No package ships one and there is no Docker, so
``scripts/kube-apiserver.sh`` builds kube-apiserver + kube-controller-manager from Debian's
``kubernetes`` source package once per machine (cached) and runs them with etcd on loopback.
See ``/work/shared/notes/kube-apiserver.md``.

If ``KUBECONFIG`` points at a reachable cluster (kind, k3s, ...), that cluster is used instead;
then no ordinary-user tokens are known and RBAC tests cannot run.
"""

from __future__ import annotations

import collections
import csv
import os
import re
import secrets
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes.client
import kubernetes.config
from kubernetes.client import ApiClient, Configuration

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "kube-apiserver.sh"

#: A cold build takes ~10 minutes on 2 cores; leave generous headroom for slower CI machines.
BUILD_TIMEOUT_S = 45 * 60
START_TIMEOUT_S = 4 * 60


class ClusterUnavailable(RuntimeError):
    """No Kubernetes API server could be provided; the message says why."""


@dataclass
class KubeCluster:
    """How to reach a Kubernetes API server, and who may talk to it.

    ``admin_token`` is empty for a ``KUBECONFIG`` cluster (its own credentials are used);
    ``user_tokens`` maps ordinary, unprivileged user names (``alice``, ``bob``, ``carol``) to
    bearer tokens, and is empty when the cluster was not started by us.
    """

    kubeconfig: Path
    server: str
    ca_file: Path | None
    admin_token: str
    user_tokens: dict[str, str] = field(default_factory=dict)
    #: Directory of a control plane started by :func:`start_local_cluster` (None: not ours).
    workdir: Path | None = None
    #: The raw ``KUBECONFIG`` value (may list several files) when the cluster came from it.
    kubeconfig_env: str | None = None

    def api_client(self, token: str | None = None) -> ApiClient:
        """Return a fresh ``ApiClient`` (admin when ``token`` is None, else that bearer token).

        Fresh per call so tests never share connection pools or mutated configuration. TLS
        settings always come from the kubeconfig, so verification stays on.
        """
        cfg = Configuration()
        kubernetes.config.load_kube_config(
            config_file=self.kubeconfig_env or str(self.kubeconfig),
            client_configuration=cfg,
            persist_config=False,
        )
        if token is not None:
            # Authenticate only with the token: drop client certificates / exec plugins.
            cfg.cert_file = None
            cfg.key_file = None
            cfg.refresh_api_key_hook = None
            cfg.username = None
            cfg.password = None
            cfg.api_key = {"authorization": f"Bearer {token}"}
            cfg.api_key_prefix = {}
        return ApiClient(cfg)

    def stop(self) -> None:
        """Stop the control plane if we started it; a ``KUBECONFIG`` cluster is left alone."""
        if self.workdir is None:
            return
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(self.workdir)],
            check=False,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )


def _run_script(args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run the helper script, echoing its progress to stderr; return stdout.

    Progress is streamed rather than captured because a cold build runs for ~10 minutes and
    someone watching ``pytest -s`` should see why. The last lines go into the exception.
    """
    if sys.platform != "linux" or shutil.which("bash") is None:
        raise ClusterUnavailable("a local kube-apiserver needs Linux with bash")
    tail: collections.deque[str] = collections.deque(maxlen=25)
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stderr is not None and proc.stdout is not None
    try:
        # The script writes almost nothing to stdout, so reading stderr first cannot deadlock.
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
        out = proc.stdout.read()
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise ClusterUnavailable(f"scripts/kube-apiserver.sh {args[0]} timed out") from exc
    if rc != 0:
        details = "\n".join(tail)
        raise ClusterUnavailable(f"scripts/kube-apiserver.sh {args[0]} failed (exit {rc}):\n{details}")
    return out


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _read_tokens(path: Path) -> tuple[str, dict[str, str]]:
    """Parse the static token file (token,user,uid[,"groups"]): (admin token, user tokens)."""
    admin = ""
    users: dict[str, str] = {}
    with path.open(newline="") as fh:
        for row in csv.reader(fh):
            if len(row) < 3:
                continue
            token, user = row[0], row[1]
            if user == "admin":
                admin = token
            else:
                users[user] = token
    if not admin:
        raise ClusterUnavailable(f"no admin token in {path}")
    return admin, users


def _check_reachable(cluster: KubeCluster) -> None:
    """Raise unless the API server answers an authenticated request."""
    with cluster.api_client() as client:
        kubernetes.client.VersionApi(client).get_code(_request_timeout=10)


def start_local_cluster(workdir: Path) -> KubeCluster:
    """Build (or reuse the cached) binaries and start etcd + apiserver + controller-manager.

    The control plane is stopped automatically if this Python process dies without calling
    :meth:`KubeCluster.stop` (the script's watchdog follows our pid).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    _run_script(["build"], timeout=BUILD_TIMEOUT_S)
    _run_script(
        ["start", str(workdir)],
        timeout=START_TIMEOUT_S,
        env={"ASP_KUBE_OWNER_PID": str(os.getpid())},
    )
    try:
        env = _read_env_file(workdir / "cluster.env")
        admin, users = _read_tokens(Path(env["TOKENS_FILE"]))
        cluster = KubeCluster(
            kubeconfig=Path(env["KUBECONFIG"]),
            server=env["SERVER"],
            ca_file=Path(env["CA_FILE"]),
            admin_token=admin,
            user_tokens=users,
            workdir=workdir,
        )
        _check_reachable(cluster)
    except ClusterUnavailable:
        _run_script(["stop", str(workdir)], timeout=120)
        raise
    except Exception as exc:
        _run_script(["stop", str(workdir)], timeout=120)
        raise ClusterUnavailable(f"local cluster started but is not usable: {exc!r}") from exc
    return cluster


def cluster_from_kubeconfig_env() -> KubeCluster | None:
    """Use the cluster ``KUBECONFIG`` points at, if it is set and the cluster answers."""
    raw = os.environ.get("KUBECONFIG", "").strip()
    if not raw:
        return None
    first = Path(raw.split(os.pathsep)[0]).expanduser()
    cfg = Configuration()
    try:
        kubernetes.config.load_kube_config(config_file=raw, client_configuration=cfg, persist_config=False)
    except Exception as exc:  # any kubeconfig problem means "not usable": fall back to local
        warnings.warn(f"KUBECONFIG={raw} is not usable ({exc}); ignoring it", stacklevel=2)
        return None
    cluster = KubeCluster(
        kubeconfig=first,
        server=cfg.host,
        ca_file=Path(cfg.ssl_ca_cert) if cfg.ssl_ca_cert else None,
        admin_token="",
        user_tokens={},
        workdir=None,
        kubeconfig_env=raw,
    )
    try:
        _check_reachable(cluster)
    except Exception as exc:  # unreachable for whatever reason: fall back to local
        warnings.warn(f"cluster in KUBECONFIG={raw} is unreachable ({exc}); ignoring it", stacklevel=2)
        return None
    return cluster


def create_namespace(api_client: ApiClient, prefix: str) -> str:
    """Create a namespace with a random suffix and return its name.

    A fresh namespace per test keeps tests independent, and matters here because a deleted
    namespace can stay Terminating for a while.
    """
    base = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:50] or "test"
    name = f"{base}-{secrets.token_hex(4)}"
    body = kubernetes.client.V1Namespace(
        metadata=kubernetes.client.V1ObjectMeta(name=name, labels={"airflow-secrets-provider/test": "true"})
    )
    kubernetes.client.CoreV1Api(api_client).create_namespace(body)
    return name
