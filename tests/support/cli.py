"""Run the installed ``airflow-secrets`` console script as a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.kube_cluster import KubeCluster

CLI = Path(sys.executable).with_name("airflow-secrets")


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def kubeconfig_of(cluster: KubeCluster) -> str:
    return cluster.kubeconfig_env or str(cluster.kubeconfig)


def run_cli(
    cluster: KubeCluster | None,
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> CliResult:
    """``airflow-secrets ARGS`` with ``KUBECONFIG`` set to the test cluster's."""
    environ = {**os.environ, **(env or {})}
    if cluster is not None:
        environ["KUBECONFIG"] = kubeconfig_of(cluster)
    proc = subprocess.run(
        [str(CLI), *args], input=stdin, capture_output=True, text=True, env=environ, timeout=timeout, check=False
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
