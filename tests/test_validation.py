"""Every invalid input gets a clear error that names the field and never a secret value."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_secrets_provider import SecretConfigError, SecretTaskOperator, with_secrets
from airflow_secrets_provider.providers.file import parse_secrets_text
from tests.support.canaries import canary

CANARY = canary("validation")

REQUEST_CASES: list[tuple[str, str, object, str]] = [
    # (case id, kind, source, expected text in the message)
    ("unknown kind", "vault", {"A": "b"}, "unknown secret provider 'vault'"),
    ("inline not a dict", "inline", ["A"], "must be a dict"),
    ("inline empty", "inline", {}, "at least one"),
    ("inline bad env name", "inline", {"1BAD": CANARY}, "'1BAD' is not a valid environment variable name"),
    ("inline non-string value", "inline", {"A": 5}, "value must be a string"),
    ("env wrong type", "env", 42, "comma-separated string or a list"),
    ("env empty", "env", "", "at least one"),
    ("env bad name", "env", "GOOD, BAD-NAME", "'BAD-NAME' is not a valid environment variable name"),
    ("file not a path", "file", {"path": "/x"}, "must be a file path string"),
    ("kubernetes wrong type", "kubernetes", {"A": 1}, "must be a list of keys"),
    ("kubernetes bad key", "kubernetes", ["ok", "bad/key"], "'bad/key' is not a valid secret key"),
    ("kubernetes dotdot key", "kubernetes", [".."], "is not a valid secret key"),
    ("azure not a dict", "azure_vault", "vault", "must be a dict"),
    ("azure missing name", "azure_vault", {"secrets": []}, "source.name: is required"),
    ("azure bad vault name", "azure_vault", {"name": "a_b", "secrets": []}, "not a valid Key Vault name"),
    (
        "azure bad secret name",
        "azure_vault",
        {"name": "vault1", "secrets": ["a_b"]},
        "not a valid Key Vault secret name",
    ),
    ("azure unknown field", "azure_vault", {"name": "vault1", "password": CANARY}, "unknown fields ['password']"),
    # A trailing newline: Python's `$` matches before it, so the checks must match the whole text.
    ("env name with newline", "env", ["GOOD\n"], "not a valid environment variable name"),
    ("kubernetes key with newline", "kubernetes", ["KEY\n"], "not a valid secret key"),
    # NAME=VALUE typed where a name belongs: described, never echoed.
    ("env name with value", "env", f"DB_PASSWORD={CANARY}", "not shown: it contains '='"),
    ("kubernetes key with value", "kubernetes", [f"DB_PASSWORD={CANARY}"], "not shown: it contains '='"),
    ("azure env collision", "azure_vault", {"name": "vault1", "secrets": ["1a", "-1a"]}, "both map to env var '_1a'"),
    (
        "azure pod mode needs creds",
        "azure_vault",
        {"name": "vault1", "resolve_in": "pod"},
        "source.k8s_secret: is required",
    ),
    ("azure bad resolve_in", "azure_vault", {"name": "vault1", "resolve_in": "moon"}, "must be one of"),
]


@pytest.mark.parametrize(
    ("kind", "source", "expected"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_invalid_request_is_rejected_with_clear_error(kind: str, source: object, expected: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        with_secrets(kind, source)
    message = str(info.value)
    assert expected in message
    assert CANARY not in message
    if kind in ("inline", "env", "file", "kubernetes", "azure_vault"):
        assert message.startswith(f"{kind} provider") or "unknown" in message


def _op(**kwargs: Any) -> SecretTaskOperator:
    return SecretTaskOperator(task_id="t", image="busybox", namespace="ns", **kwargs)


OPERATOR_CASES: list[tuple[str, Any, str, str]] = [
    # (case id, build, field named, text)
    (
        "bad secret name",
        lambda: _op().set_env_from_secret("A", "Bad_Name", "k"),
        "secret",
        "not a valid Kubernetes Secret name",
    ),
    ("secret name too long", lambda: _op().set_env_from_secret("A", "a" * 254, "k"), "secret", "at most 253"),
    ("bad data key", lambda: _op().set_env_from_secret("A", "s", "k/ey"), "secret_key", "not a valid secret key"),
    (
        "bad env name",
        lambda: _op().set_env_from_secret("A-B", "s", "k"),
        "env_name",
        "not a valid environment variable",
    ),
    ("relative mount path", lambda: _op().mount_secret("s", "mnt/x"), "mount_path", "must be absolute"),
    ("dotdot mount path", lambda: _op().mount_secret("s", "/mnt/../etc"), "mount_path", "must not contain '..'"),
    ("absolute item path", lambda: _op().mount_secret("s", "/mnt", {"k": "/etc/x"}), "items['k']", "must be relative"),
    ("dotdot item path", lambda: _op().mount_secret("s", "/mnt", {"k": "../x"}), "items['k']", "must not contain '..'"),
    ("empty items", lambda: _op().mount_secret("s", "/mnt", []), "items", "at least one key"),
    (
        "two keys one file",
        lambda: _op().mount_secret("s", "/mnt", {"a": "f", "b": "f"}),
        "items['b']",
        "used by two keys",
    ),
    (
        "duplicate env across requests",
        lambda: _op(secrets=[with_secrets("inline", {"A": CANARY})]).set_env_from_secret("A", "s", "k"),
        "secrets",
        "'A' is requested from two different sources",
    ),
    (
        "duplicate mount across requests",
        lambda: _op().mount_secret("s1", "/mnt/x").mount_secret("s2", "/mnt/x/"),
        "secrets",
        "mount path '/mnt/x' is requested by two different mounts",
    ),
    (
        "kubernetes needs project",
        lambda: _op(secrets=[with_secrets("kubernetes", ["A"])]),
        "project",
        "is required",
    ),
    ("bad project name", lambda: _op(project="Fraud_Team"), "project", "not a valid name"),
    ("secrets not a list", lambda: _op(secrets=with_secrets("env", "A")), "secrets", "must be a list"),
    ("unsupported secrets item", lambda: _op(secrets=[42]), "secrets[0]", "expected with_secrets"),
    ("pachyderm without name", lambda: _op(secrets=[{"envVar": "A", "key": "k"}]), "secrets[0]", "needs 'name'"),
    (
        "pachyderm env and mount",
        lambda: _op(secrets=[{"name": "s", "envVar": "A", "key": "k", "mount_path": "/m"}]),
        "secrets[0]",
        "not both",
    ),
    (
        "pachyderm bad env",
        lambda: _op(secrets=[{"name": "s", "env_var": "1A", "key": "k"}]),
        "secrets[0].env_name",
        "not a valid",
    ),
    (
        "pachyderm bad mount",
        lambda: _op(secrets=[{"name": "s", "mount_path": "rel"}]),
        "secrets[0].mount_path",
        "absolute",
    ),
]


@pytest.mark.parametrize(
    ("build", "field", "expected"), [c[1:] for c in OPERATOR_CASES], ids=[c[0] for c in OPERATOR_CASES]
)
def test_invalid_operator_input_is_rejected_with_clear_error(build: Any, field: str, expected: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        build()
    assert info.value.field == field
    assert expected in str(info.value)
    assert CANARY not in str(info.value)


def test_failed_chained_call_leaves_operator_unchanged() -> None:
    op = _op().set_env_from_secret("A", "s", "k")
    before = list(op.secret_requests)
    with pytest.raises(SecretConfigError):
        op.set_env_from_secret("A", "other", "k")
    assert op.secret_requests == before


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        (f"GOOD=1\nthis line has no separator {CANARY}\n", "secrets.txt line 2", "expected KEY=VALUE"),
        (f"GOOD=1\n9BAD={CANARY}\n", "secrets.txt line 2", "the key before '=' is not a valid name"),
        (f"A=1\n# comment\n\nA={CANARY}\n", "secrets.txt line 4", "repeats the key of line 1"),
        # A line that is not KEY=VALUE but holds '=' further on: its start is a value, never echoed.
        (f"DB_URL: postgresql://app:{CANARY}@db/x?sslmode=require\n", "secrets.txt line 1", "not a valid name"),
        (f"API_TOKEN {CANARY}=\n", "secrets.txt line 1", "not a valid name"),
    ],
)
def test_malformed_secrets_file_names_line_not_content(text: str, field: str, problem: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        parse_secrets_text(text, "secrets.txt")
    assert info.value.field == field
    assert problem in str(info.value)
    assert CANARY not in str(info.value)
