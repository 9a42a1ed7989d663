"""The leak audit's DAG files, written into the running stack's ``extra`` DAG bundle.

Each file holds only what a user would type: names, paths, the vault's address and, for the
``inline`` provider, the value itself (the one place an inline value may be). Every other canary
lives where its provider reads it: the services' environment, a secrets file, the project's
Kubernetes Secret, the Key Vault stand-in, the backend's Kubernetes source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AUDIT_DAG = "asp_leak_audit"
BAD_INPUT_DAG_FILE = "asp_leak_audit_bad_input.py"
AUDIT_PROJECT = "audit"
#: The backend's names (keys ``AIRFLOW_VAR_LEAK_AUDIT_SETTING`` / ``AIRFLOW_CONN_LEAK_AUDIT_DB`` of
#: the stack's project ``fraud``). The variable's name looks harmless on purpose: Airflow masks
#: variables by name ("token", "password"); the backend must mask every value it returns.
BACKEND_VARIABLE = "leak_audit_setting"
BACKEND_CONNECTION = "leak_audit_db"
#: Read only by ``with_secrets("airflow", ...)`` (the ``airflow`` kind, issue 21), from the same
#: backend source: they must reach the pod (and the log as ``***``) and nothing else.
POD_CONNECTION = "leak_audit_pod_db"
POD_VARIABLE = "leak_audit_pod_setting"

#: task id -> the state its run must end in.
EXPECTED_STATES = {
    "every_provider_prints": "success",
    "external_prints": "success",
    "deferred_prints": "success",
    "container_fails": "failed",
    "missing_key_fails": "failed",
    "backend_lookup_prints": "success",
    "backend_templates": "success",
    "airflow_kind_prints": "success",
}

#: The container of every pod task: print each named variable's value, or each named file's
#: text (a name starting with "/"), the "leaky job".
_PRINT = (
    "import os, sys, time\nfor n in sys.argv[3:]:\n"
    "    print(n, '=', open(n).read() if n.startswith('/') else os.environ.get(n))\n"
    "time.sleep(float(sys.argv[2]))\nsys.exit(int(sys.argv[1]))\n"
)
#: An externally managed Secret (created by the test, not by the provider) in the audit's
#: namespace, which the stack's launcher may read: with default settings its values are masked.
EXTERNAL_SECRET = "audit-external"


@dataclass(frozen=True)
class AuditSetup:
    """Names and places the DAG file refers to (no value but the inline one)."""

    namespace: str
    env_var: str
    secrets_file: str
    vault_url: str
    vault_options: dict[str, Any]
    inline_value: str
    deferred_inline_value: str


def audit_dag_source(setup: AuditSetup) -> str:
    """``asp_leak_audit``: every provider, a deferrable task, failures, backend lookups."""
    return f"""# airflow DAG written by tests/test_leak_audit.py (the leak audit)
import os

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task

from airflow_secrets_provider import SecretTaskOperator, with_secrets

NS = {setup.namespace!r}
IMAGE = os.environ.get("ASP_EXAMPLE_IMAGE", "python:3.12-slim")  # the stack sets its local job image
PRINT = {_PRINT!r}


def printing(task_id, exit_code, names, sleep=0, **kwargs):
    kwargs.setdefault("retries", 0)
    return SecretTaskOperator(
        task_id=task_id,
        image=IMAGE,
        image_pull_policy="IfNotPresent",
        namespace=NS,
        project={AUDIT_PROJECT!r},
        cmds=["python3", "-c", PRINT],
        arguments=[str(exit_code), str(sleep), *names],
        get_logs=True,
        startup_timeout_seconds=300,
        **kwargs,
    )


