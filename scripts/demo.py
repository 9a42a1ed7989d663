"""Run dags/example_secrets.py end to end on the embedded default: no cluster, no cloud.

"Embedded" means a real kube-apiserver + etcd started on loopback by scripts/kube-node.sh (--no-node)
(built once per machine), plus the test suite's kubelet stand-in, which plays the kubelet's part
(checks each pod's secret references resolve, then reports it Succeeded) since no containers
run here. The DAG runs through real Airflow (`dag.test()`, migrated SQLite metadata DB).

Afterwards it prints what Kubernetes holds: the pods' secret references and that none of the
demo's secret values is stored in a pod spec, and that no per-task Secret outlived its task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEMO_VALUES = {
    "AWS_KEY": "demo-aws-key-7f3e",
    "DB_PASSWORD": "demo-db-password-91ac",
    "MY_ENV_SECRET": "demo-env-secret-55d0",
    "access": "demo-clearml-access-2b8f",
    "secret1": "demo-external-secret-0c41",
    "MY_SECRET (inline in the DAG file)": "12345",
}
NAMESPACE = "ml"  # what the example DAG uses


def main() -> int:
    from kubernetes.client import ApiClient, CoreV1Api
    from kubernetes.client import models as k8s

    from devstack.kube_cluster import start_local_cluster
    from devstack.kubelet_standin import KubeletStandIn

    migrate = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], capture_output=True)
    if migrate.returncode != 0:
        sys.stderr.write(migrate.stderr.decode()[-3000:])
        return 1

    print("== starting a local kube-apiserver (the first run builds it: about 8 minutes)", flush=True)
    cluster = start_local_cluster(Path(tempfile.mkdtemp(prefix="asp-demo-")), node=False)
    standin = None
    try:
        core = CoreV1Api(cluster.api_client())
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))

        from airflow_secrets_provider.projects import ProjectSecretsStore

        store = ProjectSecretsStore(core, NAMESPACE)
        store.set_secrets("fraud", {k: DEMO_VALUES[k] for k in ("AWS_KEY", "DB_PASSWORD")})
        for name, data in {
            "clearml": {"access": DEMO_VALUES["access"]},  # externally managed Secrets the DAG references
            "dev-secret": {"secret1": DEMO_VALUES["secret1"]},
            "tls-certs": {"tls.crt": "-----BEGIN CERTIFICATE-----demo"},
        }.items():
            core.create_namespaced_secret(
                NAMESPACE, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), string_data=data)
            )
        print(f"== project 'fraud' keys: {store.list_keys('fraud')}")

        os.environ["MY_ENV_SECRET"] = DEMO_VALUES["MY_ENV_SECRET"]
        os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config_path": str(cluster.kubeconfig), "in_cluster": False}}
        )
        standin = KubeletStandIn(core)
        standin.watch_and_run(NAMESPACE)

        import importlib.util

        spec = importlib.util.spec_from_file_location("example_secrets", REPO / "dags" / "example_secrets.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print("== running example_secrets with dag.test()", flush=True)
        run = module.dag.test()

        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        pods = core.list_namespaced_pod(NAMESPACE).items
        stored = json.dumps([ApiClient().sanitize_for_serialization(p) for p in pods])
        leaked = [key for key, value in DEMO_VALUES.items() if value in stored]
        task_secrets = core.list_namespaced_secret(NAMESPACE, label_selector="airflow-secrets-provider/role=task").items
        print("== result")
        print(f"task states:                 {states}")
        print(f"pods kept by the cluster:    {[p.metadata.name for p in pods]}")
        for pod in pods:
            refs = {
                e.name: f"{e.value_from.secret_key_ref.name}/{e.value_from.secret_key_ref.key}"
                for e in pod.spec.containers[0].env or []
                if e.value_from and e.value_from.secret_key_ref
            }
            print(f"  {pod.metadata.name} secret env refs: {refs}")
        print(f"secret values in pod specs:  {leaked or 'none'}")
        print(f"per-task Secrets left over:  {[s.metadata.name for s in task_secrets] or 'none'}")
        ok = set(states.values()) == {"success"} and not leaked and not task_secrets
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if standin is not None:
            standin.stop()
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
