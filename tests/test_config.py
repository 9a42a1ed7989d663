"""The ``[secrets_provider]`` options: declared in the provider's metadata, read only through config.py."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_secrets_provider import config
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.get_provider_info import get_provider_info

PACKAGE = Path(config.__file__).resolve().parent


def test_airflow_config_list_shows_every_option_with_its_description(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW__SECRETS_PROVIDER__")}
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [
            str(airflow),
            "config",
            "list",
            "--section",
            "secrets_provider",
            "--include-descriptions",
            "--defaults",
            "--show-values",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "[secrets_provider]" in lines
    for name, option in config.OPTIONS.items():
        assert f"# {name} = {option.default}".rstrip() in [line.rstrip() for line in lines], name
        first_line = option.description.splitlines()[0]
        assert f"# {first_line}" in lines, f"{name}'s description is not shown"


def test_the_metadata_declares_each_option_in_cncf_kubernetes_format() -> None:
    from airflow.providers.cncf.kubernetes.get_provider_info import get_provider_info as cncf_info

    cncf_option = next(iter(next(iter(cncf_info()["config"].values()))["options"].values()))
    section = get_provider_info()["config"]["secrets_provider"]
    assert section["description"]
    assert list(section["options"]) == list(config.OPTIONS)
    assert len(section["options"]) == 14
    for name, declared in section["options"].items():
        assert set(cncf_option) <= set(declared), name
        assert declared["type"] in ("string", "boolean", "float"), name
        assert isinstance(declared["default"], str) and declared["description"].strip(), name
        assert declared["sensitive"] is False, name  # names, paths and flags: nothing secret


def test_no_module_but_config_reads_airflow_configuration() -> None:
    """config.py is the only reader, so every option read is one declared there (next test)."""
    readers = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "config.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "airflow.configuration":
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "conf":
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert readers == []


def test_an_undeclared_option_cannot_be_read() -> None:
    for reader in (config.get_str, config.get_bool, config.get_float, config.get_list):
        with pytest.raises(KeyError):
            reader("not_declared")


def test_every_declared_option_is_read_by_the_code_that_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_secrets_provider.cleanup import listener
    from airflow_secrets_provider.hooks.kubernetes import configured_request_timeout
    from airflow_secrets_provider.kube.layout import configured_namespace_template
    from airflow_secrets_provider.operators.external_masking import configured_mask_external_secrets
    from airflow_secrets_provider.plugins import cluster
    from airflow_secrets_provider.pod_spec.presets import cluster_presets_enabled, configured_presets_file

    read: list[str] = []
    declared = config._declared

    def recording(name: str) -> config.Option:
        read.append(name)
        return declared(name)

    monkeypatch.setattr(config, "_declared", recording)
    configured_presets_file()
    cluster_presets_enabled()
    configured_namespace_template()
    configured_mask_external_secrets()
    configured_request_timeout()
    listener.enabled()
    listener._operators()
    listener.configured_namespaces()
    listener.configured_hook()
    cluster._as_cli_args()
    assert set(read) == set(config.OPTIONS)


def test_defaults_apply_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in config.OPTIONS:
        monkeypatch.delenv(f"AIRFLOW__SECRETS_PROVIDER__{name.upper()}", raising=False)
    assert config.get_bool("cleanup_on_task_end") is True
    assert config.get_bool_or_auto("mask_external_secrets") == "auto"
    assert config.get_float("kube_request_timeout") == 60.0
    assert config.get_list("cleanup_operators") == ["SecretTaskOperator"]
    assert config.get_str("project_namespace") is None
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLUSTER_PRESETS", "")
    assert config.get_bool("cluster_presets") is True
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", "")
    assert config.get_bool_or_auto("mask_external_secrets") == "auto"
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", "False")
    assert config.get_bool_or_auto("mask_external_secrets") is False
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__MASK_EXTERNAL_SECRETS", "AUTO")
    assert config.get_bool_or_auto("mask_external_secrets") == "auto"
    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_NAMESPACES", " a, ,b ")
    assert config.get_list("cleanup_namespaces") == ["a", "b"]


def test_the_cncf_timeout_is_the_declared_default() -> None:
    from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import API_TIMEOUT

    assert float(config.OPTIONS["kube_request_timeout"].default) == API_TIMEOUT


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("cleanup_on_task_end", config.get_bool),
        ("kube_request_timeout", config.get_float),
        ("mask_external_secrets", config.get_bool_or_auto),
    ],
)
def test_a_bad_value_names_the_option_never_the_value(
    name: str, reader: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.canaries import canary

    value = canary("config")
    monkeypatch.setenv(f"AIRFLOW__SECRETS_PROVIDER__{name.upper()}", value)
    with pytest.raises(SecretConfigError) as info:
        reader(name)  # type: ignore[operator]
    assert info.value.field == f"[secrets_provider] {name}"
    assert value not in str(info.value) and value not in repr(info.value)
    # Airflow's own error quotes the value: it must not hang on as the cause or context either.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_bad_cleanup_switch_turns_the_listener_off_without_raising(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_secrets_provider.cleanup import listener

    monkeypatch.setenv("AIRFLOW__SECRETS_PROVIDER__CLEANUP_ON_TASK_END", "maybe")
    assert listener.enabled() is False
    assert "[secrets_provider] cleanup_on_task_end" in caplog.text and "maybe" not in caplog.text
