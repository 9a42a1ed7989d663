"""Where ``airflow-secrets set`` reads values from, kubectl's way.

``--from-literal KEY=VALUE`` (the value is in the shell's history and in ``ps``: fine for
tests, not for real secrets), ``--from-file [KEY=]PATH`` (the file's content; the key defaults
to the file name), ``--from-env-file PATH`` (``KEY=VALUE`` lines) and ``-`` (``KEY=VALUE``
lines on stdin). Only the last three keep values out of argv. Errors name the flag, the key or
the line number, never a value (and never the text of a malformed literal: it may be one).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from airflow_secrets_provider.cli.errors import UsageError
from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.key_value import parse_key_value_lines
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.core.text_files import read_secrets_file
from airflow_secrets_provider.core.validation import check_secret_key, is_secret_key


def _add(values: dict[str, str], key: str, value: str, source: str) -> None:
    if key in values:
        raise UsageError(source, f"key {key!r} is given more than once")
    values[key] = value


def _literal(spec: str, index: int) -> tuple[str, str]:
    field = f"--from-literal[{index}]"
    key, sep, value = spec.partition("=")
    if not sep or not key:
        raise UsageError(field, "expected KEY=VALUE")
    if not is_secret_key(key):
        raise UsageError(field, "the text before '=' is not a valid Secret key (letters, digits, '-', '_', '.')")
    return key, value


@drops_original_error
def _read_text(path: Path, field: str) -> str:
    """A regular file of at most 2 MiB as text (a FIFO or ``/dev/zero`` is refused, not read)."""
    shown_path = shown(str(path), "file path")
    try:
        return read_secrets_file(str(path), field, provider=None).text
    except FileNotFoundError:
        raise SecretConfigError(field, f"file {shown_path} not found") from None
    except PermissionError:
        raise SecretConfigError(field, f"permission denied reading {shown_path}") from None


def _file(spec: str, index: int) -> tuple[str, str]:
    field = f"--from-file[{index}]"
    key, sep, path = spec.partition("=")
    if not sep:
        key, path = Path(spec).name, spec
    if not path:
        raise UsageError(field, "expected [KEY=]PATH")
    if not is_secret_key(key):
        raise UsageError(field, "the key (before '=' or the file name) is not a valid Secret key")
    return key, _read_text(Path(path), field)


def read_values(
    literals: list[str] | None,
    files: list[str] | None,
    env_files: list[str] | None,
    use_stdin: bool,
    stdin: TextIO | None = None,
) -> dict[str, str]:
    """Every KEY -> value from the flags, in flag order; a key may come from one place only."""
    values: dict[str, str] = {}
    for index, spec in enumerate(literals or []):
        key, value = _literal(spec, index)
        _add(values, key, value, f"--from-literal[{index}]")
    for index, spec in enumerate(files or []):
        key, value = _file(spec, index)
        _add(values, key, value, f"--from-file[{index}]")
    for index, path in enumerate(env_files or []):
        field = f"--from-env-file[{index}]"
        parsed = parse_key_value_lines(
            _read_text(Path(path), field), path, provider="kubernetes", check_key=check_secret_key
        )
        for key, value in parsed.items():
            _add(values, key, value, field)
    if use_stdin:
        text = (stdin or sys.stdin).read()
        for key, value in parse_key_value_lines(
            text, "stdin", provider="kubernetes", check_key=check_secret_key
        ).items():
            _add(values, key, value, "stdin")
    if not values:
        raise UsageError(
            "values", "give --from-literal, --from-file, --from-env-file or '-' (KEY=VALUE lines on stdin)"
        )
    return values
