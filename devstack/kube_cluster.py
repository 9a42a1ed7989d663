"""A real Kubernetes for tests and the quickstart: a local single node, or ``KUBECONFIG``'s cluster.

Why: our code talks to Kubernetes through the real ``kubernetes`` client, and the behaviour we
depend on (RBAC 403s, ``Status`` errors, ownerReferences garbage collection, server-side
validation, a kubelet resolving Secret references and streaming logs) only exists in real
components. No package ships them and no image registry is reachable, so ``scripts/kube-node.sh``
builds kube-apiserver, kube-controller-manager, kube-scheduler and kubelet from Debian's
``kubernetes`` source package once per machine (cached), and runs them with etcd and a Docker
engine on loopback; pods run from local images (``scripts/node-images.sh``).
See ``/work/shared/notes/kube-apiserver.md`` and ``real-pods.md``.

The API other code uses:

* :func:`start_local_cluster` ``(workdir, *, node=True)`` -> :class:`KubeCluster`; ``node=False``
  starts the control plane only (no kubelet: pods stay Pending unless the kubelet stand-in
  serves them).
* :class:`KubeCluster`: ``kubeconfig`` (admin), ``server``, ``job_image`` (the image example and
  test pods should run, with ``image_pull_policy``), ``has_node``, ``node_name``, ``docker_host``
  and ``docker_cli`` (the node's engine), ``api_client()``, ``stop()``.
* :func:`cluster_from_kubeconfig_env` for a cluster ``KUBECONFIG`` names, and
  :func:`create_namespace` for a fresh namespace that admits pods.

If ``KUBECONFIG`` points at a reachable cluster (kind, k3s, ...), callers may use that cluster
instead; then no ordinary-user tokens are known and RBAC tests cannot run, and pods run
``ASP_JOB_IMAGE`` (default ``python:3.12-slim``).
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
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes.client
import kubernetes.config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "kube-node.sh"
#: The image pods run on a cluster we did not start (it can pull from a registry).
DEFAULT_JOB_IMAGE = "python:3.12-slim"

#: A cold build takes ~10 minutes on 2 cores; leave generous headroom for slower CI machines.
BUILD_TIMEOUT_S = 45 * 60
#: A node's first start also builds its Debian rootfs (about a minute) and imports it.
START_TIMEOUT_S = 15 * 60
STOP_TIMEOUT_S = 180


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
    #: The node pods run on (None: a control plane without kubelet, or a cluster not ours).
    node_name: str | None = None
    #: The image pods should run: Debian with Python 3 and coreutils, imported locally for our
    #: node; ``ASP_JOB_IMAGE`` or ``python:3.12-slim`` for a ``KUBECONFIG`` cluster; None for a
    #: control plane without a node.
    job_image: str | None = None
    #: ``IfNotPresent`` works for both: the local image is never pulled, a public one is.
    image_pull_policy: str = "IfNotPresent"
    #: ``unix://`` address of our node's Docker engine, and its client (None when not ours).
    docker_host: str | None = None
    docker_cli: str | None = None

    @property
    def has_node(self) -> bool:
        """Whether pods run here: our node, or a ``KUBECONFIG`` cluster (assumed to have nodes)."""
        return self.node_name is not None or self.kubeconfig_env is not None

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
        """Stop the cluster if we started it (processes, containers, mounts, its workdir).

        A ``KUBECONFIG`` cluster is left alone.
        """
        if self.workdir is None:
            return
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(self.workdir)],
            check=False,
            timeout=STOP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )


def _run_script(args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run the helper script, echoing its progress to stderr; return stdout.

    Progress is streamed rather than captured because a cold build runs for ~10 minutes and
    someone watching ``pytest -s`` should see why. The last lines go into the exception.
    """
    if sys.platform != "linux" or shutil.which("bash") is None:
        raise ClusterUnavailable("a local Kubernetes node needs Linux with bash")
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
        raise ClusterUnavailable(f"scripts/kube-node.sh {args[0]} timed out") from exc
    if rc != 0:
        details = "\n".join(tail)
        raise ClusterUnavailable(f"scripts/kube-node.sh {args[0]} failed (exit {rc}):\n{details}")
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