with DAG({AUDIT_DAG!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1), tags=["leak-audit"]) as dag:
    printing(
        "every_provider_prints",
        0,
        ["PROJECT_TOKEN", "INLINE_TOKEN", {setup.env_var!r}, "FILE_TOKEN", "vault_token"],
        secrets=[
            with_secrets("kubernetes", ["PROJECT_TOKEN"]),
            with_secrets("inline", {{"INLINE_TOKEN": {setup.inline_value!r}}}),
            with_secrets("env", {setup.env_var!r}),
            with_secrets("file", {setup.secrets_file!r}),
            with_secrets(
                "azure_vault",
                {{"name": "audit-vault", "vault_url": {setup.vault_url!r}, "k8s_secret": "azure-sp",
                  "secrets": ["vault-token"]}},
            ),
        ],
        azure_vault_options={setup.vault_options!r},
        on_finish_action="keep_pod",  # its spec stays in the API server for the object search
    )
    # Default settings (mask_external_secrets "auto"): the three ways to reference a Secret the
    # provider does not manage, each printed by the container.
    printing(
        "external_prints",
        0,
        ["EXTERNAL_ENV", "PACHYDERM_ENV", "/etc/external/token"],
        attach_project_secrets=False,
        secrets=[{{"name": {EXTERNAL_SECRET!r}, "envVar": "PACHYDERM_ENV", "key": "pachyderm"}}],
    ).set_env_from_secret("EXTERNAL_ENV", {EXTERNAL_SECRET!r}, "env").mount_secret(
        {EXTERNAL_SECRET!r}, "/etc/external", ["token"]
    )
    printing(
        "deferred_prints",
        0,
        ["PROJECT_TOKEN", "DEFERRED_TOKEN"],
        deferrable=True,
        poll_interval=2,
        # Airflow 3.3 race: a trigger that fires before the scheduler has handled the deferring
        # process's exit gets the task marked failed ("executor reported ... success, but the task
        # instance's state attribute is scheduled"). A pod that outlives that moment avoids it;
        # the retry covers a machine too busy for that.
        sleep=15,
        retries=1,
        retry_delay=1,
        secrets=[
            with_secrets("kubernetes", ["PROJECT_TOKEN"]),
            with_secrets("inline", {{"DEFERRED_TOKEN": {setup.deferred_inline_value!r}}}),
        ],
    )
    printing(
        "container_fails",
        3,
        ["PROJECT_TOKEN", {setup.env_var!r}],
        on_finish_action="keep_pod",
        secrets=[with_secrets("kubernetes", ["PROJECT_TOKEN"]), with_secrets("env", {setup.env_var!r})],
    )
    printing(
        "missing_key_fails",
        0,
        ["NOT_THERE"],
        secrets=[with_secrets("kubernetes", ["PROJECT_TOKEN", "NOT_THERE"]), with_secrets("file", {setup.secrets_file!r})],
    )

    printing(
        "airflow_kind_prints",
        0,
        ["POD_DB_PASSWORD", "POD_DB_URI", "POD_W_EXTRA_API_KEY", "POD_SETTING"],
        on_finish_action="keep_pod",
        secrets=[
            with_secrets(
                "airflow",
                {{
                    "POD_DB_PASSWORD": "conn:{POD_CONNECTION}.password",
                    "POD_DB_URI": "conn:{POD_CONNECTION}",
                    "POD_W": "conn:{POD_CONNECTION}.*",
                    "POD_SETTING": "var:{POD_VARIABLE}",
                }},
            )
        ],
    )

    @task(retries=0)
    def backend_lookup_prints():
        from airflow.sdk import BaseHook, Variable

        setting = Variable.get({BACKEND_VARIABLE!r})
        password = BaseHook.get_connection({BACKEND_CONNECTION!r}).password
        print("variable:", setting)  # a careless task: stdout, not the logger
        print("connection password:", password)
        return {{"lengths": [len(setting), len(password)]}}

    backend_lookup_prints()
    BashOperator(
        task_id="backend_templates",
        retries=0,
        # Airflow pushes a Bash task's last output line to XCom as it is (unmasked): a task that
        # echoes a secret and pushes it stores it. That is the DAG author's choice, not a lookup.
        do_xcom_push=False,
        bash_command="echo {{{{ var.value.{BACKEND_VARIABLE} }}}} {{{{ conn.{BACKEND_CONNECTION}.password }}}}",
    )
"""


def bad_input_dag_source(namespace: str, bad_value: str) -> str:
    """A DAG whose ``mount_secret`` item key is a value typed where a name belongs (issue 12)."""
    return f"""# airflow DAG written by tests/test_leak_audit.py: an input error whose name looks like a value
import pendulum
from airflow.sdk import DAG

from airflow_secrets_provider import SecretTaskOperator

with DAG("asp_leak_audit_bad_input", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    op = SecretTaskOperator(task_id="bad", image="busybox", namespace={namespace!r})
    op.mount_secret("tls-certs", "/etc/tls", items={{"DB_PASSWORD={bad_value}": "tls.key"}})
"""
