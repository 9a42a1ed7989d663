"""Worker-side resolution of the providers whose values live outside the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_secrets_provider import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    SecretValues,
    with_secrets,
)
from airflow_secrets_provider.core.model import ResolveContext, ValueRequest
from tests.support.canaries import canary


def resolve(kind: str, source: object, environ: dict[str, str] | None = None) -> SecretValues:
    request = with_secrets(kind, source)
    assert isinstance(request, ValueRequest)
    return request.resolve(ResolveContext(environ=environ or {}))


def test_inline_resolves_to_its_values() -> None:
    assert dict(resolve("inline", {"A": "1", "B": "2"})) == {"A": "1", "B": "2"}


def test_env_reads_the_workers_environment_at_resolve_time() -> None:
    assert dict(resolve("env", "A, B", {"A": "x", "B": "y", "C": "z"})) == {"A": "x", "B": "y"}


def test_env_missing_variable_names_it() -> None:
    with pytest.raises(SecretNotFoundError) as info:
        resolve("env", ["A", "MISSING"], {"A": "x"})
    assert info.value.key == "MISSING"
    assert "env provider" in str(info.value) and "'MISSING'" in str(info.value)


def test_file_parses_comments_blank_lines_and_equals_in_values(tmp_path: Path) -> None:
    path = tmp_path / "secrets.txt"
    path.write_text("# team secrets\n\nAWS_KEY = abc\nDSN=postgres://u:p@h/db?x=1\n  SPACED=  padded  \n")
    assert dict(resolve("file", str(path))) == {"AWS_KEY": "abc", "DSN": "postgres://u:p@h/db?x=1", "SPACED": "padded"}


def test_file_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SecretNotFoundError) as info:
        resolve("file", str(tmp_path / "nope.txt"))
    assert "file provider" in str(info.value)


def test_file_unreadable_is_an_access_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    path = tmp_path / "locked.txt"
    path.write_text("A=1\n")
    real_open = os.open

    def denied(file: object, *args: object, **kwargs: object) -> object:
        # The OS's answer for a file the worker may not read (as root, chmod 0 would not stop us).
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(SecretAccessError, match="permission denied"):
        resolve("file", str(path))


def test_a_directory_is_not_a_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(SecretConfigError, match="is a directory"):
        resolve("file", str(tmp_path))


def test_secret_values_never_print_values() -> None:
    value = canary("very-secret")
    values = SecretValues({"A": value})
    assert value not in repr(values) and value not in str(values) and value not in f"{values}"
    assert values["A"] == value
    import pickle

    assert pickle.loads(pickle.dumps(values)) == values