def build_binaries() -> Path:
    """Build (or find cached) the Kubernetes binaries; return their directory."""
    return Path(_run_script(["build"], timeout=BUILD_TIMEOUT_S).strip().splitlines()[-1])


def start_local_cluster(workdir: Path, *, node: bool = True) -> KubeCluster:
    """Build (or reuse the cached) binaries and start a local cluster in ``workdir``.

    ``node=True``: etcd, kube-apiserver, kube-controller-manager, a Docker engine, kube-scheduler
    and a kubelet; returns once the node is Ready, with :attr:`KubeCluster.job_image` imported.
    ``node=False``: the control plane only. Either way the cluster is stopped automatically if
    this Python process dies without calling :meth:`KubeCluster.stop`, SIGKILL and a death
    during the start included: the script's watchdog follows our pid (``ASP_KUBE_OWNER_PID``)
    from before the first process starts; ``tests/test_kube_node_owner.py`` shows it. ``stop()``
    removes ``workdir``.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    build_binaries()
    _run_script(
        ["start", *([] if node else ["--no-node"]), str(workdir)],
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
            node_name=env.get("NODE_NAME") or None,
            job_image=env.get("JOB_IMAGE") or None,
            docker_host=env.get("DOCKER_HOST") or None,
            docker_cli=env.get("DOCKER") or None,
        )
        _check_reachable(cluster)
    except ClusterUnavailable:
        _run_script(["stop", str(workdir)], timeout=STOP_TIMEOUT_S)
        raise
    except Exception as exc:
        _run_script(["stop", str(workdir)], timeout=STOP_TIMEOUT_S)
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
        job_image=os.environ.get("ASP_JOB_IMAGE") or DEFAULT_JOB_IMAGE,
    )
    try:
        _check_reachable(cluster)
    except Exception as exc:  # unreachable for whatever reason: fall back to local
        warnings.warn(f"cluster in KUBECONFIG={raw} is unreachable ({exc}); ignoring it", stacklevel=2)
        return None
    return cluster


def create_namespace(api_client: ApiClient, prefix: str, *, timeout: float = 60) -> str:
    """Create a namespace with a random suffix and return its name once it admits pods.

    A fresh namespace per test keeps tests independent, and matters here because a deleted
    namespace can stay Terminating for a while. With the ServiceAccount admission plugin on (as
    on any real cluster), a pod is rejected until the namespace's ``default`` account (and, before
    Kubernetes 1.24, its token Secret) exists, so this waits for a dry-run pod to be admitted.
    """
    base = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:50] or "test"
    name = f"{base}-{secrets.token_hex(4)}"
    body = kubernetes.client.V1Namespace(
        metadata=kubernetes.client.V1ObjectMeta(name=name, labels={"airflow-secrets-provider/test": "true"})
    )
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespace(body)
    wait_until_pods_admitted(core, name, timeout=timeout)
    return name


def wait_until_pods_admitted(core: kubernetes.client.CoreV1Api, namespace: str, *, timeout: float = 60) -> None:
    """Wait until the API server admits a pod in ``namespace`` (checked by a dry-run create)."""
    probe = kubernetes.client.V1Pod(
        metadata=kubernetes.client.V1ObjectMeta(name="admission-probe"),
        spec=kubernetes.client.V1PodSpec(containers=[kubernetes.client.V1Container(name="probe", image="probe")]),
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.create_namespaced_pod(namespace, probe, dry_run="All")
            return
        except ApiException as exc:
            # 403 "error looking up service account ..." or 500 "No API token found for service
            # account ..., retry after the token is automatically created": not yet.
            waiting = exc.status in (403, 500) and "service account" in str(exc.body)
            if not waiting or time.monotonic() >= deadline:
                raise
        time.sleep(0.2)
