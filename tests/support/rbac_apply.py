"""Apply what ``airflow-secrets rbac ...`` prints, as an admin would, and act as the identities it binds.

Used by the isolation, Secrets page and cleanup tests: the documents are the CLI's own output,
parsed as ``kubectl apply -f -`` would parse it; every identity is a real ServiceAccount whose
token comes from the TokenRequest API (no static token, no admin).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes.client import (
    AuthenticationV1TokenRequest,
    CoreV1Api,
    RbacAuthorizationV1Api,
    V1ObjectMeta,
    V1ServiceAccount,
    V1TokenRequestSpec,
)
from kubernetes.client.exceptions import ApiException

from devstack.kube_cluster import KubeCluster, wait_until_pods_admitted

T = TypeVar("T")


def rbac_documents(*args: str) -> list[dict[str, Any]]:
    """What ``airflow-secrets rbac ARGS`` prints, parsed as kubectl would."""
    from airflow_secrets_provider.cli import main as cli_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["rbac", *args]) == 0
    return [doc for doc in yaml.safe_load_all(out.getvalue()) if doc]


@dataclass
class Applied:
    """What :func:`apply_documents` created, to remove afterwards (namespaces take their contents)."""

    namespaces: list[str] = field(default_factory=list)
    cluster_roles: list[str] = field(default_factory=list)
    cluster_role_bindings: list[str] = field(default_factory=list)

    def remove(self, admin: CoreV1Api) -> None:
        rbac = RbacAuthorizationV1Api(admin.api_client)
        for name in self.cluster_role_bindings:
            with contextlib.suppress(ApiException):
                rbac.delete_cluster_role_binding(name)
        for name in self.cluster_roles:
            with contextlib.suppress(ApiException):
                rbac.delete_cluster_role(name)
        for name in self.namespaces:
            with contextlib.suppress(ApiException):
                admin.delete_namespace(name)


def apply_documents(admin: CoreV1Api, documents: list[dict[str, Any]], applied: Applied) -> None:
    """Create each document (and the ServiceAccounts the bindings name), recording it in ``applied``."""
    rbac = RbacAuthorizationV1Api(admin.api_client)
    for doc in documents:
        kind, meta = doc["kind"], doc["metadata"]
        if kind == "Namespace":
            if meta["name"] in applied.namespaces:
                continue  # printed again by another role of the project: kubectl apply keeps it
            admin.create_namespace(doc)
            applied.namespaces.append(meta["name"])
            wait_until_pods_admitted(admin, meta["name"])
        elif kind == "Role":
            rbac.create_namespaced_role(meta["namespace"], doc)
        elif kind == "ClusterRole":
            rbac.create_cluster_role(doc)
            applied.cluster_roles.append(meta["name"])
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            if kind == "RoleBinding":
                rbac.create_namespaced_role_binding(meta["namespace"], doc)
            else:
                rbac.create_cluster_role_binding(doc)
                applied.cluster_role_bindings.append(meta["name"])
            for subject in doc["subjects"]:
                if subject["kind"] != "ServiceAccount":
                    continue
                account = V1ServiceAccount(metadata=V1ObjectMeta(name=subject["name"]))
                with contextlib.suppress(ApiException):  # several bindings may name one account
                    admin.create_namespaced_service_account(subject["namespace"], account)
        else:
            raise AssertionError(f"rbac printed an unexpected {kind}")


def service_account_token(admin: CoreV1Api, namespace: str, account: str) -> str:
    """A real ServiceAccount token from the TokenRequest API (no static token, no admin)."""
    request = AuthenticationV1TokenRequest(spec=V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    return str(admin.create_namespaced_service_account_token(account, namespace, request).status.token)


def token_kubeconfig(cluster: KubeCluster, token: str, path: Path) -> str:
    """A kubeconfig holding ``token`` only (TLS verified with the cluster's CA)."""
    assert cluster.ca_file is not None
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": cluster.server, "certificate-authority": str(cluster.ca_file)}}
        ],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "u", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "u",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def status_of(call: Callable[[], object]) -> int:
    """The HTTP status of an API call: 200 when it returned."""
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def eventually_allowed(call: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """RBAC reaches the authorizer through an informer: a fresh grant may take a moment (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ApiException as exc:
            if exc.status != 403 or time.monotonic() > deadline:
                raise AssertionError(f"{what}: HTTP {exc.status}") from None
        time.sleep(0.2)
