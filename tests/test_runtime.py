"""``get_secret`` / ``get_secret_or_env`` (runtime.py): env and mounted files; Key Vault pod
mode is in test_azure_vault.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_secrets_provider import runtime
from airflow_secrets_provider.core.errors import SecretConfigError
from tests.support.backend import assert_masked


@pytest.fixture
def clean_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    runtime.reset()
    monkeypatch.setenv(runtime.MOUNT_DIRS_ENV, str(tmp_path))
    monkeypatch.delenv("AIRFLOW_SECRETS_AZURE_VAULT_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    monkeypatch.delenv("AIRFLOW__WORKERS__SECRETS_BACKEND", raising=False)
    return tmp_path


def test_get_secret_reads_the_injected_env_name(clean_runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("db_password", "injected-env-value")
    assert runtime.get_secret("db-password") == "injected-env-value"
    assert runtime.get_secret("db_password") == "injected-env-value"
    assert_masked("injected-env-value")


def test_get_secret_reads_mounted_files(clean_runtime: Path) -> None:
    (clean_runtime / "api-token").write_text("mounted-file-value\n")
    assert runtime.get_secret("api-token") == "mounted-file-value\n"
    assert runtime.get_secret("../etc/passwd") is None
    assert_masked("mounted-file-value")


def test_get_secret_returns_mounted_bytes_exactly_and_rejects_binary(clean_runtime: Path) -> None:
    (clean_runtime / "crlf").write_bytes(b"line-one-value\r\nline2\r")
    assert runtime.get_secret("crlf") == "line-one-value\r\nline2\r"  # no newline translation
    (clean_runtime / "keystore").write_bytes(b"binary-canary-1c9d\xff\xfe")
    with pytest.raises(SecretConfigError) as info:
        runtime.get_secret("keystore")
    assert "not UTF-8" in str(info.value) and info.value.__context__ is None


def test_get_secret_default_and_get_secret_or_env(clean_runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("odd-name", "plain-env-value")
    assert runtime.get_secret("odd-name") is None
    assert runtime.get_secret("odd-name", "fallback") == "fallback"
    assert runtime.get_secret_or_env("odd-name") == "plain-env-value"
    assert runtime.get_secret_or_env("absent-key", "dflt") == "dflt"


def test_get_secret_falls_back_to_the_configured_backend(clean_runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_runtime / "vars.json").write_text(json.dumps({"from_backend": "backend-served-value"}))
    monkeypatch.setenv("AIRFLOW__WORKERS__SECRETS_BACKEND", "airflow_secrets_provider.secrets.ChainedSecretsBackend")
    monkeypatch.setenv(
        "AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS",
        json.dumps({"sources": [{"kind": "file", "variables_file": str(clean_runtime / "vars.json")}]}),
    )
    assert runtime.get_secret("from_backend") == "backend-served-value"
    assert runtime.get_secret("not_there") is None


def test_package_exports_the_runtime_api() -> None:
    import airflow_secrets_provider as package

    assert package.get_secret is runtime.get_secret
    assert package.get_secret_or_env is runtime.get_secret_or_env
