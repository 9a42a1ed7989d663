"""``airflow-secrets set|keys|unset|projects|history`` as a subprocess against the real API server.

Each test asserts the exit code, what was printed (never a value, in tables and ``-o json``)
and what is left in the cluster, including the audit Events.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.core.naming import project_secret_name
from devstack.kube_cluster import KubeCluster
from tests.support.canaries import canary
from tests.support.cli import kubeconfig_of, run_cli

pytestmark = pytest.mark.kubernetes


def _data(core: CoreV1Api, namespace: str, project: str) -> dict[str, str] | None:
    try:
        secret = core.read_namespaced_secret(project_secret_name(project), namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def _events_text(admin_client: ApiClient, core: CoreV1Api, namespace: str) -> str:
    events = core.list_namespaced_event(namespace)
    return json.dumps(admin_client.sanitize_for_serialization(events))


def test_set_keys_unset_projects_and_history(
    kube_cluster: KubeCluster, core: CoreV1Api, admin_client: ApiClient, kube_namespace: str, tmp_path: Path
) -> None:
    ns = ["--namespace", kube_namespace]
    stdin_a, stdin_b = canary("cli-stdin-a"), canary("cli-stdin-b")
    file_value, env_value, literal = canary("cli-file"), canary("cli-envfile"), canary("cli-literal")
    (tmp_path / "tls.pem").write_text(file_value)
    (tmp_path / "more.env").write_text(f"# comment\nENV_KEY={env_value}\n")
    outputs: list[str] = []

    done = run_cli(kube_cluster, "set", "fraud", "-", *ns, stdin=f"A_KEY={stdin_a}\nB_KEY={stdin_b}\n")
    outputs.append(done.text)
    assert done.code == 0, done.err
    assert "A_KEY, B_KEY" in done.out
    done = run_cli(
        kube_cluster,
        "set",
        "fraud",
        *ns,
        "--from-file",
        str(tmp_path / "tls.pem"),
        "--from-env-file",
        str(tmp_path / "more.env"),
        "--from-literal",
        f"LIT={literal}",
        "-o",
        "json",
    )
    outputs.append(done.text)
    assert done.code == 0, done.err
    assert json.loads(done.out) == {
        "project": "fraud",
        "namespace": kube_namespace,
        "set": ["ENV_KEY", "LIT", "tls.pem"],
        "keys": ["A_KEY", "B_KEY", "ENV_KEY", "LIT", "tls.pem"],
    }
    assert _data(core, kube_namespace, "fraud") == {
        "A_KEY": stdin_a,
        "B_KEY": stdin_b,
        "tls.pem": file_value,
        "ENV_KEY": env_value,
        "LIT": literal,
    }

    keys = run_cli(kube_cluster, "keys", "fraud", *ns)
    outputs.append(keys.text)
    assert keys.code == 0 and keys.out.splitlines()[0].split() == ["KEY", "UPDATED"]
    assert [line.split()[0] for line in keys.out.splitlines()[1:]] == ["A_KEY", "B_KEY", "ENV_KEY", "LIT", "tls.pem"]
    keys_json = json.loads(run_cli(kube_cluster, "keys", "fraud", *ns, "-o", "json").out)
    assert [k["key"] for k in keys_json["keys"]] == ["A_KEY", "B_KEY", "ENV_KEY", "LIT", "tls.pem"]
    assert all(k["updated"].endswith("Z") for k in keys_json["keys"])
    outputs.append(json.dumps(keys_json))

    done = run_cli(kube_cluster, "unset", "fraud", "LIT", "tls.pem", *ns)
    outputs.append(done.text)
    assert done.code == 0 and "3 keys left" in done.out
    assert set(_data(core, kube_namespace, "fraud") or {}) == {"A_KEY", "B_KEY", "ENV_KEY"}

    assert run_cli(kube_cluster, "set", "other", *ns, "--from-literal", "X=1").code == 0
    projects = run_cli(kube_cluster, "projects", *ns, "-o", "yaml")
    assert projects.code == 0
    listed = yaml.safe_load(projects.out)
    assert [(p["project"], p["keys"]) for p in listed] == [("fraud", 3), ("other", 1)]
    table = run_cli(kube_cluster, "projects", *ns).out.splitlines()
    assert table[0].split() == ["PROJECT", "KEYS", "SECRET"] and table[1].split()[:2] == ["fraud", "3"]

    history = run_cli(kube_cluster, "history", "fraud", *ns, "-o", "json", env={"AIRFLOW_SECRETS_ACTOR": "alice"})
    outputs.append(history.text)
    assert history.code == 0, history.err
    records = json.loads(history.out)
    assert [(r["action"], r["keys"]) for r in records] == [
        ("set", ["A_KEY", "B_KEY"]),
        ("set", ["ENV_KEY", "LIT", "tls.pem"]),
        ("unset", ["LIT", "tls.pem"]),
    ]
    assert all(r["project"] == "fraud" and r["secret"] == project_secret_name("fraud") for r in records)
    assert all("@" in r["actor"] and r["time"].endswith("Z") for r in records)  # <user>@<host> by default
    assert run_cli(kube_cluster, "history", "fraud", *ns).out.splitlines()[0].split() == [
        "TIME",
        "ACTION",
        "ACTOR",
        "SECRET",
        "KEYS",
    ]

    everything = "\n".join(outputs) + _events_text(admin_client, core, kube_namespace)
    for value in (stdin_a, stdin_b, file_value, env_value, literal):
        assert value not in everything


def test_actor_is_recorded(kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str) -> None:
    done = run_cli(
        kube_cluster,
        "set",
        "fraud",
        "--namespace",
        kube_namespace,
        "--from-literal",
        "K=v",
        env={"AIRFLOW_SECRETS_ACTOR": "alice"},
    )
    assert done.code == 0, done.err
    (event,) = core.list_namespaced_event(kube_namespace).items
    assert event.involved_object.kind == "Secret" and event.involved_object.name == project_secret_name("fraud")
    assert (
        event.involved_object.uid
        == core.read_namespaced_secret(project_secret_name("fraud"), kube_namespace).metadata.uid
    )
    assert event.reason == "SecretKeysSet" and event.message == "alice set keys K (project 'fraud')"


@pytest.mark.parametrize(
    ("args", "stdin", "code", "expected"),
    [
        (["--from-literal", "NO_EQUALS_{v}"], "", 2, "--from-literal[0]: expected KEY=VALUE"),
        (["--from-literal", "bad key={v}"], "", 2, "--from-literal[0]: the text before '=' is not a valid Secret key"),
        (["--from-literal", "A={v}", "--from-literal", "A=other"], "", 2, "key 'A' is given more than once"),
        (["--from-literal", "A=1", "--no-such-flag", "{v}"], "", 2, "unrecognized arguments"),
        ([], "", 2, "give --from-literal, --from-file, --from-env-file or '-'"),
        (["-"], "A=1\nthis line has no equals {v}\n", 1, "stdin line 2: expected KEY=VALUE"),
        (["-"], "A=1\nA={v}\n", 1, "stdin line 2: repeats the key of line 1"),
        (["--from-file", "/nonexistent/x.pem"], "", 1, "--from-file[0]: file '/nonexistent/x.pem' not found"),
        (["-"], "BIG=" + "x" * (1024 * 1024 + 1) + "\n", 1, "over the Kubernetes limit of 1048576 bytes (1 MiB)"),
    ],
    ids=[
        "literal-no-equals",
        "literal-bad-key",
        "duplicate",
        "unknown-flag",
        "nothing",
        "stdin-bad",
        "stdin-dup",
        "missing-file",
        "too-big",
    ],
)
def test_bad_set_input_writes_nothing(
    kube_cluster: KubeCluster,
    core: CoreV1Api,
    kube_namespace: str,
    args: list[str],
    stdin: str,
    code: int,
    expected: str,
) -> None:
    value = canary("bad-input")
    done = run_cli(
        kube_cluster,
        "set",
        "fraud",
        "--namespace",
        kube_namespace,
        *(a.format(v=value) for a in args),
        stdin=stdin.format(v=value),
    )
    assert done.code == code, done.err
    assert expected in done.err
    assert len(done.err.strip().splitlines()) == 1 and "Traceback" not in done.err
    assert value not in done.text
    assert _data(core, kube_namespace, "fraud") is None
    assert core.list_namespaced_event(kube_namespace).items == []


def test_bad_project_names_and_missing_keys(kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str) -> None:
    ns = ["--namespace", kube_namespace]
    bad = run_cli(kube_cluster, "set", "Not_A_Name", *ns, "--from-literal", "K=v")
    assert bad.code == 2 and "project: 'Not_A_Name' is not a valid name" in bad.err
    assert run_cli(kube_cluster, "set", "fraud", *ns, "--from-literal", "K=v").code == 0
    missing = run_cli(kube_cluster, "unset", "fraud", "NOPE", *ns)
    assert missing.code == 1 and "secret key 'NOPE' not found in project 'fraud'" in missing.err
    assert _data(core, kube_namespace, "fraud") == {"K": "v"}
    assert run_cli(kube_cluster, "history", *ns).code == 2  # neither a project nor --secret


def test_foreign_secret_of_the_project_name_is_refused(
    kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str
) -> None:
    value = canary("foreign")
    core.create_namespaced_secret(
        kube_namespace, {"metadata": {"name": project_secret_name("fraud")}, "stringData": {"K": value}}
    )
    done = run_cli(kube_cluster, "set", "fraud", "--namespace", kube_namespace, "--from-literal", "L=x")
    assert done.code == 1 and "refusing to modify it" in done.err and value not in done.text
    assert _data(core, kube_namespace, "fraud") == {"K": value}


def test_cluster_from_kubeconfig_flag_context_and_airflow_connection(
    kube_cluster: KubeCluster, core: CoreV1Api, kube_namespace: str
) -> None:
    kubeconfig = kubeconfig_of(kube_cluster).split(":")[0]
    context = yaml.safe_load(Path(kubeconfig).read_text())["current-context"]
    done = run_cli(
        None,
        "set",
        "viaflags",
        "--kubeconfig",
        kubeconfig,
        "--context",
        context,
        "-n",
        kube_namespace,
        "--from-literal",
        "K=v",
        env={"KUBECONFIG": "/nonexistent"},
    )
    assert done.code == 0, done.err
    assert _data(core, kube_namespace, "viaflags") == {"K": "v"}

    wrong = run_cli(None, "keys", "viaflags", "--kubeconfig", kubeconfig, "--context", "no-such-context")
    assert wrong.code == 1 and "ConfigException" in wrong.err and len(wrong.err.strip().splitlines()) == 1

    # An Airflow Kubernetes connection: its kube config path and its namespace are used.
    conn = json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config_path": kubeconfig, "namespace": kube_namespace}}
    )
    done = run_cli(
        None,
        "set",
        "viaconn",
        "--conn-id",
        "k8s_cli",
        "--from-literal",
        "K=v",
        env={"AIRFLOW_CONN_K8S_CLI": conn, "KUBECONFIG": "/nonexistent"},
    )
    assert done.code == 0, done.err
    assert _data(core, kube_namespace, "viaconn") == {"K": "v"}
    missing = run_cli(None, "keys", "viaconn", "--conn-id", "no_such_conn")
    assert missing.code == 1 and "--conn-id: no such Airflow connection" in missing.err
