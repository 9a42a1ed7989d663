"""Canary values put in every provider appear nowhere Airflow or Kubernetes would keep them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization

from airflow_secrets_provider import SecretTaskOperator, with_secrets
from tests.support.canaries import canary
from tests.support.pods import pod_dict, validate_pod

INLINE_CANARY = canary("inline")
ENV_CANARY = canary("env")
FILE_CANARY = canary("file")
CANARIES = (INLINE_CANARY, ENV_CANARY, FILE_CANARY)


def build_dag(tmp_path: Path) -> tuple[DAG, SecretTaskOperator]:
    secrets_file = tmp_path / "secrets.txt"
    secrets_file.write_text(f"FROM_FILE={FILE_CANARY}\n")
    with DAG("leak_check", schedule=None, params={"env": "prod"}) as dag:
        op = SecretTaskOperator(
            task_id="train",
            image="busybox",
            namespace="ml",
            project="fraud",
            secrets=[
                with_secrets("inline", {"API_TOKEN": INLINE_CANARY, "PASSWORD": INLINE_CANARY}),
                with_secrets("env", ["CANARY_ENV"]),
                with_secrets("file", str(secrets_file)),
                with_secrets("kubernetes", ["DB_PASSWORD"]),
                with_secrets("azure_vault", {"name": "team-vault", "secrets": ["db-password"]}),
                {"name": "clearml", "envVar": "CLEARML_KEY", "key": "access"},
            ],
        )
        op.set_env_from_secret("EXT", "{{ params.env }}-db", "password")
    return dag, op


def assert_no_canary(text: str, where: str) -> None:
    for value in CANARIES:
        assert value not in text, f"a secret value leaked into {where}"


def test_canaries_never_reach_serialized_dag_pod_spec_or_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_ENV", ENV_CANARY)
    dag, op = build_dag(tmp_path)

    serialized = json.dumps(DagSerialization.to_dict(dag), default=str)
    assert "train" in serialized  # the task is really in there
    assert_no_canary(serialized, "the serialized DAG")

    pod = op.build_pod_request_obj(dry_run=True)
    assert_no_canary(json.dumps(pod_dict(pod), default=str), "the pod spec")
    assert_no_canary(repr(pod), "the pod's repr")

    for text in (repr(op), str(op), repr(op.secret_requests), str(op.secret_requests), repr(vars(op))):
        assert_no_canary(text, "a repr")
    for request in op.secret_requests:
        assert_no_canary(json.dumps(request.describe()), "a request description")


def test_canaries_never_reach_rendered_template_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_ENV", ENV_CANARY)
    _, op = build_dag(tmp_path)
    context: dict[str, Any] = {"params": {"env": "prod"}}
    op.render_template_fields(context)  # type: ignore[arg-type]
    rendered = {field: getattr(op, field) for field in op.template_fields}
    assert_no_canary(repr(rendered), "rendered template fields")
    pod = op.build_pod_request_obj(dry_run=True)
    validate_pod(pod)
    assert_no_canary(repr(pod), "the rendered pod spec")


def test_templated_secret_names_and_keys_render_before_the_pod_is_built() -> None:
    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns", project="{{ params.project }}")
    op.set_env_from_secret("DB", "{{ params.env }}-db", "{{ params.key }}")
    op.mount_secret("{{ params.env }}-tls", "/etc/{{ params.env }}", {"{{ params.key }}": "tls.crt"})
    op.with_secrets("kubernetes", ["{{ params.key }}"])
    context: dict[str, Any] = {"params": {"env": "prod", "key": "password", "project": "fraud"}}
    op.render_template_fields(context)  # type: ignore[arg-type]
    pod = op.build_pod_request_obj(dry_run=True)
    data = validate_pod(pod)
    container = data["spec"]["containers"][0]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert env["DB"] == {"name": "prod-db", "key": "password"}
    assert env["password"] == {"name": "airflow-project-secrets-fraud", "key": "password"}
    assert container["volumeMounts"][0]["mountPath"] == "/etc/prod"
    volume = data["spec"]["volumes"][0]["secret"]
    assert volume == {"secretName": "prod-tls", "items": [{"key": "password", "path": "tls.crt"}]}


def test_templated_name_that_renders_invalid_is_rejected_before_build() -> None:
    from airflow_secrets_provider import SecretConfigError

    op = SecretTaskOperator(task_id="t", image="busybox", namespace="ns")
    op.set_env_from_secret("DB", "{{ params.env }}", "password")
    with pytest.raises(SecretConfigError) as info:
        op.render_template_fields({"params": {"env": "Not Valid"}})  # type: ignore[arg-type]
    assert info.value.field == "secret"


def _chain(err: BaseException) -> str:
    """Everything an error reporter walking the exception chain could show."""
    shown = []
    seen: BaseException | None = err
    while seen is not None:
        shown.append(f"{seen!r} {seen} {vars(seen)!r}")
        seen = seen.__cause__ or seen.__context__
    return " ".join(shown)


@pytest.mark.parametrize(
    ("name", "content", "read"),
    [
        ("bad utf-8 secrets file", FILE_CANARY.encode() + b"=\xff\xfe", "task"),
        ("malformed yaml", f'token: "{FILE_CANARY}\n  other: [\n'.encode(), "yaml"),
        ("malformed json", f'{{"token": "{FILE_CANARY}", oops}}'.encode(), "json"),
        ("bad utf-8 json", f'{{"token": "{FILE_CANARY}"}}'.encode() + b"\xff", "json"),
    ],
)
def test_translated_errors_keep_no_chain_holding_the_content(
    tmp_path: Path, name: str, content: bytes, read: str
) -> None:
    # ``raise ... from None`` hides the original from tracebacks but keeps it in __context__,
    # where UnicodeDecodeError.object and JSONDecodeError.doc hold everything that was read.
    from airflow_secrets_provider import SecretsProviderError
    from airflow_secrets_provider.core.model import ResolveContext
    from airflow_secrets_provider.secrets.file_source import read_file_values

    path = tmp_path / f"secrets.{read}"
    path.write_bytes(content)
    with pytest.raises(SecretsProviderError) as info:
        if read == "task":
            with_secrets("file", str(path)).resolve(ResolveContext(environ={}))  # type: ignore[attr-defined]
        else:
            read_file_values(str(path), read)
    assert info.value.__context__ is None and info.value.__cause__ is None, name
    assert FILE_CANARY not in _chain(info.value), name


def test_backend_kwargs_that_are_not_json_keep_no_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_secrets_provider import SecretConfigError
    from airflow_secrets_provider.secrets import ChainedSecretsBackend

    with pytest.raises(SecretConfigError) as info:
        ChainedSecretsBackend(sources=f'[{{"kind": "azure_vault", "client_secret": "{INLINE_CANARY}"')
    assert INLINE_CANARY not in _chain(info.value)


def test_reprs_of_worker_context_and_cache_results_hold_no_values() -> None:
    from airflow_secrets_provider.core.model import ResolveContext
    from airflow_secrets_provider.secrets.cache import LoadResult

    assert ENV_CANARY not in repr(ResolveContext(environ={"CANARY_ENV": ENV_CANARY}))
    assert INLINE_CANARY not in repr(LoadResult(INLINE_CANARY))
