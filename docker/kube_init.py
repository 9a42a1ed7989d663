"""One-shot set-up of the compose stack's Kubernetes (the ``kube-init`` service).

Why a separate step: k3s writes an admin kubeconfig whose server is ``https://127.0.0.1:6443``,
which only works inside the k3s container, and the example DAG needs a namespace, a project
Secret and a few externally managed Secrets before its first run. This script, run in the
Airflow image after k3s is healthy:

1. copies ``KUBE_INIT_SOURCE`` to ``KUBE_INIT_TARGET`` with every cluster's server set to
   ``KUBE_INIT_SERVER`` (how the other containers reach the API server), readable by
   ``KUBE_INIT_OWNER`` (uid:gid) only;
2. creates namespace ``KUBE_INIT_NAMESPACE`` unless it exists;
3. sets the keys of project ``KUBE_INIT_PROJECT``'s Secret from every ``ASP_PROJECT_SECRET_<KEY>``
   environment variable (compose passes ``.env`` in), through the provider's own
   ``ProjectSecretsStore``;
4. creates the externally managed Secrets ``dags/example_secrets.py`` references, with random
   values, unless they exist.

It is safe to run again (``docker compose up`` does on every start): existing objects are kept,
project keys are overwritten with the values in ``.env``. Output names objects and keys, never a
value.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import yaml
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.kube.projects import ProjectSecretsStore

PROJECT_PREFIX = "ASP_PROJECT_SECRET_"

#: Externally managed Secrets of dags/example_secrets.py: name -> keys (random values).
EXAMPLE_EXTERNAL_SECRETS: dict[str, tuple[str, ...]] = {
    "clearml": ("access",),
    "dev-secret": ("secret1",),
    "tls-certs": ("tls.crt",),
}

WAIT_SECONDS = 120


def log(message: str) -> None:
    print(f"kube-init: {message}", flush=True)


def rewrite_kubeconfig(source: Path, target: Path, server: str, owner: str) -> None:
    """Write ``source`` to ``target`` with every cluster's server replaced, atomically."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not source.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"kube-init: {source} did not appear within {WAIT_SECONDS} s")
        time.sleep(1)
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    for cluster in config.get("clusters") or []:
        cluster["cluster"]["server"] = server
    uid, _, gid = owner.partition(":")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".kubeconfig-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, default_flow_style=False)
        os.chmod(tmp, 0o640)
        os.chown(tmp, int(uid), int(gid or 0))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log(f"wrote {target} (server {server})")


def ensure_namespace(core: kubernetes.client.CoreV1Api, name: str) -> None:
    try:
        core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
        log(f"created namespace {name}")
    except ApiException as exc:
        if exc.status != 409:
            raise
        log(f"namespace {name} exists")


def ensure_external_secret(core: kubernetes.client.CoreV1Api, namespace: str, name: str, keys: tuple[str, ...]) -> None:
    body = kubernetes.client.V1Secret(
        metadata=kubernetes.client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/part-of": "example"}),
        string_data={key: secrets.token_urlsafe(24) for key in keys},
    )
    try:
        core.create_namespaced_secret(namespace, body)
        log(f"created Secret {namespace}/{name} (keys {', '.join(keys)})")
    except ApiException as exc:
        if exc.status != 409:
            raise
        log(f"Secret {namespace}/{name} exists")


def project_values(environ: dict[str, str]) -> dict[str, str]:
    return {name[len(PROJECT_PREFIX) :]: value for name, value in environ.items() if name.startswith(PROJECT_PREFIX)}


def main() -> int:
    env = dict(os.environ)
    target = Path(env.get("KUBE_INIT_TARGET", "/opt/airflow/kube/kubeconfig.yaml"))
    rewrite_kubeconfig(
        Path(env.get("KUBE_INIT_SOURCE", "/opt/airflow/kube/k3s.yaml")),
        target,
        env.get("KUBE_INIT_SERVER", "https://k3s:6443"),
        env.get("KUBE_INIT_OWNER", "50000:0"),
    )
    namespace = env.get("KUBE_INIT_NAMESPACE", "ml")
    project = env.get("KUBE_INIT_PROJECT", "fraud")
    client = kubernetes.config.new_client_from_config(config_file=str(target))
    with client:
        core = kubernetes.client.CoreV1Api(client)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:  # k3s answers /readyz a moment before it accepts writes
            try:
                ensure_namespace(core, namespace)
                break
            except (ApiException, OSError) as exc:
                if time.monotonic() > deadline:
                    raise
                log(f"API server not ready ({type(exc).__name__}); retrying")
                time.sleep(2)
        values = project_values(env)
        if values:
            keys = ProjectSecretsStore(core, namespace).set_secrets(project, values)
            log(f"project {project} in {namespace}: keys {', '.join(keys)}")
        else:
            log(f"no {PROJECT_PREFIX}* variables: project {project} left as it is")
        for name, keys_of in EXAMPLE_EXTERNAL_SECRETS.items():
            ensure_external_secret(core, namespace, name, keys_of)
    return 0


if __name__ == "__main__":
    sys.exit(main())
